// The metrics of one InstanceSet across hot swaps: the OperationMetrics of
// the driver version serving calls now (its driver_version label), switched
// by the swap. Each version's OperationMetrics lives as long as the set, so
// a call that picked one up before a swap may still record into it.
#pragma once

#include "host_metrics.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cloudhost::detail {

class SetMetrics {
  public:
    // `registry` null: the default registry.
    SetMetrics(std::shared_ptr<MetricsRegistry> registry, std::string driver,
               const std::string &driver_version, std::string instance_set_id);
    SetMetrics(const SetMetrics &) = delete;
    SetMetrics &operator=(const SetMetrics &) = delete;

    // A hot swap made `driver_version` current.
    void use_version(const std::string &driver_version);

    // One driver call ended: `error` is what it threw (null: success).
    void record_call(Operation op, const std::exception_ptr &error,
                     std::chrono::nanoseconds latency) noexcept {
        current_.load(std::memory_order_acquire)->record_call(op, outcome_of(error), latency);
    }
    void record_throttled(Operation op) noexcept {
        current_.load(std::memory_order_acquire)->record_throttled(op);
    }
    void record_tick(Operation op) noexcept {
        current_.load(std::memory_order_acquire)->record_tick(op);
    }
    void set_instances(std::size_t count) noexcept {
        current_.load(std::memory_order_acquire)->set_instances(count);
    }

    const std::shared_ptr<MetricsRegistry> &registry() const noexcept { return registry_; }

  private:
    std::shared_ptr<MetricsRegistry> registry_;
    std::string driver_;
    std::string instance_set_id_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<OperationMetrics>> versions_; // one per version seen
    std::atomic<OperationMetrics *> current_{nullptr};
};

} // namespace cloudhost::detail
