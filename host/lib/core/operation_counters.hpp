// Per-operation counters and latencies, updated lock-free from many threads.
#pragma once

#include "cloudhost/instance_set.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cloudhost::detail {

class OperationCounterSet {
  public:
    void record_call(Operation op, std::chrono::nanoseconds latency, bool failed) noexcept;
    void record_throttled(Operation op) noexcept { at(op).throttled.fetch_add(1, relaxed); }
    void record_tick(Operation op) noexcept { at(op).ticks.fetch_add(1, relaxed); }
    OperationCounters snapshot() const noexcept;

  private:
    static constexpr auto relaxed = std::memory_order_relaxed;
    struct Slot {
        std::atomic<uint64_t> calls{0};
        std::atomic<uint64_t> errors{0};
        std::atomic<uint64_t> throttled{0};
        std::atomic<uint64_t> ticks{0};
        std::atomic<int64_t> total_ns{0};
        std::atomic<int64_t> max_ns{0};
    };
    Slot &at(Operation op) noexcept { return slots_[static_cast<std::size_t>(op)]; }

    Slot slots_[static_cast<std::size_t>(Operation::count_)];
};

} // namespace cloudhost::detail
