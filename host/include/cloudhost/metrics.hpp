// Prometheus metrics: a registry of counters, gauges and histograms with
// fixed label names, rendered in the text exposition format 0.0.4.
//
// Registering a metric and asking for a label combination (labels()) take a
// lock and may allocate; the series handle they return updates atomics only
// (no lock, no allocation), from any thread. Keep series handles for hot
// paths. Handles point into their registry: the registry must outlive them
// (the process-wide default registry lives until the process ends).
//
//   auto &registry = *cloudhost::default_metrics_registry();
//   auto starts = registry.counter("myapp_starts_total", "Starts.", {"zone"});
//   cloudhost::CounterSeries east = starts.labels({"east"});
//   east.inc();
//   std::string text = cloudhost::metrics_text();  // serve at /metrics
#pragma once

#include "cloudhost/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {

// A name, label set, label value or bucket list that breaks a Prometheus
// rule; the message names the metric and the rule.
class CLOUDHOST_API MetricError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

enum class MetricKind { counter, gauge, histogram };

namespace detail {
struct MetricFamily;
struct MetricCell;
struct RegistryAccess;
} // namespace detail

// One series (one combination of label values). A default-constructed
// handle does nothing.
class CLOUDHOST_API CounterSeries {
  public:
    CounterSeries() = default;
    // False for a default-constructed handle.
    bool valid() const noexcept { return cell_ != nullptr; }
    // Adds `amount`; negative and NaN amounts are ignored (a counter only goes up).
    void inc(double amount = 1) const noexcept;
    double value() const noexcept;

  private:
    friend class Counter;
    explicit CounterSeries(detail::MetricCell *cell) : cell_(cell) {}
    detail::MetricCell *cell_ = nullptr;
};

class CLOUDHOST_API GaugeSeries {
  public:
    GaugeSeries() = default;
    // False for a default-constructed handle.
    bool valid() const noexcept { return cell_ != nullptr; }
    void set(double value) const noexcept;
    void add(double amount) const noexcept;
    void inc() const noexcept { add(1); }
    void dec() const noexcept { add(-1); }
    double value() const noexcept;

  private:
    friend class Gauge;
    explicit GaugeSeries(detail::MetricCell *cell) : cell_(cell) {}
    detail::MetricCell *cell_ = nullptr;
};

class CLOUDHOST_API HistogramSeries {
  public:
    HistogramSeries() = default;
    // False for a default-constructed handle.
    bool valid() const noexcept { return cell_ != nullptr; }
    // NaN is ignored.
    void observe(double value) const noexcept;
    void observe(std::chrono::nanoseconds duration) const noexcept {
        observe(std::chrono::duration<double>(duration).count());
    }
    uint64_t count() const noexcept;
    double sum() const noexcept;

  private:
    friend class Histogram;
    explicit HistogramSeries(detail::MetricCell *cell) : cell_(cell) {}
    detail::MetricCell *cell_ = nullptr;
};

// A registered metric. labels() takes the values in the order of the label
// names given at registration, finds or creates that series (MetricError if
// the count is wrong, a value is not UTF-8 or too long, or the metric has
// reached its series limit).
class CLOUDHOST_API Counter {
  public:
    Counter() = default;
    CounterSeries labels(std::initializer_list<std::string_view> values) const;
    CounterSeries labels(const std::vector<std::string> &values) const;

  private:
    friend class MetricsRegistry;
    explicit Counter(detail::MetricFamily *family) : family_(family) {}
    detail::MetricFamily *family_ = nullptr;
};

class CLOUDHOST_API Gauge {
  public:
    Gauge() = default;
    GaugeSeries labels(std::initializer_list<std::string_view> values) const;
    GaugeSeries labels(const std::vector<std::string> &values) const;

  private:
    friend class MetricsRegistry;
    explicit Gauge(detail::MetricFamily *family) : family_(family) {}
    detail::MetricFamily *family_ = nullptr;
};

class CLOUDHOST_API Histogram {
  public:
    Histogram() = default;
    HistogramSeries labels(std::initializer_list<std::string_view> values) const;
    HistogramSeries labels(const std::vector<std::string> &values) const;

  private:
    friend class MetricsRegistry;
    explicit Histogram(detail::MetricFamily *family) : family_(family) {}
    detail::MetricFamily *family_ = nullptr;
};

// Bucket upper bounds (seconds) for cloud calls: 5 ms to 10 minutes.
CLOUDHOST_API const std::vector<double> &default_duration_buckets();

// Bounds on what one registry accepts (drivers are untrusted).
struct CLOUDHOST_API MetricLimits {
    static constexpr std::size_t max_name_bytes = 200;
    static constexpr std::size_t max_help_bytes = 1024;
    static constexpr std::size_t max_labels = 16;
    static constexpr std::size_t max_label_value_bytes = 1024;
    static constexpr std::size_t max_buckets = 64;
    static constexpr std::size_t max_series_per_metric = 10000;
    static constexpr std::size_t max_metrics = 10000;
};

class CLOUDHOST_API MetricsRegistry {
  public:
    MetricsRegistry();
    ~MetricsRegistry();
    MetricsRegistry(const MetricsRegistry &) = delete;
    MetricsRegistry &operator=(const MetricsRegistry &) = delete;

    // Register a metric, or get the one already registered under `name`
    // with the same kind, label names and buckets (so every instance set
    // and every driver version shares it). MetricError otherwise, naming
    // the rule: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
    // [a-zA-Z_][a-zA-Z0-9_]*, neither starting with "__", label names
    // unique, "le" reserved for histogram buckets, buckets finite and
    // strictly increasing, no two metrics exposing the same sample name.
    Counter counter(std::string_view name, std::string_view help,
                    const std::vector<std::string> &label_names = {});
    Gauge gauge(std::string_view name, std::string_view help,
                const std::vector<std::string> &label_names = {});
    Histogram histogram(std::string_view name, std::string_view help,
                        const std::vector<std::string> &label_names = {},
                        const std::vector<double> &buckets = default_duration_buckets());

    // Every metric, sorted by name, each series sorted by label values:
    // Prometheus text exposition format 0.0.4.
    std::string render() const;

    // Internal: registers a metric of any kind (the driver metrics service).
    detail::MetricFamily *family(MetricKind kind, std::string_view name, std::string_view help,
                                 const std::vector<std::string> &label_names,
                                 const std::vector<double> &buckets);

  private:
    friend struct detail::RegistryAccess;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The process-wide registry libcloudhost records into unless an
// InstanceSet is given its own. Never destroyed.
CLOUDHOST_API const std::shared_ptr<MetricsRegistry> &default_metrics_registry();
// default_metrics_registry()->render().
CLOUDHOST_API std::string metrics_text();

// The Content-Type of render()'s output.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// Serves GET /metrics (render() of `registry`) over HTTP on host:port from
// a thread of its own; port 0 picks a free one. Binds before the constructor
// returns (std::runtime_error naming the address if it cannot).
class CLOUDHOST_API MetricsServer {
  public:
    MetricsServer(std::shared_ptr<MetricsRegistry> registry, const std::string &host,
                  uint16_t port);
    ~MetricsServer();
    MetricsServer(const MetricsServer &) = delete;
    MetricsServer &operator=(const MetricsServer &) = delete;
    uint16_t port() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" ("[::1]:9100" for IPv6; a bare "PORT" means
// 127.0.0.1:PORT) for --metrics-listen; std::invalid_argument naming the
// rule otherwise.
struct CLOUDHOST_API ListenAddress {
    std::string host;
    uint16_t port = 0;
};
CLOUDHOST_API ListenAddress parse_listen_address(std::string_view text);

} // namespace cloudhost
