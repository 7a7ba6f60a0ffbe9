// The command's error lines on stderr. Log records reach stderr from other
// threads meanwhile (an isolated driver's crash warning comes from the
// host's reader thread as the failed call returns), so a line is written
// whole, in one stdio call: pieces written one by one interleaved with a
// log record mid-line.
#pragma once

#include <string_view>

namespace cloudhost::cli {

// Writes "cloudhost: <text>\n". `text` is already escaped where it holds
// untrusted parts (terminal_text).
void print_error_line(std::string_view text);

} // namespace cloudhost::cli
