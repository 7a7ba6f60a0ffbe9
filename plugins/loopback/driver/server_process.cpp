#include "server_process.hpp"
#include "spawn_setup.hpp"

#include "state_files.hpp"

#include <cloudhost/driver_sdk.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace cloudhost::loopback {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto pid_file_wait = std::chrono::seconds(10);
constexpr auto kill_wait = std::chrono::seconds(2);
constexpr auto poll_step = std::chrono::milliseconds(5);

struct ProcStat {
    char state = '?';
    pid_t session = -1;
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
    ProcStat stat;
    int ppid = 0, pgrp = 0, session = 0;
    if (std::sscanf(text->c_str() + close + 1, " %c %d %d %d", &stat.state, &ppid, &pgrp,
                    &session) != 4)
        return std::nullopt;
    stat.session = session;
    return stat;
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
        if (stat && stat->session == session && stat->state != 'Z')
            members.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return members;
}

std::string log_tail(const fs::path &instance_dir) {
    try {
        const auto log = read_file_if_exists(instance_dir / state_file::log);
        if (!log || trim(*log).empty())
            return "no output";
        const std::string_view text = trim(*log);
        const auto line_start = text.rfind('\n');
        return std::string(line_start == std::string_view::npos ? text
                                                                : text.substr(line_start + 1));
    } catch (const std::exception &e) {
        return e.what();
    }
}

sdk::Error launch_error(const fs::path &instance_dir, const std::string &what) {
    return sdk::Error("loopback: cannot start the server of " + instance_dir.filename().string() +
                      ": " + what + " (server.log: " + log_tail(instance_dir) + ")");
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
    // pid file instead.
    const auto deadline = Clock::now() + pid_file_wait;
    while (!fs::exists(instance_dir / state_file::server_pid)) {
        if (Clock::now() > deadline)
            throw launch_error(instance_dir, "it wrote no server.pid");
        std::this_thread::sleep_for(poll_step);
    }
}

std::optional<pid_t> running_server(const fs::path &instance_dir) {
    std::optional<std::string> text;
    try {
        text = read_file_if_exists(instance_dir / state_file::server_pid);
    } catch (const std::exception &) {
        return std::nullopt;
    }
    if (!text)
        return std::nullopt;
    char *end = nullptr;
    const long pid = std::strtol(text->c_str(), &end, 10);
    if (pid <= 0 || !process_alive(static_cast<pid_t>(pid)))
        return std::nullopt;
    const auto stat = read_proc_stat(static_cast<pid_t>(pid));
    struct stat cwd {
    }, dir{};
    if (!stat || stat->session != pid ||
        ::stat(("/proc/" + std::to_string(pid) + "/cwd").c_str(), &cwd) != 0 ||
        ::stat(instance_dir.c_str(), &dir) != 0 || cwd.st_dev != dir.st_dev ||
        cwd.st_ino != dir.st_ino)
        return std::nullopt;
    return static_cast<pid_t>(pid);
}

void stop_server(pid_t server, std::chrono::milliseconds grace) {
    ::kill(-server, SIGTERM);
    auto deadline = Clock::now() + grace;
    while (process_alive(server) && Clock::now() < deadline)
        std::this_thread::sleep_for(poll_step);
    // Whatever is left of the session (a hung server, commands' background
    // processes) goes now.
    deadline = Clock::now() + kill_wait;
    for (;;) {
        const auto members = live_session_members(server);
        if (members.empty() || Clock::now() > deadline)
            return;
        for (pid_t pid : members)
            ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(poll_step);
    }
}

} // namespace cloudhost::loopback
