// EC2 error codes -> the host's error classes (Arvados's wrapError), and the
// throttle back-off that decides EarliestRetry.
#pragma once

#include "cloudhost/driver_sdk.hpp"

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace cloudhost::ec2 {

// An error answer of the EC2 API (or a transport failure, with code "").
class AwsError : public sdk::Error {
  public:
    AwsError(const std::string &action, const std::string &code, const std::string &message,
             const std::string &request_id, long http_status);
    const std::string &code() const noexcept { return code_; }
    const std::string &aws_message() const noexcept { return message_; }
    const std::string &request_id() const noexcept { return request_id_; }
    long http_status() const noexcept { return http_status_; }

  private:
    std::string code_, message_, request_id_;
    long http_status_;
};

enum class ErrorClass { rate_limit, quota, capacity_quota_group, capacity_instance_type, other };

// `instance_type` is the requested provider type (for "Unsupported").
ErrorClass classify(std::string_view code, std::string_view message,
                    std::string_view instance_type = {});

// RunInstances errors that mean "try the next subnet".
bool is_subnet_specific(std::string_view code, std::string_view message);

// Throttle back-off of one kind of call: each throttled answer waits
// d = d * 3/2 + 1 s, clamped to [1 s, 60 s]; a call that gets through (or
// fails for another reason than quota or capacity) resets it.
class Backoff {
  public:
    std::chrono::milliseconds next_delay();
    void reset();
    std::chrono::milliseconds current() const;

  private:
    mutable std::mutex mutex_;
    std::chrono::milliseconds delay_{0};
};

// Throws the typed SDK error for `error` (RateLimitError, QuotaError,
// CapacityError) or rethrows it unchanged, updating `backoff`.
[[noreturn]] void throw_typed(const AwsError &error, Backoff &backoff,
                              std::string_view instance_type = {});

// Records a successful call.
inline void note_success(Backoff &backoff) {
    backoff.reset();
}

// Bounded, printable copy of untrusted text for messages and logs.
std::string printable(std::string_view text, std::size_t limit = 512);

} // namespace cloudhost::ec2
