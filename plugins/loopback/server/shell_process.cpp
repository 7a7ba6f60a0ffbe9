#include "shell_process.hpp"
#include "spawn_setup.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace cloudhost::loopback_server {
namespace {

using loopback::SpawnSetup;

constexpr const char *default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

Environment login_environment() {
    Environment env;
    const char *path = std::getenv("PATH");
    env.push_back(std::string("PATH=") + (path && *path ? path : default_path));
    if (const passwd *user = getpwuid(geteuid())) {
        env.push_back(std::string("HOME=") + user->pw_dir);
        env.push_back(std::string("USER=") + user->pw_name);
        env.push_back(std::string("LOGNAME=") + user->pw_name);
        env.push_back(std::string("SHELL=") + user->pw_shell);
    }
    for (const char *name : {"LANG", "LC_ALL", "TZ"})
        if (const char *value = std::getenv(name))
            env.push_back(std::string(name) + "=" + value);
    return env;
}

// Later entries override earlier ones with the same name.
Environment merged(Environment base, const Environment &extra) {
    for (const auto &entry : extra) {
        const auto name = entry.substr(0, entry.find('=') + 1);
        std::erase_if(base, [&](const std::string &e) { return e.starts_with(name); });
        base.push_back(entry);
    }
    return base;
}

struct Pipe {
    int read_end = -1;
    int write_end = -1;
};

Pipe make_pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    return {fds[0], fds[1]};
}

void close_fd(int &fd) {
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

void check(int rc, const char *what) {
    if (rc != 0)
        throw std::system_error(rc, std::generic_category(), what);
}

} // namespace

ShellProcess start_shell(const std::string &command, const Environment &extra, ShellIo io) {
    SpawnSetup setup;
    std::array<Pipe, 3> pipes;
    auto close_all = [&] {
        for (auto &p : pipes) {
            close_fd(p.read_end);
            close_fd(p.write_end);
        }
    };
    try {
        if (io == ShellIo::pipes) {
            for (auto &p : pipes)
                p = make_pipe();
            check(posix_spawn_file_actions_adddup2(&setup.actions, pipes[0].read_end, 0), "dup2");
            check(posix_spawn_file_actions_adddup2(&setup.actions, pipes[1].write_end, 1), "dup2");
            check(posix_spawn_file_actions_adddup2(&setup.actions, pipes[2].write_end, 2), "dup2");
        } else {
            check(posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0),
                  "open /dev/null");
        }
        check(posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3), "closefrom");

        // The server blocks and ignores signals it handles itself; a command
        // starts with the defaults, as under sshd.
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        for (int sig : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT})
            sigaddset(&defaults, sig);
        check(posix_spawnattr_setsigmask(&setup.attributes, &none), "sigmask");
        check(posix_spawnattr_setsigdefault(&setup.attributes, &defaults), "sigdefault");
        check(posix_spawnattr_setpgroup(&setup.attributes, 0), "setpgroup");
        check(posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK |
                                                              POSIX_SPAWN_SETSIGDEF |
                                                              POSIX_SPAWN_SETPGROUP),
              "spawn flags");

        const Environment env = merged(login_environment(), extra);
        std::vector<char *> envp;
        for (const auto &entry : env)
            envp.push_back(const_cast<char *>(entry.c_str()));
        envp.push_back(nullptr);
        char sh[] = "sh", dash_c[] = "-c";
        char *argv[] = {sh, dash_c, const_cast<char *>(command.c_str()), nullptr};

        ShellProcess process;
        check(posix_spawn(&process.pid, "/bin/sh", &setup.actions, &setup.attributes, argv,
                          envp.data()),
              "cannot start /bin/sh");
        if (io == ShellIo::pipes) {
            close_fd(pipes[0].read_end);
            close_fd(pipes[1].write_end);
            close_fd(pipes[2].write_end);
            process.stdin_fd = std::exchange(pipes[0].write_end, -1);
            process.stdout_fd = std::exchange(pipes[1].read_end, -1);
            process.stderr_fd = std::exchange(pipes[2].read_end, -1);
            for (int fd : {process.stdin_fd, process.stdout_fd, process.stderr_fd})
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
        return process;
    } catch (...) {
        close_all();
        throw;
    }
}

int exit_code_of(int wait_status) {
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return 255;
}

} // namespace cloudhost::loopback_server
