#include "error_line.hpp"

#include <cstdio>
#include <string>

namespace cloudhost::cli {

void print_error_line(std::string_view text) {
    std::string line = "cloudhost: ";
    line.append(text);
    line.push_back('\n');
    // One fwrite holds stderr's lock for the whole line; spdlog's stderr
    // sinks write through the same FILE.
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace cloudhost::cli
