// cloudhost-loopback-server: one loopback instance, a small SSH server on
// 127.0.0.1 built on libssh's server API.
//
//   cloudhost-loopback-server [--daemonize] INSTANCE_DIR
//
// Boot, like a VM: generate the host key, run the InitCommand, listen on an
// ephemeral port, publish "127.0.0.1:PORT" in ./address, then serve until
// SIGTERM. Every command runs as `/bin/sh -c CMD` in INSTANCE_DIR (not
// through the user's login shell, whose start-up files may be slow).
// Authentication: public key only, only ./authorized_key; the user name is
// not checked (commands always run as the user the server runs as). Stdin a
// command does not read yet is buffered in the server; stdout and stderr
// follow the client's window.
// The server holds an flock() on ./server.lock for its whole life and writes
// its pid to ./server.pid. --daemonize: fork, and exit once the child holds
// the lock and wrote server.pid, so the launcher finds the server running
// when it has reaped us.
#include "host_key.hpp"
#include "instance_lock.hpp"
#include "listener.hpp"
#include "server_log.hpp"
#include "shell_process.hpp"
#include "state_files.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using namespace cloudhost::loopback_server;
namespace files = cloudhost::loopback::state_file;
using cloudhost::loopback::write_file_atomically;

constexpr int usage_error = 2;

void write_pid_file(pid_t pid) {
    write_file_atomically(files::server_pid, std::to_string(pid) + "\n");
}

// The server proper: the lock first (so the kernel records this pid as its
// holder), then server.pid for people to read.
void claim_instance() {
    take_instance_lock();
    write_pid_file(::getpid());
}

// Becomes a detached session leader holding ./server.lock. With
// --daemonize the intermediate exits 0 only once the server has claimed
// the instance (one byte on a pipe), so the launcher can rely on the lock.
// The session id is what the driver uses to find every process of the
// instance.
void detach(bool daemonize) {
    if (!daemonize) {
        ::setsid(); // fails harmlessly when already a group leader
        claim_instance();
        return;
    }
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    const pid_t child = ::fork();
    if (child < 0)
        throw std::system_error(errno, std::generic_category(), "fork");
    if (child > 0) {
        ::close(ready[1]);
        char byte = 0;
        ssize_t n;
        while ((n = ::read(ready[0], &byte, 1)) < 0 && errno == EINTR) {
        }
        _exit(n == 1 ? 0 : 1); // the server logged why it did not start
    }
    ::close(ready[0]);
    ::setsid();
    claim_instance();
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1)
        throw std::system_error(errno, std::generic_category(), "write to the launcher");
    ::close(ready[1]);
}

// The signals the server handles, as a signalfd (they are blocked).
int make_signal_fd() {
    sigset_t signals;
    sigemptyset(&signals);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
        sigaddset(&signals, sig);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    const int fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "signalfd");
    return fd;
}

// Runs ./init_command, if any, to its end (its output goes to the log). A
// failing InitCommand is logged and the instance boots anyway, like a VM
// whose cloud-init failed. Returns false when a stop signal arrived first.
bool run_init_command(int signal_fd) {
    const auto command = cloudhost::loopback::read_file_if_exists(files::init_command);
    if (!command || cloudhost::loopback::trim(*command).empty())
        return true;
    log_line("running init command");
    const ShellProcess init = start_shell(*command, {}, ShellIo::server_log);
    for (;;) {
        pollfd fd{signal_fd, POLLIN, 0};
        if (::poll(&fd, 1, -1) < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
        signalfd_siginfo info{};
        bool stop = false;
        while (::read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
            stop = stop || info.ssi_signo != SIGCHLD;
        int status = 0;
        if (stop) {
            ::kill(-init.pid, SIGKILL);
            waitpid(init.pid, &status, 0);
            log_line("stopped during the init command");
            return false;
        }
        if (waitpid(init.pid, &status, WNOHANG) == init.pid) {
            const int code = exit_code_of(status);
            if (code == 0)
                log_line("init command succeeded");
            else
                log_line("init command failed with status {}; booting anyway", code);
            return true;
        }
    }
}

int serve(bool daemonize) {
    detach(daemonize);
    const int signal_fd = make_signal_fd();
    ssh_key authorized_key = load_authorized_key();
    ssh_key host_key = load_or_generate_host_key();
    if (!run_init_command(signal_fd))
        return 0;

    ssh_bind bind = ssh_bind_new();
    if (!bind || ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, host_key) != SSH_OK)
        throw std::runtime_error("cannot set up the SSH server");
    // The bind owns the host key from here on.
    const ListeningSocket listener = listen_on_loopback();
    write_file_atomically(files::address, "127.0.0.1:" + std::to_string(listener.port) + "\n",
                          0644);
    log_line("listening on 127.0.0.1:{}", listener.port);
    accept_connections(listener.fd, signal_fd, bind, authorized_key);
    ssh_bind_free(bind);
    ssh_key_free(authorized_key);
    log_line("stopped");
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    bool daemonize = false;
    bool bad_usage = false;
    const char *directory = nullptr;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--daemonize")
            daemonize = true;
        else if (!directory && !arg.starts_with("-"))
            directory = argv[i];
        else
            bad_usage = true;
    }
    if (bad_usage || !directory) {
        log_line("usage: cloudhost-loopback-server [--daemonize] INSTANCE_DIR");
        return usage_error;
    }
    if (::chdir(directory) != 0) {
        log_line("cannot enter {}: {}", directory, std::strerror(errno));
        return 1;
    }
    ::umask(077);
    ::signal(SIGPIPE, SIG_IGN); // a client or command going away is an error code, not death
    try {
        return serve(daemonize);
    } catch (const std::exception &e) {
        log_line("fatal: {}", e.what());
        return 1;
    }
}
