// Prometheus's naming rules, checked when a metric is registered and when a
// series is created. Each throws MetricError naming the metric and the rule.
#pragma once

#include "metric_family.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::detail {

// [a-zA-Z_:][a-zA-Z0-9_:]*, not starting with "__", at most max_name_bytes.
void check_metric_name(std::string_view name);
// Each [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", unique, at most
// max_labels of them; "le" only in no histogram (it names the buckets).
void check_label_names(std::string_view metric, MetricKind kind,
                       const std::vector<std::string> &label_names);
// UTF-8 text without control characters, at most max_help_bytes.
void check_help(std::string_view metric, std::string_view help);
// At least one, at most max_buckets, finite, strictly increasing (a final
// +Inf is implied and may be given).
std::vector<double> checked_buckets(std::string_view metric, const std::vector<double> &buckets);
// As many values as label names; each UTF-8 without control characters, at
// most max_label_value_bytes.
void check_label_values(const MetricFamily &family, const std::vector<std::string_view> &values);

const char *kind_name(MetricKind kind) noexcept;

} // namespace cloudhost::detail
