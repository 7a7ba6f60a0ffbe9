#include "driver_metrics_service.hpp"

#include "metric_family.hpp"
#include "name_rules.hpp"

#include "cloudhost/errors.hpp"
#include "core/abi_errors.hpp"

#include <vector>

namespace cloudhost::detail {
namespace {

std::string_view view(ch_str s) noexcept {
    return s.len ? std::string_view(s.data, s.len) : std::string_view();
}

// Rule violations answer CH_ERR_INVALID_CONFIG with the rule; anything else
// (out of memory) CH_ERR_GENERIC. Nothing is thrown across the ABI.
template <class Fn> ch_status guard(ch_error *error, Fn &&fn) noexcept {
    try {
        try {
            fn();
            return CH_OK;
        } catch (const MetricError &e) {
            throw InvalidConfigError(std::string("metrics: ") + e.what());
        }
    } catch (...) {
        return error_from_current_exception(error);
    }
}

const char *const reserved_labels[] = {"driver", "instance_set_id"};

} // namespace

std::string driver_metric_prefix(std::string_view driver_name) {
    // Driver names are [a-z0-9_-]+ (the catalog checks); '-' is not allowed
    // in metric names.
    std::string prefix = "cloudhost_driver_";
    for (const char c : driver_name)
        prefix += c == '-' ? '_' : c;
    return prefix + '_';
}

DriverMetricsService::DriverMetricsService(std::shared_ptr<MetricsRegistry> registry,
                                           std::string driver_name, std::string instance_set_id)
    : registry_(registry ? registry : default_metrics_registry()),
      driver_name_(std::move(driver_name)), prefix_(driver_metric_prefix(driver_name_)),
      instance_set_id_(std::move(instance_set_id)),
      c_metrics_{sizeof(ch_metrics), this, &register_metric, &series, &add, &set, &observe} {}

std::string DriverMetricsService::exposed_name(std::string_view name) const {
    return prefix_ + std::string(name);
}

MetricFamily *DriverMetricsService::do_register(const ch_metric_desc &desc) {
    if (desc.struct_size < offsetof(ch_metric_desc, bucket_count) + sizeof desc.bucket_count)
        throw MetricError("metric descriptor: struct_size " + std::to_string(desc.struct_size) +
                          " is smaller than ch_metric_desc of ABI 1");
    const std::string_view name = view(desc.name);
    check_metric_name(name); // the driver's own name, so the error shows what it wrote
    MetricKind kind;
    switch (desc.kind) {
    case CH_METRIC_COUNTER:
        kind = MetricKind::counter;
        break;
    case CH_METRIC_GAUGE:
        kind = MetricKind::gauge;
        break;
    case CH_METRIC_HISTOGRAM:
        kind = MetricKind::histogram;
        break;
    default:
        throw MetricError("metric \"" + std::string(name) + "\": kind " +
                          std::to_string(desc.kind) +
                          " is none of counter (1), gauge (2), histogram (3)");
    }
    if (desc.label_count > MetricLimits::max_labels - 2)
        throw MetricError("metric \"" + std::string(name) + "\": more than " +
                          std::to_string(MetricLimits::max_labels - 2) +
                          " label names (the host adds driver and instance_set_id)");
    if (desc.label_count && !desc.label_names)
        throw MetricError("metric \"" + std::string(name) + "\": label_names is NULL");
    std::vector<std::string> labels(std::begin(reserved_labels), std::end(reserved_labels));
    for (std::size_t i = 0; i < desc.label_count; ++i) {
        const std::string_view label = view(desc.label_names[i]);
        for (const char *reserved : reserved_labels)
            if (label == reserved)
                throw MetricError("label name \"" + std::string(label) + "\" of metric \"" +
                                  std::string(name) + "\": reserved, the host adds it");
        if (label.size() > MetricLimits::max_name_bytes)
            throw MetricError("label name #" + std::to_string(i + 1) + " of metric \"" +
                              std::string(name) + "\": longer than " +
                              std::to_string(MetricLimits::max_name_bytes) + " bytes");
        labels.emplace_back(label);
    }
    std::vector<double> buckets;
    if (kind == MetricKind::histogram) {
        if (desc.bucket_count > MetricLimits::max_buckets + 1)
            throw MetricError("buckets of histogram \"" + std::string(name) + "\": more than " +
                              std::to_string(MetricLimits::max_buckets) + " bounds");
        if (desc.bucket_count && !desc.buckets)
            throw MetricError("buckets of histogram \"" + std::string(name) + "\": NULL");
        if (desc.bucket_count)
            buckets.assign(desc.buckets, desc.buckets + desc.bucket_count);
        else
            buckets = default_duration_buckets();
    }
    if (desc.help.len > MetricLimits::max_help_bytes)
        check_help(name, view(desc.help)); // throws, naming the limit
    MetricFamily *family =
        registry_->family(kind, exposed_name(name), view(desc.help), labels, buckets);
    const std::lock_guard lock(mutex_);
    issued_.insert(family);
    return family;
}

ch_status DriverMetricsService::register_metric(void *ctx, const ch_metric_desc *desc,
                                                ch_metric **out, ch_error *error) noexcept {
    auto *self = static_cast<DriverMetricsService *>(ctx);
    return guard(error, [&] {
        if (!desc || !out)
            throw MetricError("register_metric: desc and out must not be NULL");
        *out = reinterpret_cast<ch_metric *>(self->do_register(*desc));
    });
}

ch_status DriverMetricsService::series(void *ctx, ch_metric *metric, const ch_str *label_values,
                                       size_t count, ch_metric_series **out,
                                       ch_error *error) noexcept {
    auto *self = static_cast<DriverMetricsService *>(ctx);
    return guard(error, [&] {
        auto *family = reinterpret_cast<MetricFamily *>(metric);
        {
            const std::lock_guard lock(self->mutex_);
            if (!out || !self->issued_.count(family))
                throw MetricError("series: not a metric this service registered");
        }
        if (count != family->label_names.size() - 2)
            throw MetricError(std::to_string(count) + " label values given for metric \"" +
                              family->name + "\", which has " +
                              std::to_string(family->label_names.size() - 2) +
                              " label names (besides driver and instance_set_id)");
        if (count && !label_values)
            throw MetricError("series: label_values is NULL");
        std::vector<std::string_view> values{self->driver_name_, self->instance_set_id_};
        for (std::size_t i = 0; i < count; ++i)
            values.push_back(view(label_values[i]));
        *out = reinterpret_cast<ch_metric_series *>(family->series(values));
    });
}

void DriverMetricsService::add(void *, ch_metric_series *series, double value) noexcept {
    cell_add(reinterpret_cast<MetricCell *>(series), value);
}
void DriverMetricsService::set(void *, ch_metric_series *series, double value) noexcept {
    cell_set(reinterpret_cast<MetricCell *>(series), value);
}
void DriverMetricsService::observe(void *, ch_metric_series *series, double value) noexcept {
    cell_observe(reinterpret_cast<MetricCell *>(series), value);
}

} // namespace cloudhost::detail
