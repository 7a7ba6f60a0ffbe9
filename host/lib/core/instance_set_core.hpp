// The shared state behind InstanceSet and Instance handles: the current
// driver binding and the dispatcher-side wrappers (rate-limit gate, ops
// limiter, counters).
#pragma once

#include "binding.hpp"
#include "bound_instance.hpp"
#include "guarded_shared_ptr.hpp"
#include "operation_counters.hpp"
#include "ops_limiter.hpp"
#include "rate_limit_gate.hpp"

#include "metrics/set_metrics.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cloudhost::detail {

struct InstanceSetCore : std::enable_shared_from_this<InstanceSetCore> {
    InstanceSetCore(InstanceSetOptions options, std::shared_ptr<Binding> first_binding);

    // The binding a call works on for its whole duration.
    std::shared_ptr<Binding> snapshot() const noexcept { return binding_.load(); }
    // The current binding, counted as in use until the BindingUse is gone.
    BindingUse enter() const;
    // Whether `binding` is the current one (no reference counting).
    bool is_current(const Binding *binding) const noexcept { return current_.load() == binding; }

    // Hot swap: makes `next` current and returns the previous binding. New
    // calls go to `next`; calls in flight keep theirs (see in_flight()).
    // `listed`, a listing of `next`, seeds the table Instances re-bind from.
    std::shared_ptr<Binding> swap_binding(std::shared_ptr<Binding> next, BoundInstances listed);
    // The handle of instance `id` under the current binding, from the
    // table, else from a fresh listing. Throws DriverError if it is not
    // listed.
    std::shared_ptr<const BoundInstance> rebind(const std::string &id);
    // Keeps `old`, a handle an InstanceCore re-bound away from, until no
    // call is in flight on its binding, then releases it (and with the last
    // one, the old binding and its library). release_drained() releases
    // what has drained since; the hot swap calls it on every sync.
    void retire(std::shared_ptr<const BoundInstance> old);
    void release_drained();

    // Runs `call` (one driver call of kind `op`) behind the wrappers: the
    // rate-limit gate, a tick of the ops limiter, then counters and, on a
    // RateLimitError, suspension of every limited call until its retry time.
    template <class Call> void limited_call(Operation op, Call &&call);

    spdlog::logger &logger() const noexcept { return *logger_; }
    const std::string &driver_name() const noexcept { return driver_name_; }

    const InstanceSetOptions options;
    OperationCounterSet counters;
    OpsLimiter limiter;
    RateLimitGate gate;
    SetMetrics metrics;

  private:
    void gate_check(Operation op);
    void take_drained(std::vector<std::shared_ptr<const BoundInstance>> &out);
    void on_rate_limit(Operation op, Clock::time_point earliest_retry, const char *message);

    GuardedSharedPtr<Binding> binding_;
    std::atomic<const Binding *> current_; // == binding_.load().get(), cheap to compare
    std::mutex swap_mutex_;                // one swap at a time
    std::mutex rebind_mutex_;
    std::weak_ptr<Binding> rebind_for_; // the binding rebind_table_ was listed from
    BoundInstances rebind_table_;
    std::mutex retired_mutex_;
    std::vector<std::shared_ptr<const BoundInstance>> retired_;
    std::shared_ptr<spdlog::logger> logger_;
    std::string driver_name_;
};

template <class Call> void InstanceSetCore::limited_call(Operation op, Call &&call) {
    gate_check(op);
    if (limiter.enabled()) {
        limiter.wait_for_tick();
        counters.record_tick(op);
        metrics.record_tick(op);
        gate_check(op); // a rate limit may have arrived while we waited
    }
    const auto start = std::chrono::steady_clock::now();
    auto latency = [&] { return std::chrono::steady_clock::now() - start; };
    try {
        call();
    } catch (const RateLimitError &e) {
        counters.record_call(op, latency(), true);
        metrics.record_call(op, std::current_exception(), latency());
        on_rate_limit(op, e.earliest_retry(), e.what());
        throw;
    } catch (...) {
        counters.record_call(op, latency(), true);
        metrics.record_call(op, std::current_exception(), latency());
        throw;
    }
    counters.record_call(op, latency(), false);
    metrics.record_call(op, nullptr, latency());
}

} // namespace cloudhost::detail
