// The Prometheus text exposition format 0.0.4, one metric family at a time.
#pragma once

#include "metric_family.hpp"

#include <string>
#include <string_view>

namespace cloudhost::detail {

// Appends "# HELP", "# TYPE" and every series of `family` (sorted by label
// values; histograms as _bucket{le=...} cumulative, +Inf, _sum, _count).
void render_family(const MetricFamily &family, std::string &out);

// A sample value as Prometheus writes it: shortest round-trip decimal,
// "+Inf", "-Inf", "NaN".
void append_value(std::string &out, double value);
// A label value between quotes: backslash, double quote and newline escaped.
void append_label_value(std::string &out, std::string_view value);

} // namespace cloudhost::detail
