// The server's claim on its instance: an exclusive flock() on ./server.lock
// held for the server's whole life. The driver identifies the server by it
// (see plugins/loopback/driver/server_process.hpp), never by server.pid
// alone: the kernel releases the lock when the server dies, and reports
// which process took it.
#pragma once

namespace cloudhost::loopback_server {

// Takes the lock in the calling process (the server itself, after any fork,
// so that the kernel records its pid). Retries for a moment (the driver
// probes the lock briefly); throws std::runtime_error when another server
// holds it.
void take_instance_lock();

// In a forked connection process: lets go of the descriptor, so that the
// lock dies with the server even if a connection process lingers. The
// descriptor is close-on-exec, so commands never hold it.
void close_instance_lock_in_child() noexcept;

} // namespace cloudhost::loopback_server
