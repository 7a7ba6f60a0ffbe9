// Reproducible randomness and call spacing for the stub's injected faults.
#pragma once

#include "cloudhost/driver_sdk.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>

namespace cloudhost::stub {

// One PRNG per instance set, seeded from the config: the same seed and the
// same sequence of calls give the same faults.
class FaultSchedule {
  public:
    explicit FaultSchedule(uint64_t seed) : rng_(seed) {}

    // True with probability `rate`. Draws from the PRNG only when the rate is
    // positive, so fault-free knobs do not shift the schedule of the others.
    bool strikes(double rate);

  private:
    std::mutex mutex_;
    std::mt19937_64 rng_;
};

// Arvados's MinTimeBetween*Calls: a call sooner than `interval` after the
// previous admitted one is refused until that time.
class CallSpacing {
  public:
    explicit CallSpacing(std::chrono::milliseconds interval) : interval_(interval) {}

    // The time the caller must wait for, or nullopt when the call is allowed.
    // An allowed call is not recorded yet: see record().
    std::optional<sdk::Clock::time_point> refusal(sdk::Clock::time_point now) const;
    // Records an admitted call made at `now`.
    void record(sdk::Clock::time_point now);

  private:
    const std::chrono::milliseconds interval_;
    mutable std::mutex mutex_;
    sdk::Clock::time_point next_allowed_{};
};

} // namespace cloudhost::stub
