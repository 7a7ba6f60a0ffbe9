#include "name_rules.hpp"

#include "core/validation.hpp"
#include "metric_family.hpp"

#include <cmath>
#include <set>

namespace cloudhost::detail {
namespace {

bool is_letter(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

[[noreturn]] void fail(const std::string &message) {
    throw MetricError(message);
}

std::string quoted(std::string_view s) {
    return "\"" + printable(s) + "\"";
}

} // namespace

const char *kind_name(MetricKind kind) noexcept {
    switch (kind) {
    case MetricKind::counter:
        return "counter";
    case MetricKind::gauge:
        return "gauge";
    case MetricKind::histogram:
        return "histogram";
    }
    return "?";
}

void check_metric_name(std::string_view name) {
    const std::string what = "metric name " + quoted(name);
    if (name.empty())
        fail(what + ": must not be empty (rule [a-zA-Z_:][a-zA-Z0-9_:]*)");
    if (name.size() > MetricLimits::max_name_bytes)
        fail(what + ": longer than " + std::to_string(MetricLimits::max_name_bytes) + " bytes");
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (!(is_letter(c) || c == '_' || c == ':' || (i > 0 && is_digit(c))))
            fail(what + ": must match [a-zA-Z_:][a-zA-Z0-9_:]* (byte " + std::to_string(i + 1) +
                 ")");
    }
    if (name.substr(0, 2) == "__")
        fail(what + ": names starting with \"__\" are reserved for Prometheus");
}

void check_label_names(std::string_view metric, MetricKind kind,
                       const std::vector<std::string> &label_names) {
    const std::string of = " of metric " + quoted(metric);
    if (label_names.size() > MetricLimits::max_labels)
        fail("metric " + quoted(metric) + ": more than " +
             std::to_string(MetricLimits::max_labels) + " label names");
    std::set<std::string_view> seen;
    for (const std::string &label : label_names) {
        const std::string what = "label name " + quoted(label) + of;
        if (label.empty())
            fail(what + ": must not be empty (rule [a-zA-Z_][a-zA-Z0-9_]*)");
        if (label.size() > MetricLimits::max_name_bytes)
            fail(what + ": longer than " + std::to_string(MetricLimits::max_name_bytes) + " bytes");
        for (std::size_t i = 0; i < label.size(); ++i) {
            const char c = label[i];
            if (!(is_letter(c) || c == '_' || (i > 0 && is_digit(c))))
                fail(what + ": must match [a-zA-Z_][a-zA-Z0-9_]* (byte " + std::to_string(i + 1) +
                     ")");
        }
        if (label.substr(0, 2) == "__")
            fail(what + ": names starting with \"__\" are reserved for Prometheus");
        if (kind == MetricKind::histogram && label == "le")
            fail(what + ": \"le\" is reserved in histograms (it names the bucket bound)");
        if (!seen.insert(label).second)
            fail(what + ": label names must be unique");
    }
}

void check_help(std::string_view metric, std::string_view help) {
    if (help.size() > MetricLimits::max_help_bytes)
        fail("help of metric " + quoted(metric) + ": longer than " +
             std::to_string(MetricLimits::max_help_bytes) + " bytes");
    if (auto problem = text_problem(help))
        fail("help of metric " + quoted(metric) + ": " + *problem);
}

std::vector<double> checked_buckets(std::string_view metric, const std::vector<double> &buckets) {
    std::vector<double> bounds = buckets;
    if (!bounds.empty() && bounds.back() == INFINITY)
        bounds.pop_back(); // +Inf is always there
    const std::string what = "buckets of histogram " + quoted(metric);
    if (bounds.empty())
        fail(what + ": at least one finite bucket bound is required");
    if (bounds.size() > MetricLimits::max_buckets)
        fail(what + ": more than " + std::to_string(MetricLimits::max_buckets) + " bounds");
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i]))
            fail(what + ": bound #" + std::to_string(i + 1) + " is not finite");
        if (i > 0 && !(bounds[i] > bounds[i - 1]))
            fail(what + ": bounds must be strictly increasing (bound #" + std::to_string(i + 1) +
                 ")");
    }
    return bounds;
}

void check_label_values(const MetricFamily &family, const std::vector<std::string_view> &values) {
    const std::string of = " of metric " + quoted(family.name);
    if (values.size() != family.label_names.size())
        fail(std::to_string(values.size()) + " label values given" + of + ", which has " +
             std::to_string(family.label_names.size()) + " label names");
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::string what = "value of label " + quoted(family.label_names[i]) + of;
        if (values[i].size() > MetricLimits::max_label_value_bytes)
            fail(what + ": longer than " + std::to_string(MetricLimits::max_label_value_bytes) +
                 " bytes");
        if (auto problem = text_problem(values[i]))
            fail(what + ": " + *problem);
    }
}

} // namespace cloudhost::detail
