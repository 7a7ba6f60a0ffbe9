// MetricsRegistry: registration (validated, idempotent), series lookup, and
// the handles' update functions.
#include "exposition.hpp"
#include "metric_family.hpp"
#include "metrics_snapshot.hpp"
#include "name_rules.hpp"

#include "core/validation.hpp"

#include <functional>
#include <map>

namespace cloudhost {

namespace detail {

MetricCell *MetricFamily::series(const std::vector<std::string_view> &values) {
    check_label_values(*this, values);
    const std::lock_guard lock(mutex);
    std::vector<std::string> key(values.begin(), values.end());
    auto found = cells.find(key);
    if (found != cells.end())
        return found->second.get();
    if (cells.size() >= MetricLimits::max_series_per_metric)
        throw MetricError("metric \"" + name + "\": already has " +
                          std::to_string(MetricLimits::max_series_per_metric) +
                          " series (the limit of label combinations per metric)");
    auto cell = std::make_unique<MetricCell>();
    cell->kind = kind;
    if (kind == MetricKind::histogram) {
        cell->bounds = &bounds;
        cell->buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1);
    }
    MetricCell *raw = cell.get();
    cells.emplace(std::move(key), std::move(cell));
    return raw;
}

namespace {

std::vector<std::string> sample_names(MetricKind kind, const std::string &name) {
    if (kind != MetricKind::histogram)
        return {name};
    return {name, name + "_bucket", name + "_sum", name + "_count"};
}

std::string describe(const MetricFamily &family) {
    std::string out = std::string(kind_name(family.kind)) + " with labels (";
    for (std::size_t i = 0; i < family.label_names.size(); ++i)
        out += (i ? "," : "") + family.label_names[i];
    return out + ")";
}

MetricCell *series_of(MetricFamily *family, std::initializer_list<std::string_view> values) {
    if (!family)
        return nullptr;
    return family->series(std::vector<std::string_view>(values));
}

MetricCell *series_of(MetricFamily *family, const std::vector<std::string> &values) {
    if (!family)
        return nullptr;
    return family->series(std::vector<std::string_view>(values.begin(), values.end()));
}

} // namespace
} // namespace detail

struct MetricsRegistry::Impl {
    mutable std::mutex mutex;
    std::map<std::string, std::unique_ptr<detail::MetricFamily>, std::less<>> families;
    std::map<std::string, std::string, std::less<>> sample_owner; // sample name -> metric

    // Run before each render (metrics_snapshot.hpp); own lock, since a
    // collector registers families itself.
    std::mutex collectors_mutex;
    std::map<std::uint64_t, std::shared_ptr<const std::function<void()>>> collectors;
    std::uint64_t next_collector = 1;
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

detail::MetricFamily *MetricsRegistry::family(MetricKind kind, std::string_view name,
                                              std::string_view help,
                                              const std::vector<std::string> &label_names,
                                              const std::vector<double> &buckets) {
    using namespace detail;
    check_metric_name(name);
    check_help(name, help);
    check_label_names(name, kind, label_names);
    std::vector<double> bounds;
    if (kind == MetricKind::histogram)
        bounds = checked_buckets(name, buckets);

    const std::lock_guard lock(impl_->mutex);
    if (auto found = impl_->families.find(name); found != impl_->families.end()) {
        MetricFamily &existing = *found->second;
        if (existing.kind != kind || existing.label_names != label_names)
            throw MetricError("metric \"" + std::string(name) + "\": already registered as a " +
                              describe(existing) + "; one name has one type and one label set");
        if (existing.bounds != bounds)
            throw MetricError("metric \"" + std::string(name) +
                              "\": already registered with other buckets; one name has one "
                              "bucket layout");
        return &existing;
    }
    if (impl_->families.size() >= MetricLimits::max_metrics)
        throw MetricError("metric \"" + std::string(name) + "\": the registry already holds " +
                          std::to_string(MetricLimits::max_metrics) + " metrics");
    auto family = std::make_unique<MetricFamily>();
    family->kind = kind;
    family->name = std::string(name);
    family->help = std::string(help);
    family->label_names = label_names;
    family->bounds = std::move(bounds);
    const std::vector<std::string> samples = sample_names(kind, family->name);
    for (const std::string &sample : samples)
        if (auto owner = impl_->sample_owner.find(sample); owner != impl_->sample_owner.end())
            throw MetricError("metric \"" + std::string(name) + "\": its sample name \"" + sample +
                              "\" is already exposed by metric \"" + owner->second +
                              "\"; sample names must be unique");
    for (const std::string &sample : samples)
        impl_->sample_owner.emplace(sample, family->name);
    MetricFamily *raw = family.get();
    impl_->families.emplace(family->name, std::move(family));
    return raw;
}

Counter MetricsRegistry::counter(std::string_view name, std::string_view help,
                                 const std::vector<std::string> &label_names) {
    return Counter(family(MetricKind::counter, name, help, label_names, {}));
}

Gauge MetricsRegistry::gauge(std::string_view name, std::string_view help,
                             const std::vector<std::string> &label_names) {
    return Gauge(family(MetricKind::gauge, name, help, label_names, {}));
}

Histogram MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                     const std::vector<std::string> &label_names,
                                     const std::vector<double> &buckets) {
    return Histogram(family(MetricKind::histogram, name, help, label_names, buckets));
}

std::string MetricsRegistry::render() const {
    std::vector<std::shared_ptr<const std::function<void()>>> collectors;
    {
        const std::lock_guard lock(impl_->collectors_mutex);
        for (const auto &entry : impl_->collectors)
            collectors.push_back(entry.second);
    }
    for (const auto &collect : collectors)
        (*collect)();
    std::string out;
    const std::lock_guard lock(impl_->mutex);
    for (const auto &[name, family] : impl_->families)
        detail::render_family(*family, out);
    return out;
}

std::vector<const detail::MetricFamily *>
detail::RegistryAccess::families(const MetricsRegistry &registry) {
    std::vector<const MetricFamily *> out;
    const std::lock_guard lock(registry.impl_->mutex);
    for (const auto &entry : registry.impl_->families)
        out.push_back(entry.second.get());
    return out;
}

std::shared_ptr<void>
detail::RegistryAccess::add_collector(const std::shared_ptr<MetricsRegistry> &registry,
                                      std::function<void()> collect) {
    auto shared = std::make_shared<const std::function<void()>>(std::move(collect));
    std::uint64_t key = 0;
    {
        const std::lock_guard lock(registry->impl_->collectors_mutex);
        key = registry->impl_->next_collector++;
        registry->impl_->collectors.emplace(key, std::move(shared));
    }
    // The handle keeps the registry alive: removal never outlives it.
    return std::shared_ptr<void>(nullptr, [registry, key](void *) {
        const std::lock_guard lock(registry->impl_->collectors_mutex);
        registry->impl_->collectors.erase(key);
    });
}

const std::vector<double> &default_duration_buckets() {
    static const std::vector<double> buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                             2.5,   5,    10,    30,   60,  120,  300, 600};
    return buckets;
}

const std::shared_ptr<MetricsRegistry> &default_metrics_registry() {
    // Never destroyed: series handles in static objects and threads still
    // running at exit may update it.
    static const auto *registry =
        new std::shared_ptr<MetricsRegistry>(std::make_shared<MetricsRegistry>());
    return *registry;
}

std::string metrics_text() {
    return default_metrics_registry()->render();
}

CounterSeries Counter::labels(std::initializer_list<std::string_view> values) const {
    return CounterSeries(detail::series_of(family_, values));
}
CounterSeries Counter::labels(const std::vector<std::string> &values) const {
    return CounterSeries(detail::series_of(family_, values));
}
GaugeSeries Gauge::labels(std::initializer_list<std::string_view> values) const {
    return GaugeSeries(detail::series_of(family_, values));
}
GaugeSeries Gauge::labels(const std::vector<std::string> &values) const {
    return GaugeSeries(detail::series_of(family_, values));
}
HistogramSeries Histogram::labels(std::initializer_list<std::string_view> values) const {
    return HistogramSeries(detail::series_of(family_, values));
}
HistogramSeries Histogram::labels(const std::vector<std::string> &values) const {
    return HistogramSeries(detail::series_of(family_, values));
}

void CounterSeries::inc(double amount) const noexcept {
    detail::cell_add(cell_, amount);
}
double CounterSeries::value() const noexcept {
    return detail::cell_value(cell_);
}
void GaugeSeries::set(double value) const noexcept {
    detail::cell_set(cell_, value);
}
void GaugeSeries::add(double amount) const noexcept {
    detail::cell_add(cell_, amount);
}
double GaugeSeries::value() const noexcept {
    return detail::cell_value(cell_);
}
void HistogramSeries::observe(double value) const noexcept {
    detail::cell_observe(cell_, value);
}
uint64_t HistogramSeries::count() const noexcept {
    if (!cell_)
        return 0;
    uint64_t total = 0;
    for (std::size_t i = 0; i <= cell_->bounds->size(); ++i)
        total += cell_->buckets[i].load(std::memory_order_relaxed);
    return total;
}
double HistogramSeries::sum() const noexcept {
    return cell_ ? cell_->value.load(std::memory_order_relaxed) : 0;
}

} // namespace cloudhost
