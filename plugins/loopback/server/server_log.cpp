#include "server_log.hpp"

#include <unistd.h>

#include <ctime>
#include <string>

namespace cloudhost::loopback_server {

void write_log_line(std::string_view message) noexcept {
    try {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        tm utc{};
        gmtime_r(&now.tv_sec, &utc);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
        // One write() per line: the listener and its connection processes
        // share the file (O_APPEND), so lines never interleave.
        const std::string line =
            fmt::format("{}.{:03}Z [{}] {}\n", stamp, now.tv_nsec / 1000000, getpid(), message);
        ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
    } catch (...) {
        // Logging must never take the server down.
    }
}

} // namespace cloudhost::loopback_server
