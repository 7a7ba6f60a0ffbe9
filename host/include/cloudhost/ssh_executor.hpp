// Runs commands on an instance over SSH (Arvados sshexecutor), checking the
// server's host key through the instance before any command runs.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/instance.hpp"
#include "cloudhost/ssh_key.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cloudhost {

// Any failure of the SSH executor: connect, authenticate, open a channel,
// or a connection lost while a command ran.
class CLOUDHOST_API SshError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The target has no address yet (Arvados ErrNoAddress), usually because it
// is still booting. `target_name`: ExecutorTarget::name(), already escaped.
class CLOUDHOST_API NoAddressError : public SshError {
  public:
    explicit NoAddressError(const std::string &target_name = {})
        : SshError("instance " + (target_name.empty() ? "" : target_name + " ") +
                   "has no address yet (it may still be booting)") {}
};

// The target refused the server's host key; no command was run.
class CLOUDHOST_API HostKeyError : public SshError {
  public:
    using SshError::SshError;
};

// The command outlived its timeout. Its channel was closed and the remote
// process group sent SIGKILL (OpenSSH refuses that for root logins, where
// the command is only detached); the connection stays usable.
class CLOUDHOST_API CommandTimeoutError : public SshError {
  public:
    using SshError::SshError;
};

// What the executor needs from the machine it talks to (Arvados
// cloud.ExecutorTarget). Implementations must be safe to call from many
// threads.
class CLOUDHOST_API ExecutorTarget {
  public:
    virtual ~ExecutorTarget() = default;
    // "host", "host:port", "[v6]:port" or "v6"; "" while unknown.
    virtual std::string address() const = 0;
    virtual std::string remote_user() const = 0;
    // Returns normally to accept `openssh_public_key` ("ssh-ed25519 AAAA...");
    // throws to refuse. `unverified_connection` runs commands on the very
    // connection that presented the key.
    virtual void verify_host_key(const std::string &openssh_public_key,
                                 CommandRunner *unverified_connection) const = 0;
    // What errors call the target (an instance id); "" when it has no name.
    virtual std::string name() const { return {}; }
};

// An ExecutorTarget backed by a driver's instance.
class CLOUDHOST_API InstanceTarget final : public ExecutorTarget {
  public:
    explicit InstanceTarget(Instance instance) : instance_(std::move(instance)) {}
    std::string address() const override;
    std::string remote_user() const override;
    void verify_host_key(const std::string &openssh_public_key,
                         CommandRunner *unverified_connection) const override;
    std::string name() const override { return instance_.id(); }
    const Instance &instance() const noexcept { return instance_; }

  private:
    Instance instance_;
};

struct CLOUDHOST_API HostPort {
    std::string host;
    std::string port;
    bool operator==(const HostPort &) const = default;
};

// Splits an instance address. Without a port (or when it cannot be split)
// the whole address is the host and `default_port` applies. Throws
// NoAddressError for "".
CLOUDHOST_API HostPort parse_address(std::string_view address, std::string_view default_port);

using Environment = std::map<std::string, std::string>;

struct CLOUDHOST_API SshExecutorOptions {
    std::string default_port = "22"; // when the address carries none
    // Bounds TCP connect, key exchange, authentication and each blocking
    // protocol step (channel open, exec request), and each command run
    // during host key verification.
    std::chrono::milliseconds connect_timeout{std::chrono::minutes(1)};
    // Applies to every execute() without its own timeout; none by default
    // (Arvados relies on probe and boot timeouts instead).
    std::optional<std::chrono::milliseconds> command_timeout;
    // Commands on one connection run one at a time (libssh allows one
    // thread per session), so concurrent callers get up to this many
    // connections to the same target. 1 = strictly serialized.
    std::size_t max_connections = 4;
};

// One per target. Connections are made on first use, reused for successive
// commands (a new channel per command) and rebuilt after a failure.
//
// Thread safety: execute() and close() may be called from many threads at
// once. Each connection is used by one thread at a time; a small pool
// (options.max_connections) lets concurrent commands run in parallel instead
// of queueing behind a long one. Connection setup (connect, authenticate,
// verify) runs one at a time: callers that arrive during a setup wait for
// it, and share its error if it fails and no connection is left.
// Do not destroy the executor while another thread is inside execute().
class CLOUDHOST_API SshExecutor {
  public:
    SshExecutor(std::shared_ptr<const ExecutorTarget> target, SshKey key,
                SshExecutorOptions options = {});
    ~SshExecutor();
    SshExecutor(const SshExecutor &) = delete;
    SshExecutor &operator=(const SshExecutor &) = delete;

    // Runs `command` through the remote user's shell with `env` set,
    // `stdin_data` on its standard input (then EOF), and returns its output
    // and exit status (-1 when it died from a signal). A non-zero status is
    // not an error. If the command cannot start because the connection is
    // broken, a new connection is built and the command tried once more.
    // Throws NoAddressError, HostKeyError, CommandTimeoutError or SshError.
    CommandOutput execute(const Environment &env, std::string_view command,
                          std::string_view stdin_data = {},
                          std::optional<std::chrono::milliseconds> timeout = std::nullopt);

    // Closes every connection; a later execute() connects again (and skips
    // verification if the server presents the key verified before).
    void close();

    const ExecutorTarget &target() const noexcept { return *target_; }

  private:
    struct Pool;
    std::shared_ptr<const ExecutorTarget> target_;
    std::unique_ptr<Pool> pool_;
};

} // namespace cloudhost
