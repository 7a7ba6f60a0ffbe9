#include "fault_schedule.hpp"

namespace cloudhost::stub {

bool FaultSchedule::strikes(double rate) {
    if (rate <= 0)
        return false;
    uint64_t draw = 0;
    {
        std::lock_guard lock(mutex_);
        draw = rng_();
    }
    // 53 random bits as a double in [0, 1): the same on every platform, unlike
    // std::uniform_real_distribution.
    const double unit = static_cast<double>(draw >> 11) * 0x1.0p-53;
    return unit < rate;
}

std::optional<sdk::Clock::time_point> CallSpacing::refusal(sdk::Clock::time_point now) const {
    if (interval_.count() == 0)
        return std::nullopt;
    std::lock_guard lock(mutex_);
    if (now < next_allowed_)
        return next_allowed_;
    return std::nullopt;
}

void CallSpacing::record(sdk::Clock::time_point now) {
    if (interval_.count() == 0)
        return;
    std::lock_guard lock(mutex_);
    next_allowed_ = now + interval_;
}

} // namespace cloudhost::stub
