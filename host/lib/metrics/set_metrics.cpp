#include "set_metrics.hpp"

namespace cloudhost::detail {

SetMetrics::SetMetrics(std::shared_ptr<MetricsRegistry> registry, std::string driver,
                       const std::string &driver_version, std::string instance_set_id)
    : registry_(registry ? registry : default_metrics_registry()), driver_(std::move(driver)),
      instance_set_id_(std::move(instance_set_id)) {
    use_version(driver_version);
}

void SetMetrics::use_version(const std::string &driver_version) {
    const std::lock_guard lock(mutex_);
    // Swapping back to a version seen before reuses its series handles.
    OperationMetrics *found = nullptr;
    for (std::size_t i = 0; i < versions_.size() && !found; ++i)
        if (versions_[i]->driver_version() == driver_version)
            found = versions_[i].get();
    if (!found) {
        versions_.push_back(std::make_unique<OperationMetrics>(*registry_, driver_, driver_version,
                                                               instance_set_id_));
        found = versions_.back().get();
    }
    current_.store(found, std::memory_order_release);
}

} // namespace cloudhost::detail
