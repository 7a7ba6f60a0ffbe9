// One authenticated libssh session. Not thread-safe: the executor's pool
// hands each connection to one thread at a time.
#pragma once

#include "cloudhost/ssh_executor.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

struct ssh_session_struct;

namespace cloudhost::detail {

// The command could not be started because the connection (or the channel
// open) failed: nothing ran, so the executor may retry on a new connection.
class CommandNotStartedError : public SshError {
  public:
    using SshError::SshError;
};

class SshConnection {
  public:
    using Deadline = std::optional<std::chrono::steady_clock::time_point>;

    // Connects, records the server's host key and authenticates with `key`.
    // `timeout` bounds each blocking step. Throws SshError.
    SshConnection(const HostPort &where, const std::string &user, const SshKey &key,
                  std::chrono::milliseconds timeout);
    ~SshConnection();
    SshConnection(const SshConnection &) = delete;
    SshConnection &operator=(const SshConnection &) = delete;

    // The key the server presented, "type base64".
    const std::string &server_host_key() const noexcept { return server_host_key_; }
    // "user@host:port", for messages.
    const std::string &description() const noexcept { return description_; }

    // Runs one command on a new channel. Throws CommandNotStartedError,
    // CommandTimeoutError (channel closed, connection still usable) or
    // SshError (the connection broke while the command ran).
    CommandOutput run(const Environment &env, std::string_view command, std::string_view stdin_data,
                      Deadline deadline);

    // False once libssh has seen the connection fail.
    bool connected() const;

  private:
    std::string error_text() const;
    // Bounds each blocking libssh step on this session.
    void set_blocking_timeout(std::chrono::milliseconds timeout);

    ssh_session_struct *session_ = nullptr;
    std::string description_;
    std::string server_host_key_;
    std::chrono::milliseconds timeout_;
};

} // namespace cloudhost::detail
