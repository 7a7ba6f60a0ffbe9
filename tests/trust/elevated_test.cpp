// A user-supplied driver search path (CLOUDHOST_DRIVER_PATH) is ignored in a
// setuid process: the CLI's driver_path_from_environment() runs in a probe
// that is made setuid for real, so the kernel sets AT_SECURE as it would
// for an installed setuid cloudhost.
#include "subprocess.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace cloudhost::test;
namespace fs = std::filesystem;

namespace {

constexpr uid_t nobody = 65534;
const std::string hostile_path = "/tmp/cloudhost-evil-a::/tmp/cloudhost-evil-b";

bool no_new_privs() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("NoNewPrivs:", 0) == 0)
            return line.find('1') != std::string::npos;
    return false;
}

bool mounted_nosuid(const fs::path &dir) {
    struct statvfs info {};
    return statvfs(dir.c_str(), &info) != 0 || (info.f_flag & ST_NOSUID) != 0;
}

// A copy of the probe in `dir`, owned by `owner` and set-user-ID.
fs::path setuid_copy(const fs::path &dir, const std::string &name, uid_t owner) {
    const fs::path copy = dir / name;
    fs::copy_file(ELEVATED_PROBE, copy, fs::copy_options::overwrite_existing);
    // chown clears the set-user-ID bit, so it comes first.
    REQUIRE(chown(copy.c_str(), owner, owner) == 0);
    REQUIRE(chmod(copy.c_str(), 04755) == 0);
    return copy;
}

ProcessResult run_probe(const std::vector<std::string> &argv) {
    return run_process(argv, {}, {{"CLOUDHOST_DRIVER_PATH", hostile_path}});
}

} // namespace

TEST_CASE("CLOUDHOST_DRIVER_PATH is read in an ordinary process") {
    const auto r = run_probe({ELEVATED_PROBE});
    REQUIRE(r.status == 0);
    CHECK(r.out == "at_secure=0\ndir=/tmp/cloudhost-evil-a\ndir=/tmp/cloudhost-evil-b\n");
    CHECK(run_process({ELEVATED_PROBE}, {}, {{"CLOUDHOST_DRIVER_PATH", ""}}).out ==
          "at_secure=0\ndriver_path=unset\n");
}

TEST_CASE("CLOUDHOST_DRIVER_PATH is ignored in a setuid process") {
    if (geteuid() != 0) {
        MESSAGE("skipped: making a setuid binary owned by another user needs root");
        return;
    }
    if (no_new_privs()) {
        MESSAGE("skipped: this process runs with no_new_privs, so setuid bits are ignored");
        return;
    }
    TempDir dir("cloudhost-elevated");
    if (mounted_nosuid(dir.path())) {
        MESSAGE("skipped: " << dir.path() << " is on a nosuid mount");
        return;
    }

    SUBCASE("root runs a program set-user-ID to nobody") {
        const auto probe = setuid_copy(dir.path(), "probe-nobody", nobody);
        const auto r = run_probe({probe.string()});
        INFO(r.err);
        REQUIRE(r.status == 0);
        CHECK(r.out == "at_secure=1\ndriver_path=unset\n");
    }
    SUBCASE("nobody runs a program set-user-ID to root") {
        const fs::path setpriv = "/usr/bin/setpriv";
        if (!fs::exists(setpriv)) {
            MESSAGE("skipped: no " << setpriv << " to drop to nobody");
            return;
        }
        fs::permissions(dir.path(), fs::perms(0755)); // nobody must reach the probe
        const auto probe = setuid_copy(dir.path(), "probe-root", 0);
        const auto r = run_probe(
            {setpriv.string(), "--reuid=65534", "--regid=65534", "--clear-groups", probe.string()});
        INFO(r.err);
        REQUIRE(r.status == 0);
        CHECK(r.out == "at_secure=1\ndriver_path=unset\n");
    }
}
