#include "rate_limit_gate.hpp"

#include "cloudhost/errors.hpp"

#include <cstdio>
#include <ctime>

namespace cloudhost::detail {

std::string format_utc(Clock::time_point t) {
    using namespace std::chrono;
    const auto since_epoch = duration_cast<milliseconds>(t.time_since_epoch());
    auto secs = static_cast<std::time_t>(floor<seconds>(since_epoch).count());
    auto millis = static_cast<int>((since_epoch - floor<seconds>(since_epoch)).count());
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

void RateLimitGate::check(std::string_view operation) const {
    Clock::time_point until;
    std::string reason;
    {
        std::lock_guard lock(mutex_);
        if (Clock::now() >= until_)
            return;
        until = until_;
        reason = reason_;
    }
    throw RateLimitError(std::string(operation) + " suppressed by the host until " +
                             format_utc(until) + " after the driver's rate limit error: " + reason,
                         until);
}

bool RateLimitGate::suspend_until(Clock::time_point earliest_retry,
                                  std::string_view driver_message) {
    std::lock_guard lock(mutex_);
    if (earliest_retry <= until_ || earliest_retry <= Clock::now())
        return false;
    until_ = earliest_retry;
    reason_.assign(driver_message);
    return true;
}

std::optional<Clock::time_point> RateLimitGate::suspended_until() const {
    std::lock_guard lock(mutex_);
    if (Clock::now() >= until_)
        return std::nullopt;
    return until_;
}

} // namespace cloudhost::detail
