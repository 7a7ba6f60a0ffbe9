#include "server_process.hpp"
#include "spawn_setup.hpp"

#include "state_files.hpp"

#include <cloudhost/driver_sdk.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

extern char **environ;

namespace cloudhost::loopback {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto claim_wait = std::chrono::seconds(10);
constexpr auto kill_wait = std::chrono::seconds(2);
constexpr auto poll_step = std::chrono::milliseconds(5);

struct ProcStat {
    char state = '?';
    pid_t session = -1;
    unsigned long long start_time = 0; // clock ticks after boot: tells a reused pid apart
};

// /proc/PID/stat: "pid (comm) state ppid pgrp session ..."; comm may hold
// spaces and parentheses, so parse from the last ')'.
std::optional<ProcStat> read_proc_stat(pid_t pid) {
    std::optional<std::string> text;
    try {
        text = read_file_if_exists("/proc/" + std::to_string(pid) + "/stat");
    } catch (const std::exception &) {
        return std::nullopt;
    }
    if (!text)
        return std::nullopt;
    const auto close = text->rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    // Fields 3.. after "(comm)": state ppid pgrp session tty_nr tpgid flags
    // minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
    // num_threads itrealvalue starttime.
    ProcStat stat;
    int ppid = 0, pgrp = 0, session = 0;
    if (std::sscanf(text->c_str() + close + 1,
                    " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                    &stat.state, &ppid, &pgrp, &session, &stat.start_time) != 5)
        return std::nullopt;
    stat.session = session;
    return stat;
}

bool owned_by_us(pid_t pid) {
    struct stat st {};
    return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == ::geteuid();
}

std::vector<pid_t> live_session_members(pid_t session) {
    std::vector<pid_t> members;
    DIR *proc = ::opendir("/proc");
    if (!proc)
        return members;
    while (const dirent *entry = ::readdir(proc)) {
        char *end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        const auto stat = read_proc_stat(static_cast<pid_t>(pid));
        if (stat && stat->session == session && stat->state != 'Z' &&
            owned_by_us(static_cast<pid_t>(pid)))
            members.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return members;
}

// The last line of the log; only its end is read (the log may be large).
std::string log_tail(const fs::path &instance_dir) {
    const fs::path path = instance_dir / state_file::log;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return "no output";
    std::string end(1024, '\0');
    const ssize_t n =
        ::pread(fd.get(), end.data(), end.size(), st.st_size > 1024 ? st.st_size - 1024 : 0);
    end.resize(n > 0 ? static_cast<size_t>(n) : 0);
    const std::string_view text = trim(end);
    if (text.empty())
        return "no output";
    const auto line_start = text.rfind('\n');
    return std::string(line_start == std::string_view::npos ? text : text.substr(line_start + 1));
}

sdk::Error launch_error(const fs::path &instance_dir, const std::string &what) {
    return sdk::Error("loopback: cannot start the server of " + instance_dir.filename().string() +
                      ": " + what + " (server.log: " + log_tail(instance_dir) + ")");
}

UniqueFd open_server_lock(const fs::path &instance_dir) {
    const fs::path path = instance_dir / state_file::server_lock;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    struct stat st {};
    if (fd.valid() && (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)))
        return UniqueFd();
    return fd;
}

// The pids that took an flock() on inode `inode`, from the kernel's
// /proc/locks: "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"
// (waiters are marked "->" and skipped). The device is left to has_open,
// which compares it exactly.
std::vector<pid_t> flock_holders(ino_t inode) {
    std::vector<pid_t> pids;
    std::optional<std::string> text;
    try {
        text = read_file_if_exists("/proc/locks", 16 << 20);
    } catch (const std::exception &) {
        return pids;
    }
    std::istringstream lines(text.value_or(""));
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string number, kind, mode, access, device;
        long pid = 0;
        if (!(fields >> number >> kind >> mode >> access >> pid >> device) || kind != "FLOCK")
            continue;
        const auto colon = device.rfind(':');
        if (pid > 0 && colon != std::string::npos &&
            std::strtoull(device.c_str() + colon + 1, nullptr, 10) == inode)
            pids.push_back(static_cast<pid_t>(pid));
    }
    return pids;
}

// Whether process `pid` has the file `file` open (its /proc/PID/fd links,
// stat()ed: the kernel says which file each descriptor is).
bool has_open(pid_t pid, const struct stat &file) {
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR *fds = ::opendir(fd_dir.c_str());
    if (!fds)
        return false;
    bool found = false;
    constexpr int max_descriptors = 1 << 16; // bounded, whatever the process holds
    int seen = 0;
    while (const dirent *entry = ::readdir(fds)) {
        if (entry->d_name[0] == '.')
            continue;
        if (++seen > max_descriptors)
            break;
        struct stat st {};
        if (::stat((fd_dir + "/" + entry->d_name).c_str(), &st) == 0 && st.st_dev == file.st_dev &&
            st.st_ino == file.st_ino) {
            found = true;
            break;
        }
    }
    ::closedir(fds);
    return found;
}

} // namespace

bool process_alive(pid_t pid) {
    if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH))
        return false;
    const auto stat = read_proc_stat(pid);
    return stat && stat->state != 'Z';
}

void launch_server(const fs::path &server, const fs::path &instance_dir) {
    SpawnSetup setup;
    const std::string log_path = instance_dir / state_file::log;
    // posix_spawn is safe in a multi-threaded host (no fork of our heap), and
    // closefrom keeps the host's descriptors (sockets, our .lock) out of the
    // long-lived server.
    int rc = posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&setup.actions, 1, log_path.c_str(),
                                              O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&setup.actions, 1, 2);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
    // The host may block or ignore signals (SIGPIPE, SIGCHLD, ...); the
    // server starts from the defaults.
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
        sigaddset(&defaults, sig);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&setup.attributes, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&setup.attributes, &defaults);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&setup.attributes,
                                      POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc != 0)
        throw launch_error(instance_dir, std::strerror(rc));

    const std::string server_path = server.string();
    const std::string directory = instance_dir.string();
    char daemonize[] = "--daemonize";
    char *argv[] = {const_cast<char *>(server_path.c_str()), daemonize,
                    const_cast<char *>(directory.c_str()), nullptr};
    pid_t intermediate = -1;
    rc = posix_spawn(&intermediate, server_path.c_str(), &setup.actions, &setup.attributes, argv,
                     environ);
    if (rc != 0)
        throw launch_error(instance_dir,
                           "cannot execute " + server_path + ": " + std::strerror(rc));

    // The intermediate writes server.pid and exits at once (the server
    // itself is then an orphan of its own session, not our child).
    int status = 0;
    pid_t waited;
    while ((waited = ::waitpid(intermediate, &status, 0)) < 0 && errno == EINTR) {
    }
    if (waited == intermediate && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        throw launch_error(instance_dir,
                           "it exited with status " + std::to_string(WIFEXITED(status)
                                                                         ? WEXITSTATUS(status)
                                                                         : 128 + WTERMSIG(status)));
    // If someone else reaped it (a host with SIGCHLD ignored), wait for the
    // server to claim the instance instead.
    const auto deadline = Clock::now() + claim_wait;
    while (server_lock_state(instance_dir) != LockState::held) {
        if (Clock::now() > deadline)
            throw launch_error(instance_dir, "it did not lock server.lock");
        std::this_thread::sleep_for(poll_step);
    }
}

LockState server_lock_state(const fs::path &instance_dir) {
    const UniqueFd lock = open_server_lock(instance_dir);
    if (!lock.valid())
        return LockState::absent;
    if (::flock(lock.get(), LOCK_SH | LOCK_NB) == 0)
        return LockState::free; // closing the descriptor lets go at once
    return errno == EWOULDBLOCK ? LockState::held : LockState::absent;
}

// One look at who holds server.lock: the server, nobody (nullopt), or
// nobody we can identify (false).
static std::variant<std::optional<RunningServer>, bool>
identify_server(const fs::path &instance_dir) {
    const UniqueFd lock = open_server_lock(instance_dir);
    struct stat lock_st {};
    if (!lock.valid() || ::fstat(lock.get(), &lock_st) != 0)
        return std::optional<RunningServer>();
    if (::flock(lock.get(), LOCK_SH | LOCK_NB) == 0)
        return std::optional<RunningServer>(); // nobody holds it: no server, whatever server.pid
                                               // says
    for (pid_t pid : flock_holders(lock_st.st_ino)) {
        // The pidfd pins the process: if the pid was reused after we read
        // /proc/locks, the start time or the descriptor check below fails,
        // and a signal through the pidfd never reaches another process.
        const auto before = read_proc_stat(pid);
        UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        if (!before || !pidfd.valid() || before->session != pid || !owned_by_us(pid) ||
            !has_open(pid, lock_st))
            continue;
        const auto after = read_proc_stat(pid);
        if (!after || after->start_time != before->start_time)
            continue;
        return std::optional<RunningServer>(RunningServer{pid, std::move(pidfd)});
    }
    return false;
}

std::optional<RunningServer> running_server(const fs::path &instance_dir) {
    // A server that is exiting (another thread destroying the instance)
    // still holds the lock while its descriptors close, but no longer shows
    // it open: look again until the lock is let go or a holder is known.
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    for (;;) {
        auto seen = identify_server(instance_dir);
        if (auto *server = std::get_if<std::optional<RunningServer>>(&seen))
            return std::move(*server);
        if (Clock::now() > deadline)
            break;
        std::this_thread::sleep_for(poll_step);
    }
    throw sdk::Error("loopback: " + (instance_dir / state_file::server_lock).string() +
                     " is locked, but by no process of ours that leads its session and holds "
                     "it open: cannot identify the server of " +
                     instance_dir.filename().string());
}

bool stop_server(const RunningServer &server, std::chrono::milliseconds grace) {
    if (::syscall(SYS_pidfd_send_signal, server.pidfd.get(), SIGTERM, nullptr, 0) != 0 &&
        errno != ESRCH)
        return false;
    pollfd exited{server.pidfd.get(), POLLIN, 0};
    const auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        const int ready = ::poll(&exited, 1, static_cast<int>(left.count()) + 1);
        if (ready > 0 || (ready < 0 && errno != EINTR))
            break;
    }
    // A hung server goes now, and whatever is left of its session
    // (commands' background processes). The session id cannot be reused
    // while any member lives.
    ::syscall(SYS_pidfd_send_signal, server.pidfd.get(), SIGKILL, nullptr, 0);
    const auto kill_deadline = Clock::now() + kill_wait;
    for (;;) {
        const auto members = live_session_members(server.pid);
        if (members.empty())
            return true;
        if (Clock::now() > kill_deadline)
            return false;
        for (pid_t pid : members)
            ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(poll_step);
    }
}

} // namespace cloudhost::loopback
