// Driver helper processes (cloudhost-driver-host) this test process started:
// shared by the isolation and metrics tests.
#pragma once

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace test_support {

// Children of this process that are driver helpers (comm is truncated to 15).
inline std::vector<pid_t> helper_children() {
    std::vector<pid_t> out;
    DIR *proc = ::opendir("/proc");
    if (!proc)
        return out;
    while (auto *e = ::readdir(proc)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0)
            continue;
        std::ifstream stat(std::filesystem::path("/proc") / e->d_name / "stat");
        std::string line;
        if (!std::getline(stat, line))
            continue;
        const auto open = line.find('('), close = line.rfind(')');
        if (open == std::string::npos || close == std::string::npos)
            continue;
        const auto comm = line.substr(open + 1, close - open - 1);
        int ppid = 0;
        char state = 0;
        std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid);
        if (ppid == ::getpid() && comm.rfind("cloudhost-drive", 0) == 0)
            out.push_back(pid);
    }
    ::closedir(proc);
    return out;
}

} // namespace test_support
