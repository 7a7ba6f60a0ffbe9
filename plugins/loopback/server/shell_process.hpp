// Commands of an instance: `/bin/sh -c CMD` as the server's user, in the
// instance directory (the server's cwd), in a process group of their own so
// that a command and everything it started can be killed together.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace cloudhost::loopback_server {

// "NAME=value" entries.
using Environment = std::vector<std::string>;

struct ShellProcess {
    pid_t pid = -1; // also the process group id
    // The server's ends of the pipes (non-blocking, close-on-exec), or -1.
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
};

enum class ShellIo {
    pipes,      // stdin, stdout and stderr are pipes to the server
    server_log, // stdin is /dev/null, output goes to the server's stderr
};

// Starts `/bin/sh -c command` with a login-like environment (HOME, USER,
// LOGNAME, SHELL, PATH) plus `extra` (which wins). Throws std::system_error.
ShellProcess start_shell(const std::string &command, const Environment &extra, ShellIo io);

// The exit status a shell would report: the exit code, or 128 + signal.
int exit_code_of(int wait_status);

} // namespace cloudhost::loopback_server
