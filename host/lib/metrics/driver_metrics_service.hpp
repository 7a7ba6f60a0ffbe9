// The ch_metrics service one driver instance set gets (driver.h, "Metrics"):
// the driver's metrics land in the host's registry as
// cloudhost_driver_<driver>_<name>{driver=...,instance_set_id=...,...}.
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/metrics.hpp"

#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace cloudhost::detail {

struct MetricFamily;

// "cloudhost_driver_<driver>_", '-' in the driver name as '_': what every
// metric of that driver is called under, in process or isolated.
std::string driver_metric_prefix(std::string_view driver_name);

class DriverMetricsService {
  public:
    DriverMetricsService(std::shared_ptr<MetricsRegistry> registry, std::string driver_name,
                         std::string instance_set_id);
    DriverMetricsService(const DriverMetricsService &) = delete;
    DriverMetricsService &operator=(const DriverMetricsService &) = delete;

    // Valid while this object lives (hand it to instance_set_new; keep the
    // service until instance_set_free has returned).
    const ch_metrics *c_metrics() const noexcept { return &c_metrics_; }

    // What the driver's metric `name` is called in the registry.
    std::string exposed_name(std::string_view name) const;

  private:
    static ch_status register_metric(void *ctx, const ch_metric_desc *desc, ch_metric **out,
                                     ch_error *error) noexcept;
    static ch_status series(void *ctx, ch_metric *metric, const ch_str *label_values, size_t count,
                            ch_metric_series **out, ch_error *error) noexcept;
    static void add(void *ctx, ch_metric_series *series, double value) noexcept;
    static void set(void *ctx, ch_metric_series *series, double value) noexcept;
    static void observe(void *ctx, ch_metric_series *series, double value) noexcept;

    MetricFamily *do_register(const ch_metric_desc &desc);

    std::shared_ptr<MetricsRegistry> registry_;
    std::string driver_name_;
    std::string prefix_; // cloudhost_driver_<driver>_
    std::string instance_set_id_;
    std::mutex mutex_;
    std::set<const MetricFamily *> issued_; // handles this service gave out
    ch_metrics c_metrics_;
};

} // namespace cloudhost::detail
