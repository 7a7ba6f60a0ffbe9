// One cloudhost-driver-host process: spawned with posix_spawn in its own
// process group, the child end of a socketpair as fd 3, stdin /dev/null and
// stdout sent to stderr (a driver's printf must not corrupt the CLI's
// output), SSH_AUTH_SOCK removed from its environment. Killing it kills its
// whole group, so nothing a driver forked survives it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

namespace cloudhost::isolation {

struct HelperLimits {
    std::uint64_t address_space = 0; // RLIMIT_AS bytes; 0: unlimited
    std::uint64_t open_files = 1024; // RLIMIT_NOFILE
    std::string user;                // setuid/setgid to this user; "": stay
    std::uint64_t spin_us = 0;       // helper's reader spins this long before blocking
};

// The helper executable: $CLOUDHOST_DRIVER_HOST, else the build tree's when
// libcloudhost runs from the build tree, else <libexecdir>/cloudhost/.
std::filesystem::path default_driver_host_path();

class HelperProcess {
  public:
    // `library` (the private copy) is handed over open as fd 4: the helper
    // loads the bytes the host verified, even after setuid to a user that
    // could not open the host's 0500 copy. Throws DriverCrashedError naming
    // the path and errno if it cannot start.
    HelperProcess(const std::filesystem::path &executable, const std::filesystem::path &library,
                  const HelperLimits &limits);
    ~HelperProcess(); // kills and reaps
    HelperProcess(const HelperProcess &) = delete;
    HelperProcess &operator=(const HelperProcess &) = delete;

    int fd() const noexcept { return fd_; }
    pid_t pid() const noexcept { return pid_; }
    // SIGKILL to the helper's process group (no-op once reaped).
    void kill() noexcept;
    // Waits for the helper to end (at most `grace`, then kills it) and
    // describes how it ended: "exited with status 3", "killed by signal 11
    // (Segmentation fault)".
    std::string reap(std::chrono::milliseconds grace) noexcept;

  private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::mutex mutex_;
    bool reaped_ = false;
    std::string status_;
};

} // namespace cloudhost::isolation
