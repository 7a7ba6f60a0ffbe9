#include "operation_counters.hpp"

namespace cloudhost::detail {

void OperationCounterSet::record_call(Operation op, std::chrono::nanoseconds latency,
                                      bool failed) noexcept {
    Slot &slot = at(op);
    slot.calls.fetch_add(1, relaxed);
    if (failed)
        slot.errors.fetch_add(1, relaxed);
    const int64_t ns = latency.count();
    slot.total_ns.fetch_add(ns, relaxed);
    int64_t seen = slot.max_ns.load(relaxed);
    while (ns > seen && !slot.max_ns.compare_exchange_weak(seen, ns, relaxed))
        ;
}

OperationCounters OperationCounterSet::snapshot() const noexcept {
    OperationCounters out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        const Slot &slot = slots_[i];
        out[i].calls = slot.calls.load(relaxed);
        out[i].errors = slot.errors.load(relaxed);
        out[i].throttled = slot.throttled.load(relaxed);
        out[i].ticks = slot.ticks.load(relaxed);
        out[i].total_latency = std::chrono::nanoseconds(slot.total_ns.load(relaxed));
        out[i].max_latency = std::chrono::nanoseconds(slot.max_ns.load(relaxed));
    }
    return out;
}

} // namespace cloudhost::detail
