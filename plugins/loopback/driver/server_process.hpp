// Starting and stopping the cloudhost-loopback-server process of an
// instance. The server is not a child of the host: it runs in a session of
// its own (session id = its pid) that every command it runs stays in, so an
// instance outlives the process that created it and can be stopped, with
// everything it started, from any other process.
#pragma once

#include "unique_fd.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>

namespace cloudhost::loopback {

// Starts `server` for `instance_dir` (stdin /dev/null, output appended to
// the instance's server.log, no other fd inherited, default signal
// dispositions) and returns once the server holds server.lock; it boots on
// its own. Reaps the intermediate process. Throws sdk::Error quoting the log.
void launch_server(const std::filesystem::path &server, const std::filesystem::path &instance_dir);

// Whether a process holds the instance's server.lock: `absent` when there
// is no such (regular) file, `free` when nobody holds it.
enum class LockState { absent, free, held };
LockState server_lock_state(const std::filesystem::path &instance_dir);

// The instance's server, pinned by a pidfd so that no signal can reach
// another process that got its pid.
struct RunningServer {
    pid_t pid;
    UniqueFd pidfd;
};

// The server holding the instance's server.lock, identified by what it
// cannot fake and server.pid does not say: the kernel's record of who took
// the lock (/proc/locks), checked to be a process of ours that leads its own
// session and holds the lock file open, with the same start time before and
// after its pidfd was opened. nullopt when nobody holds the lock (nothing to
// stop). A server that is exiting holds the lock a moment after it stops
// showing it open: looks again for up to 2 s. Throws sdk::Error naming the
// lock when it stays held by a process that cannot be confirmed: never a
// guess.
std::optional<RunningServer> running_server(const std::filesystem::path &instance_dir);

// SIGTERM to the server through its pidfd (the server stops its connections
// and their commands), up to `grace` for it to exit, then SIGKILL to it and
// every process of ours left in its session. Bounded: returns after at most
// about grace + 2 s; false when something of it could not be stopped.
bool stop_server(const RunningServer &server, std::chrono::milliseconds grace);

// False once `pid` has exited (a zombie counts as exited).
bool process_alive(pid_t pid);

} // namespace cloudhost::loopback
