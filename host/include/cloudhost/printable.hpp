// Text from outside (drivers, files, users, the network) made safe to show.
// Every escape in cloudhost goes through escape_text(): error messages,
// tables, progress and log lines, so one rule decides what reaches a
// terminal. JSON output goes through utf8_or_replacement() and is written as
// ASCII (\uXXXX for the rest), so no C1 control reaches a terminal there.
#pragma once

#include "cloudhost/export.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace cloudhost {

struct CLOUDHOST_API EscapeStyle {
    // Also escape every non-ASCII byte (error messages quoting input).
    bool ascii_only = false;
    // Also escape '"' and '\\' (text shown between quotes).
    bool escape_quotes = false;
    // Show at most this many input bytes, then "...".
    std::size_t max_bytes = std::string_view::npos;
    // Keep '\n' and '\t' (a command's output shown as lines).
    bool keep_line_breaks = false;
};

// `s` with control characters (C0, DEL, and C1 as U+0080-U+009F) and bytes
// that are not valid UTF-8 written as \xNN, so that nothing in it can move
// the cursor, ring the bell, start an escape sequence or break a line.
// Valid UTF-8 text is kept as it is unless `style` says otherwise.
CLOUDHOST_API std::string escape_text(std::string_view s, EscapeStyle style = {});

// For one terminal line: escape_text(s) with the default style.
inline std::string terminal_text(std::string_view s) {
    return escape_text(s);
}

// `s` as valid UTF-8: each byte that is not part of a well-formed sequence
// is replaced by U+FFFD (strict JSON decoders refuse malformed UTF-8).
CLOUDHOST_API std::string utf8_or_replacement(std::string_view s);

// Length of the well-formed UTF-8 sequence starting at s[i] (1-4), or 0 if
// there is none (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
CLOUDHOST_API std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

} // namespace cloudhost
