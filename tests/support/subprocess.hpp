// Runs a program with arguments, optional stdin and extra environment, and
// collects its stdout, stderr and exit status. For tests of the CLI.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace cloudhost::test {

struct ProcessResult {
    int status = -1; // exit status, or 128 + signal
    std::string out;
    std::string err;
};

ProcessResult run_process(const std::vector<std::string> &argv, const std::string &stdin_data = {},
                          const std::map<std::string, std::string> &env = {});

} // namespace cloudhost::test
