// Starting and stopping the cloudhost-loopback-server process of an
// instance. The server is not a child of the host: it runs in a session of
// its own (session id = its pid) that every command it runs stays in, so an
// instance outlives the process that created it and can be stopped, with
// everything it started, from any other process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>

namespace cloudhost::loopback {

// Starts `server` for `instance_dir` (stdin /dev/null, output appended to
// the instance's server.log, no other fd inherited, default signal
// dispositions) and returns once its pid is in server.pid; it boots on its
// own. Reaps the intermediate process. Throws sdk::Error quoting the log.
void launch_server(const std::filesystem::path &server, const std::filesystem::path &instance_dir);

// The pid in the instance's server.pid if that process is alive and really
// is this instance's server (a session leader whose cwd is the instance
// directory, so a recycled pid is never signalled).
std::optional<pid_t> running_server(const std::filesystem::path &instance_dir);

// SIGTERM to the server (which stops its connections and their commands),
// up to `grace` for it to exit, then SIGKILL to every process left in its
// session. Bounded: returns after at most about grace + 2 s.
void stop_server(pid_t server, std::chrono::milliseconds grace);

// False once `pid` has exited (a zombie counts as exited).
bool process_alive(pid_t pid);

} // namespace cloudhost::loopback
