// cloudhost C++ driver SDK: publishing Prometheus metrics through the host
// (driver.h, "Metrics"). Included by driver_sdk.hpp; InstanceSetArgs::metrics
// is the service of the set being created.
//
//   auto starts = args.metrics.counter("instance_starts_total", "Instances started.",
//                                      {"subnet_id", "success"});
//   auto series = starts.labels({"subnet-1", "true"}); // once per combination: keep it
//   series.inc();                                      // lock-free, any thread
//
// With a host that has no metrics service, every handle is inert: updates
// do nothing and the driver runs unchanged. Rule violations (names, labels)
// throw cloudhost::sdk::Error with the host's message naming the rule.
#ifndef CLOUDHOST_DRIVER_SDK_METRICS_HPP
#define CLOUDHOST_DRIVER_SDK_METRICS_HPP

#include "cloudhost/driver.h"

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::sdk {

class MetricsError : public std::runtime_error {
  public:
    MetricsError(const std::string &message, ch_status status)
        : std::runtime_error(message), status_(status) {}
    ch_status status() const noexcept { return status_; }

  private:
    ch_status status_;
};

// One label combination of a metric. Copyable (two pointers); valid while
// the instance set lives.
class MetricSeries {
  public:
    MetricSeries() = default;
    MetricSeries(const ch_metrics *service, ch_metric_series *series)
        : service_(service), series_(series) {}
    bool active() const noexcept { return series_ != nullptr; }

  protected:
    void add_value(double v) const noexcept {
        if (series_)
            service_->add(service_->ctx, series_, v);
    }
    void set_value(double v) const noexcept {
        if (series_)
            service_->set(service_->ctx, series_, v);
    }
    void observe_value(double v) const noexcept {
        if (series_)
            service_->observe(service_->ctx, series_, v);
    }

  private:
    const ch_metrics *service_ = nullptr;
    ch_metric_series *series_ = nullptr;
};

class CounterSeries : public MetricSeries {
  public:
    using MetricSeries::MetricSeries;
    void inc(double amount = 1) const noexcept { add_value(amount); }
};

class GaugeSeries : public MetricSeries {
  public:
    using MetricSeries::MetricSeries;
    void set(double value) const noexcept { set_value(value); }
    void add(double amount) const noexcept { add_value(amount); }
    void inc() const noexcept { add_value(1); }
    void dec() const noexcept { add_value(-1); }
};

class HistogramSeries : public MetricSeries {
  public:
    using MetricSeries::MetricSeries;
    void observe(double value) const noexcept { observe_value(value); }
};

namespace detail {

inline ch_str metric_str(std::string_view s) noexcept {
    return {s.data(), s.size()};
}

[[noreturn]] inline void throw_metrics_error(ch_status status, const ch_error &error) {
    throw MetricsError(error.message, status);
}

inline ch_metric_series *metric_series(const ch_metrics *service, ch_metric *metric,
                                       std::initializer_list<std::string_view> values) {
    if (!metric)
        return nullptr;
    std::vector<ch_str> c_values;
    c_values.reserve(values.size());
    for (std::string_view v : values)
        c_values.push_back(metric_str(v));
    ch_error error{};
    error.struct_size = sizeof error;
    ch_metric_series *out = nullptr;
    const ch_status status =
        service->series(service->ctx, metric, c_values.data(), c_values.size(), &out, &error);
    if (status != CH_OK)
        throw_metrics_error(status, error);
    return out;
}

} // namespace detail

// A registered metric; labels() gives the series of one combination of
// label values (in the order of the label names).
template <class Series> class Metric {
  public:
    Metric() = default;
    Metric(const ch_metrics *service, ch_metric *metric) : service_(service), metric_(metric) {}
    Series labels(std::initializer_list<std::string_view> values = {}) const {
        return Series(service_, detail::metric_series(service_, metric_, values));
    }

  private:
    const ch_metrics *service_ = nullptr;
    ch_metric *metric_ = nullptr;
};

using Counter = Metric<CounterSeries>;
using Gauge = Metric<GaugeSeries>;
using Histogram = Metric<HistogramSeries>;

// The host's metrics service for one instance set (cheap to copy).
class Metrics {
  public:
    Metrics() = default;
    // `service` may be null (a host without metrics): every handle is inert.
    explicit Metrics(const ch_metrics *service) noexcept
        : service_(service && service->struct_size >= sizeof(ch_metrics) ? service : nullptr) {}
    bool available() const noexcept { return service_ != nullptr; }

    Counter counter(std::string_view name, std::string_view help,
                    std::initializer_list<std::string_view> label_names = {}) const {
        return {service_, do_register(CH_METRIC_COUNTER, name, help, label_names, {})};
    }
    Gauge gauge(std::string_view name, std::string_view help,
                std::initializer_list<std::string_view> label_names = {}) const {
        return {service_, do_register(CH_METRIC_GAUGE, name, help, label_names, {})};
    }
    // Empty `buckets`: the host's default (5 ms .. 10 min).
    Histogram histogram(std::string_view name, std::string_view help,
                        std::initializer_list<std::string_view> label_names = {},
                        std::vector<double> buckets = {}) const {
        return {service_,
                do_register(CH_METRIC_HISTOGRAM, name, help, label_names, std::move(buckets))};
    }

  private:
    ch_metric *do_register(ch_metric_kind kind, std::string_view name, std::string_view help,
                           std::initializer_list<std::string_view> label_names,
                           std::vector<double> buckets) const {
        if (!service_)
            return nullptr;
        std::vector<ch_str> labels;
        labels.reserve(label_names.size());
        for (std::string_view l : label_names)
            labels.push_back(detail::metric_str(l));
        ch_metric_desc desc{};
        desc.struct_size = sizeof desc;
        desc.kind = kind;
        desc.name = detail::metric_str(name);
        desc.help = detail::metric_str(help);
        desc.label_names = labels.data();
        desc.label_count = labels.size();
        desc.buckets = buckets.data();
        desc.bucket_count = buckets.size();
        ch_error error{};
        error.struct_size = sizeof error;
        ch_metric *out = nullptr;
        const ch_status status = service_->register_metric(service_->ctx, &desc, &out, &error);
        if (status != CH_OK)
            detail::throw_metrics_error(status, error);
        return out;
    }

    const ch_metrics *service_ = nullptr;
};

} // namespace cloudhost::sdk

#endif // CLOUDHOST_DRIVER_SDK_METRICS_HPP
