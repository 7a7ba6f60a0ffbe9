#include "listener.hpp"

#include "instance_lock.hpp"

#include "connection.hpp"
#include "server_log.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <set>
#include <system_error>
#include <thread>

namespace cloudhost::loopback_server {
namespace {

// How often the accept loop checks that the instance directory still exists.
constexpr int directory_check_interval_ms = 2000;
// How long connection processes get to stop their commands on shutdown.
constexpr auto connection_stop_grace = std::chrono::seconds(2);

// A removed directory that is still our cwd has no links left.
bool instance_directory_removed() {
    struct stat st {};
    return ::stat(".", &st) != 0 || st.st_nlink == 0;
}

void reap(std::set<pid_t> &connections) {
    for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        connections.erase(pid);
        // Stop signals are ours; anything else is a bug worth seeing.
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGKILL)
            log_line("connection process {} died of signal {}", pid, WTERMSIG(status));
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            log_line("connection process {} exited with status {}", pid, WEXITSTATUS(status));
    }
}

void stop_connections(std::set<pid_t> &connections) {
    for (pid_t pid : connections)
        ::kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + connection_stop_grace;
    while (!connections.empty() && std::chrono::steady_clock::now() < deadline) {
        reap(connections);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (pid_t pid : connections) {
        ::kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
    connections.clear();
}

void serve_in_child(int listen_fd, int signal_fd, int client_fd, ssh_bind bind,
                    ssh_key authorized_key) {
    ::close(listen_fd);
    ::close(signal_fd);
    close_instance_lock_in_child();
    serve_connection(bind, client_fd, authorized_key);
    ssh_bind_free(bind);
    ssh_key_free(authorized_key);
    _exit(0);
}

} // namespace

ListeningSocket listen_on_loopback() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
        ::listen(fd, SOMAXCONN) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::system_error(error, std::generic_category(), "listen on 127.0.0.1");
    }
    return {fd, ntohs(address.sin_port)};
}

void accept_connections(int listen_fd, int signal_fd, ssh_bind bind, ssh_key authorized_key) {
    std::set<pid_t> connections;
    for (;;) {
        pollfd fds[2] = {{listen_fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
        const int ready = ::poll(fds, 2, directory_check_interval_ms);
        if (ready < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo info{};
            bool stop = false;
            while (::read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
                if (info.ssi_signo == SIGCHLD)
                    reap(connections);
                else
                    stop = true;
            }
            if (stop) {
                log_line("stopping on signal");
                break;
            }
        }
        if (fds[0].revents & POLLIN) {
            const int client_fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (client_fd < 0)
                continue; // ECONNABORTED, EMFILE, ...: try the next one
            // Without it Nagle and delayed ACKs add ~40 ms to every round trip.
            const int one = 1;
            ::setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            const pid_t pid = ::fork();
            if (pid == 0)
                serve_in_child(listen_fd, signal_fd, client_fd, bind, authorized_key);
            if (pid < 0)
                log_line("cannot fork for a connection: {}", std::strerror(errno));
            else
                connections.insert(pid);
            ::close(client_fd);
        }
        if (ready == 0 && instance_directory_removed()) {
            log_line("instance directory removed: stopping");
            break;
        }
    }
    stop_connections(connections);
}

} // namespace cloudhost::loopback_server
