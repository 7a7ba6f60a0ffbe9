// One client connection, served in its own process (forked by the listener,
// like sshd): key exchange, public key authentication against the instance's
// authorized key, then any number of "exec" channels, one after another or at
// the same time.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

namespace cloudhost::loopback_server {

// Runs the connection on `client_fd` to its end: the client disconnects,
// or SIGTERM/SIGINT/SIGHUP arrives (those signals and SIGCHLD must be
// blocked by the caller). Kills the commands still running when it ends.
void serve_connection(ssh_bind bind, int client_fd, ssh_key authorized_key);

} // namespace cloudhost::loopback_server
