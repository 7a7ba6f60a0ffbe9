// The one bounded "try until a deadline" loop (create --wait's boot probe,
// cloudtest's boot probe). The last attempt is made at the deadline itself,
// never one interval before it, and the result says how long it really took.
#pragma once

#include <algorithm>
#include <chrono>

namespace cloudhost {

struct PollResult {
    bool done = false;
    int attempts = 0;
    std::chrono::steady_clock::duration waited{}; // from the first attempt to the last one's end
};

// Calls `attempt()` (returns true when done) until it succeeds or `timeout`
// has passed. Between attempts calls `pause(duration)`, with `interval`
// shortened so that no pause ends after the deadline; `pause` returns false
// to stop early (an interruption). With `timeout` 0: exactly one attempt.
template <class Attempt, class Pause>
PollResult poll_until(std::chrono::milliseconds timeout, std::chrono::milliseconds interval,
                      Attempt &&attempt, Pause &&pause) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    PollResult result;
    for (;;) {
        ++result.attempts;
        result.done = attempt();
        const auto now = Clock::now();
        result.waited = now - start;
        if (result.done || now >= deadline)
            return result;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                          std::chrono::milliseconds(1); // round up: wake at or past the deadline
        if (!pause(std::max(std::min(interval, left), std::chrono::milliseconds(1))))
            return result;
    }
}

} // namespace cloudhost
