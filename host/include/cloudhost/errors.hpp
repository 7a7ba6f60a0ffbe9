// Exceptions of the cloudhost C++ API. Driver errors cross the C ABI as a
// status code plus fields and arrive here as the matching class, so callers
// classify them with `catch (const cloudhost::QuotaError &)` as Arvados's
// pool does with a type assertion.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/types.hpp"

#include <stdexcept>
#include <string>

namespace cloudhost {

// Any failure reported by a driver (Go: a plain error).
class CLOUDHOST_API DriverError : public std::runtime_error {
  public:
    explicit DriverError(const std::string &message, bool quota = false)
        : std::runtime_error(message), quota_(quota) {}
    // True when the error is also a quota error (Arvados allows an error to
    // be both a CapacityError and a QuotaError).
    bool is_quota_error() const noexcept { return quota_; }

  private:
    bool quota_;
};

// The cloud refuses calls until earliest_retry().
class CLOUDHOST_API RateLimitError : public DriverError {
  public:
    RateLimitError(const std::string &message, Clock::time_point earliest_retry)
        : DriverError(message), earliest_retry_(earliest_retry) {}
    Clock::time_point earliest_retry() const noexcept { return earliest_retry_; }

  private:
    Clock::time_point earliest_retry_;
};

// The account cannot hold more instances than it has now.
class CLOUDHOST_API QuotaError : public DriverError {
  public:
    explicit QuotaError(const std::string &message) : DriverError(message, true) {}
};

// The provider lacks capacity. Scope: only this instance type, every type of
// its quota group, or (neither) all types.
class CLOUDHOST_API CapacityError : public DriverError {
  public:
    enum class Scope { all_types, instance_type, quota_group };
    CapacityError(const std::string &message, Scope scope, bool also_quota = false)
        : DriverError(message, also_quota), scope_(scope) {}
    Scope scope() const noexcept { return scope_; }
    bool is_instance_type_specific() const noexcept { return scope_ == Scope::instance_type; }
    bool is_instance_quota_group_specific() const noexcept { return scope_ == Scope::quota_group; }

  private:
    Scope scope_;
};

// Go's ErrNotImplemented: the driver has no mechanism for this call.
class CLOUDHOST_API NotImplementedError : public DriverError {
  public:
    explicit NotImplementedError(const std::string &message = "not implemented")
        : DriverError(message) {}
};

// Configuration or argument rejected, by the host's validation or by the
// driver. The message names the field (and file, line, column when known).
class CLOUDHOST_API InvalidConfigError : public DriverError {
  public:
    explicit InvalidConfigError(const std::string &message) : DriverError(message) {}
};

// The helper process serving an isolated driver died (signal, exit, a
// malformed message) before answering; the message names the signal or exit
// status and the driver version. The helper is restarted (with back-off) and
// instance handles re-bind on their next call.
class CLOUDHOST_API DriverCrashedError : public DriverError {
  public:
    explicit DriverCrashedError(const std::string &message) : DriverError(message) {}
};

// An isolated driver call ran past its deadline (timeouts.driver_call); the
// helper serving it was killed and is restarted.
class CLOUDHOST_API DriverTimeoutError : public DriverError {
  public:
    explicit DriverTimeoutError(const std::string &message) : DriverError(message) {}
};

// A driver file could not be read, judged or loaded. Not a DriverError: no
// driver code has answered.
class CLOUDHOST_API LoadError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

} // namespace cloudhost
