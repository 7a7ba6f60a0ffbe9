// After a driver's RateLimitError, no limited call (Create, Instances,
// Destroy, SetTags) reaches the driver before its EarliestRetry: the host
// answers with a RateLimitError of its own (Arvados throttle.go, but shared
// by all four call kinds since the cloud refuses all of them).
#pragma once

#include "cloudhost/types.hpp"

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cloudhost::detail {

class RateLimitGate {
  public:
    // Throws RateLimitError("<operation> suppressed by the host until <time>
    // ...") while suspended.
    void check(std::string_view operation) const;
    // Records a driver's RateLimitError. Returns true when this extended the
    // suspension (so the caller logs it once).
    bool suspend_until(Clock::time_point earliest_retry, std::string_view driver_message);
    std::optional<Clock::time_point> suspended_until() const;

  private:
    mutable std::mutex mutex_;
    Clock::time_point until_{};
    std::string reason_;
};

// "2024-05-01T12:00:00.123Z"
std::string format_utc(Clock::time_point t);

} // namespace cloudhost::detail
