// The server's log: timestamped lines on stderr, which the driver points at
// the instance's server.log (the InitCommand's output lands there too).
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace cloudhost::loopback_server {

void write_log_line(std::string_view message) noexcept;

template <typename... Args> void log_line(fmt::format_string<Args...> format, Args &&...args) {
    write_log_line(fmt::format(format, std::forward<Args>(args)...));
}

} // namespace cloudhost::loopback_server
