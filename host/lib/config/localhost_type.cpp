// The embedded default's instance type and state directory.
#include "cloudhost/config.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace cloudhost {

InstanceType detect_localhost_instance_type() {
    InstanceType t;
    t.name = "localhost";
    t.provider_type = "localhost";
    t.vcpus = std::max(1u, std::thread::hardware_concurrency());
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    while (meminfo >> key >> kib) {
        if (key == "MemTotal:") {
            t.ram = kib * 1024;
            break;
        }
        std::string rest;
        std::getline(meminfo, rest);
    }
    const char *tmp = std::getenv("TMPDIR");
    struct statvfs fs {};
    if (statvfs(tmp && *tmp ? tmp : "/tmp", &fs) == 0)
        t.included_scratch = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    t.scratch = t.included_scratch;
    t.price = 1.0;
    return t;
}

std::filesystem::path user_state_dir() {
    std::filesystem::path dir;
    const char *xdg = std::getenv("XDG_STATE_HOME");
    const char *home = std::getenv("HOME");
    if (xdg && *xdg)
        dir = std::filesystem::path(xdg) / "cloudhost";
    else if (geteuid() == 0)
        dir = "/var/lib/cloudhost";
    else if (home && *home)
        dir = std::filesystem::path(home) / ".local/state/cloudhost";
    else
        dir = std::filesystem::temp_directory_path() / ("cloudhost-" + std::to_string(getuid()));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        throw ConfigError("cannot create state directory " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    return dir;
}

} // namespace cloudhost
