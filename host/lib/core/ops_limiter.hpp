// Arvados MaxCloudOpsPerSecond: one shared ticker of 1/N s; every limited
// call waits for its own tick. A call reserves the next free slot under a
// mutex and sleeps outside it, so waiting threads never block each other
// and nobody waits longer than the slots queued before it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace cloudhost::detail {

class OpsLimiter {
  public:
    using SteadyClock = std::chrono::steady_clock;

    // 0 (or less) = no limit.
    explicit OpsLimiter(double ops_per_second);

    bool enabled() const noexcept { return interval_.load().count() > 0; }
    // A reload's new rate; calls already waiting keep their slots.
    void set_rate(double ops_per_second) noexcept;
    // Blocks until this call's tick; returns the tick's time (or now when
    // disabled).
    SteadyClock::time_point wait_for_tick();
    // Ticks handed out so far.
    uint64_t ticks() const;

  private:
    std::atomic<SteadyClock::duration> interval_{SteadyClock::duration{0}};
    mutable std::mutex mutex_;
    SteadyClock::time_point next_slot_{};
    uint64_t ticks_ = 0;
};

} // namespace cloudhost::detail
