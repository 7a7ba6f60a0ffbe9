#include "helper_process.hpp"

#include "cloudhost/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <string_view>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace cloudhost::isolation {

std::filesystem::path default_driver_host_path() {
    if (const char *env = std::getenv("CLOUDHOST_DRIVER_HOST"); env && *env)
        return env;
    // Uninstalled: the file holding this code (libcloudhost.so, or the CLI
    // or a test linking the library statically) is inside meson's build
    // tree, so the helper built next to it is the one that matches.
    Dl_info info{};
    if (dladdr(reinterpret_cast<void *>(&default_driver_host_path), &info) && info.dli_fname) {
        std::error_code ec;
        const auto self = std::filesystem::canonical(info.dli_fname, ec);
        const auto root = std::filesystem::path(CLOUDHOST_BUILD_ROOT);
        if (!ec &&
            std::mismatch(root.begin(), root.end(), self.begin(), self.end()).first == root.end())
            return CLOUDHOST_BUILD_DRIVER_HOST;
    }
    return CLOUDHOST_INSTALLED_DRIVER_HOST;
}

namespace {

std::string describe_status(int status) {
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char *name = sigdescr_np(sig);
        return "killed by signal " + std::to_string(sig) + " (" + (name ? name : "unknown") + ")";
    }
    return "ended with wait status " + std::to_string(status);
}

} // namespace

HelperProcess::HelperProcess(const std::filesystem::path &executable,
                             const std::filesystem::path &library, const HelperLimits &limits) {
    const int opened = ::open(library.c_str(), O_RDONLY | O_CLOEXEC);
    const int library_fd = opened < 0 ? -1 : ::fcntl(opened, F_DUPFD_CLOEXEC, 10);
    if (opened >= 0)
        ::close(opened);
    if (library_fd < 0)
        throw DriverCrashedError("driver helper: " + library.string() + ": " +
                                 std::strerror(errno));
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        ::close(library_fd);
        throw DriverCrashedError(std::string("driver helper: socketpair: ") + std::strerror(errno));
    }
    // The child's end must not already be fd 3 (dup2 onto itself would keep
    // FD_CLOEXEC set).
    const int child_end = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
    ::close(pair[1]);
    if (child_end < 0) {
        ::close(pair[0]);
        ::close(library_fd);
        throw DriverCrashedError(std::string("driver helper: fcntl: ") + std::strerror(errno));
    }

    const std::string exe = executable.string();
    std::vector<std::string> args = {exe,
                                     "--fd=3",
                                     "--library-fd=4",
                                     "--parent=" + std::to_string(::getpid()),
                                     "--max-address-space=" + std::to_string(limits.address_space),
                                     "--max-open-files=" + std::to_string(limits.open_files),
                                     "--spin-us=" + std::to_string(limits.spin_us)};
    if (!limits.user.empty())
        args.push_back("--user=" + limits.user);
    std::vector<char *> argv;
    argv.reserve(args.size() + 1);
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    // The ssh-agent would hand the driver the host's keys.
    std::vector<char *> envp;
    for (char **e = environ; e && *e; ++e)
        if (std::string_view(*e).substr(0, 14) != "SSH_AUTH_SOCK=")
            envp.push_back(*e);
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, child_end, 3);
    posix_spawn_file_actions_adddup2(&actions, library_fd, 4);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t defaults;
    sigfillset(&defaults);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);
    const int rc = ::posix_spawn(&pid_, exe.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(child_end);
    ::close(library_fd);
    if (rc != 0) {
        ::close(pair[0]);
        throw DriverCrashedError("driver helper " + exe + ": cannot start: " + std::strerror(rc));
    }
    fd_ = pair[0];
}

HelperProcess::~HelperProcess() {
    reap(std::chrono::milliseconds(0));
    if (fd_ >= 0)
        ::close(fd_);
}

void HelperProcess::kill() noexcept {
    std::lock_guard lock(mutex_);
    if (!reaped_ && pid_ > 0)
        ::kill(-pid_, SIGKILL);
}

std::string HelperProcess::reap(std::chrono::milliseconds grace) noexcept {
    std::lock_guard lock(mutex_);
    if (reaped_)
        return status_;
    int status = 0;
    const auto until = std::chrono::steady_clock::now() + grace;
    pid_t got = 0;
    while ((got = ::waitpid(pid_, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (got == 0) {
        ::kill(-pid_, SIGKILL);
        while ((got = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
        }
    } else {
        ::kill(-pid_, SIGKILL); // whatever the driver forked
    }
    reaped_ = true;
    try {
        status_ = got == pid_ ? describe_status(status) : "could not be waited for";
    } catch (...) {
    }
    return status_;
}

} // namespace cloudhost::isolation
