// poll_until: the bounded wait behind create --wait and cloudtest's boot
// probe. Issue 11: both gave up up to one interval before the deadline.
#include "cloudhost/poll_until.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace std::chrono_literals;
using cloudhost::poll_until;
using Clock = std::chrono::steady_clock;

namespace {
bool sleep_for(std::chrono::milliseconds d) {
    std::this_thread::sleep_for(d);
    return true;
}
} // namespace

TEST_CASE("poll_until makes its last attempt at the deadline, not an interval before it") {
    // Interval 200 ms, timeout 300 ms: attempts at 0, 200 and 300 ms. The old
    // loop stopped after the 200 ms attempt (200 + 200 > 300).
    const auto start = Clock::now();
    const auto result = poll_until(
        300ms, 200ms, [&] { return Clock::now() - start >= 300ms; }, sleep_for);
    CHECK(result.done);
    CHECK(result.attempts == 3);
    CHECK(result.waited >= 300ms);
}

TEST_CASE("poll_until never pauses past the deadline and reports the time it waited") {
    std::vector<std::chrono::milliseconds> pauses;
    const auto result = poll_until(
        250ms, 100ms, [] { return false; },
        [&](std::chrono::milliseconds d) {
            pauses.push_back(d);
            return sleep_for(d);
        });
    CHECK_FALSE(result.done);
    CHECK(result.waited >= 250ms);
    REQUIRE(pauses.size() >= 3);
    CHECK(pauses[0] == 100ms);
    CHECK(pauses.back() <= 51ms); // shortened to what was left (+1 ms rounding)
    CHECK(result.attempts == static_cast<int>(pauses.size()) + 1);
}

TEST_CASE("poll_until with timeout 0 attempts once; a pause returning false stops it") {
    int calls = 0;
    auto once = poll_until(
        0ms, 100ms,
        [&] {
            ++calls;
            return false;
        },
        sleep_for);
    CHECK(calls == 1);
    CHECK(once.attempts == 1);
    auto stopped = poll_until(
        10s, 1ms, [] { return false; }, [](std::chrono::milliseconds) { return false; });
    CHECK(stopped.attempts == 1);
    CHECK_FALSE(stopped.done);
    CHECK(stopped.waited < 10s);
}
