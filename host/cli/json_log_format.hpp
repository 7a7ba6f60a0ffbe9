// --log-format json: one JSON object per log line, with the message escaped.
#pragma once

#include <memory>

namespace spdlog {
class formatter;
}

namespace cloudhost::cli {

// {"time","level","msg"} per line.
std::unique_ptr<spdlog::formatter> make_json_log_formatter();
// --log-format text: the message with control characters escaped.
std::unique_ptr<spdlog::formatter> make_text_log_formatter();

} // namespace cloudhost::cli
