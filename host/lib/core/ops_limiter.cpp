#include "ops_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

namespace cloudhost::detail {

OpsLimiter::OpsLimiter(double ops_per_second) {
    set_rate(ops_per_second);
}

void OpsLimiter::set_rate(double ops_per_second) noexcept {
    interval_ = ops_per_second > 0 && std::isfinite(ops_per_second)
                    ? std::chrono::duration_cast<SteadyClock::duration>(
                          std::chrono::duration<double>(1.0 / ops_per_second))
                    : SteadyClock::duration{0};
}

OpsLimiter::SteadyClock::time_point OpsLimiter::wait_for_tick() {
    if (!enabled())
        return SteadyClock::now();
    SteadyClock::time_point slot;
    {
        std::lock_guard lock(mutex_);
        // An idle ticker does not bank ticks: the first call after a pause
        // goes at once, the following ones 1/N s apart.
        slot = std::max(SteadyClock::now(), next_slot_);
        next_slot_ = slot + interval_.load();
        ++ticks_;
    }
    std::this_thread::sleep_until(slot);
    return slot;
}

uint64_t OpsLimiter::ticks() const {
    std::lock_guard lock(mutex_);
    return ticks_;
}

} // namespace cloudhost::detail
