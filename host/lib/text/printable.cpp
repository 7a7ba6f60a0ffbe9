#include "cloudhost/printable.hpp"

#include <cstdio>

namespace cloudhost {

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80)
        return 1;
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf; // range of the second byte
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0)
            low = 0xa0; // overlong
        if (lead == 0xed)
            high = 0x9f; // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0)
            low = 0x90; // overlong
        if (lead == 0xf4)
            high = 0x8f; // > U+10FFFF
    } else {
        return 0;
    }
    if (i + length > s.size() || byte(1) < low || byte(1) > high)
        return 0;
    for (std::size_t k = 2; k < length; ++k)
        if (byte(k) < 0x80 || byte(k) > 0xbf)
            return 0;
    return length;
}

namespace {

void append_hex(std::string &out, unsigned char c) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    out += hex;
}

} // namespace

std::string escape_text(std::string_view s, EscapeStyle style) {
    const std::string_view shown = s.substr(0, style.max_bytes);
    std::string out;
    out.reserve(shown.size());
    for (std::size_t i = 0; i < shown.size();) {
        const auto c = static_cast<unsigned char>(shown[i]);
        if (style.keep_line_breaks && (c == '\n' || c == '\t')) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        if (c < 0x20 || c == 0x7f || (style.escape_quotes && (c == '"' || c == '\\'))) {
            append_hex(out, c);
            ++i;
            continue;
        }
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        const std::size_t length = utf8_sequence_length(shown, i);
        const bool c1_control =
            length == 2 && c == 0xc2 && static_cast<unsigned char>(shown[i + 1]) <= 0x9f;
        if (length == 0 || c1_control || style.ascii_only) {
            // Each byte of it: a malformed sequence has no character to keep.
            const std::size_t bytes = length == 0 ? 1 : length;
            for (std::size_t k = 0; k < bytes; ++k)
                append_hex(out, static_cast<unsigned char>(shown[i + k]));
            i += bytes;
            continue;
        }
        out.append(shown.substr(i, length));
        i += length;
    }
    if (s.size() > shown.size())
        out += "...";
    return out;
}

std::string utf8_or_replacement(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t length = utf8_sequence_length(s, i);
        if (length == 0) {
            out += "\xef\xbf\xbd"; // U+FFFD REPLACEMENT CHARACTER
            ++i;
        } else {
            out.append(s.substr(i, length));
            i += length;
        }
    }
    return out;
}

} // namespace cloudhost
