// The instance's listening socket and accept loop.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstdint>

namespace cloudhost::loopback_server {

struct ListeningSocket {
    int fd = -1;
    uint16_t port = 0;
};

// Listens on 127.0.0.1 on a port the kernel picks (no race with other
// instances). Throws std::system_error.
ListeningSocket listen_on_loopback();

// Accepts connections until SIGTERM, SIGINT or SIGHUP arrives on
// `signal_fd`, or until the instance directory (the cwd) is removed. Each
// connection is served by a child process, like sshd; on the way out every
// child is stopped (and stops its commands).
void accept_connections(int listen_fd, int signal_fd, ssh_bind bind, ssh_key authorized_key);

} // namespace cloudhost::loopback_server
