#include "ssh_connection.hpp"

#include <libssh/libssh.h>

#include <algorithm>
#include <array>
#include <memory>

namespace cloudhost::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Output is drained in chunks of this size; a stdin write never exceeds it
// nor the remote window, so writing never blocks on a peer that is itself
// blocked writing output we have not read yet.
constexpr uint32_t io_chunk = 64 * 1024;
// Longest sleep between progress checks while a command runs: stdout data,
// EOF and errors end it early; stderr-only output and timeouts wait for it.
constexpr milliseconds poll_slice{100};
// While stdin waits for the remote window to grow, check sooner.
constexpr milliseconds window_poll_slice{5};

struct ChannelCloser {
    void operator()(ssh_channel channel) const {
        if (ssh_channel_is_open(channel) != 0) {
            ssh_channel_close(channel);
        }
        ssh_channel_free(channel);
    }
};
using ChannelHandle = std::unique_ptr<ssh_channel_struct, ChannelCloser>;

template <typename T> void set_option(ssh_session session, ssh_options_e option, const T *value) {
    if (ssh_options_set(session, option, value) != SSH_OK) {
        throw SshError(std::string("cannot set SSH option: ") + ssh_get_error(session));
    }
}

} // namespace

SshConnection::SshConnection(const HostPort &where, const std::string &user, const SshKey &key,
                             milliseconds timeout)
    : description_(user + "@" + where.host + ":" + where.port), timeout_(timeout) {
    session_ = ssh_new();
    if (session_ == nullptr) {
        throw SshError("cannot create an SSH session");
    }
    try {
        const bool process_config = false;
        const int nodelay = 1;
        set_option(session_, SSH_OPTIONS_PROCESS_CONFIG, &process_config);
        set_option(session_, SSH_OPTIONS_HOST, where.host.c_str());
        set_option(session_, SSH_OPTIONS_PORT_STR, where.port.c_str());
        set_option(session_, SSH_OPTIONS_USER, user.c_str());
        // The instance's identity is checked by the target, never by a file.
        set_option(session_, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
        set_option(session_, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
        // Without it Nagle + delayed ACK add ~40 ms to every round trip.
        set_option(session_, SSH_OPTIONS_NODELAY, &nodelay);
        set_blocking_timeout(timeout);

        if (ssh_connect(session_) != SSH_OK) {
            throw SshError("cannot connect to " + where.host + ":" + where.port + ": " +
                           error_text());
        }
        ssh_key server_key = nullptr;
        if (ssh_get_server_publickey(session_, &server_key) != SSH_OK || server_key == nullptr) {
            throw SshError("cannot read the host key of " + description_ + ": " + error_text());
        }
        std::unique_ptr<ssh_key_struct, void (*)(ssh_key)> server_key_owner(server_key,
                                                                            ssh_key_free);
        server_host_key_ = openssh_public_key(server_key);

        if (ssh_userauth_publickey(session_, nullptr, key.native()) != SSH_AUTH_SUCCESS) {
            throw SshError("authentication as " + user + " to " + where.host + ":" + where.port +
                           " failed: public key refused (" + error_text() + ")");
        }
    } catch (...) {
        ssh_disconnect(session_);
        ssh_free(session_);
        throw;
    }
}

SshConnection::~SshConnection() {
    ssh_disconnect(session_);
    ssh_free(session_);
}

bool SshConnection::connected() const {
    return ssh_is_connected(session_) != 0;
}

std::string SshConnection::error_text() const {
    std::string text = ssh_get_error(session_);
    return text.empty() ? "unknown libssh error" : text;
}

CommandOutput SshConnection::run(const Environment &env, std::string_view command,
                                 std::string_view stdin_data, Deadline deadline) {
    ChannelHandle channel(ssh_channel_new(session_));
    if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK) {
        throw CommandNotStartedError("cannot open a channel to " + description_ + ": " +
                                     error_text());
    }
    for (const auto &[name, value] : env) {
        if (ssh_channel_request_env(channel.get(), name.c_str(), value.c_str()) != SSH_OK) {
            if (!connected()) {
                throw CommandNotStartedError("connection to " + description_ +
                                             " lost: " + error_text());
            }
            throw SshError("server " + description_ + " refused environment variable " + name +
                           " (does its sshd_config AcceptEnv it?)");
        }
    }
    const std::string command_text(command);
    if (ssh_channel_request_exec(channel.get(), command_text.c_str()) != SSH_OK) {
        throw SshError("cannot start command on " + description_ + ": " + error_text());
    }

    CommandOutput output;
    std::array<char, io_chunk> buffer{};
    size_t stdin_written = 0;
    bool stdin_closed = false;
    auto close_stdin = [&] {
        ssh_channel_send_eof(channel.get());
        stdin_closed = true;
    };
    if (stdin_data.empty()) {
        close_stdin();
    }
    // Checked on every turn, so a command that never stops writing still
    // times out.
    auto enforce_deadline = [&] {
        if (deadline && steady_clock::now() >= *deadline) {
            // sshd does not kill a command whose channel closes; ask it to
            // (OpenSSH honours this for non-root sessions only).
            ssh_channel_request_send_signal(channel.get(), "KILL");
            throw CommandTimeoutError("command on " + description_ + " timed out");
        }
    };
    for (;;) {
        enforce_deadline();
        bool progress = false;
        bool window_full = false;
        if (!stdin_closed) {
            if (ssh_channel_is_eof(channel.get()) != 0 || ssh_channel_is_closed(channel.get())) {
                stdin_closed = true; // the command is gone without reading all of it
            } else {
                uint32_t window = ssh_channel_window_size(channel.get());
                window_full = window == 0;
                if (!window_full) {
                    uint32_t length = static_cast<uint32_t>(
                        std::min<size_t>({window, io_chunk, stdin_data.size() - stdin_written}));
                    int written =
                        ssh_channel_write(channel.get(), stdin_data.data() + stdin_written, length);
                    if (written == SSH_ERROR) {
                        throw SshError("connection to " + description_ +
                                       " failed while sending stdin: " + error_text());
                    }
                    stdin_written += static_cast<size_t>(written);
                    progress = written > 0;
                    if (stdin_written == stdin_data.size()) {
                        close_stdin();
                    }
                }
            }
        }
        for (int is_stderr = 0; is_stderr <= 1; ++is_stderr) {
            int n = ssh_channel_read_nonblocking(channel.get(), buffer.data(), io_chunk, is_stderr);
            if (n == SSH_ERROR) {
                throw SshError("connection to " + description_ +
                               " failed while the command ran: " + error_text());
            }
            if (n > 0) {
                (is_stderr ? output.stderr_data : output.stdout_data)
                    .append(buffer.data(), static_cast<size_t>(n));
                progress = true;
            }
        }
        if (progress) {
            continue;
        }
        if (ssh_channel_is_eof(channel.get()) != 0) {
            break;
        }
        milliseconds wait = window_full ? window_poll_slice : poll_slice;
        if (deadline) {
            wait = std::clamp(std::chrono::ceil<milliseconds>(*deadline - steady_clock::now()),
                              milliseconds(1), wait);
        }
        if (ssh_channel_poll_timeout(channel.get(), static_cast<int>(wait.count()), 0) ==
            SSH_ERROR) {
            throw SshError("connection to " + description_ +
                           " failed while the command ran: " + error_text());
        }
    }
    // The exit status may come long after EOF (the command closed its output
    // but runs on). libssh waits for it up to the session timeout, so narrow
    // that to the command's deadline, and without one keep waiting as long as
    // the channel is open, as Go's Session.Wait does.
    for (;;) {
        enforce_deadline();
        if (deadline) {
            set_blocking_timeout(std::max(
                milliseconds(1), std::chrono::ceil<milliseconds>(*deadline - steady_clock::now())));
        }
        output.exit_status = ssh_channel_get_exit_status(channel.get());
        if (deadline) {
            set_blocking_timeout(timeout_);
        }
        if (output.exit_status != -1 || ssh_channel_is_closed(channel.get()) != 0 || !connected()) {
            break;
        }
    }
    if (!connected()) {
        throw SshError("connection to " + description_ +
                       " lost before the exit status arrived: " + error_text());
    }
    return output;
}

void SshConnection::set_blocking_timeout(milliseconds timeout) {
    const long seconds = static_cast<long>(timeout.count() / 1000);
    const long microseconds = static_cast<long>((timeout.count() % 1000) * 1000);
    set_option(session_, SSH_OPTIONS_TIMEOUT, &seconds);
    set_option(session_, SSH_OPTIONS_TIMEOUT_USEC, &microseconds);
}

} // namespace cloudhost::detail
