// The storage behind registry handles: one MetricFamily per metric name,
// one MetricCell per label combination. Cells never move or go away while
// the registry lives, so handles keep raw pointers to them; updates are
// relaxed atomics (no lock, no allocation).
#pragma once

#include "cloudhost/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::detail {

// Own cache line: series updated by different threads do not share one.
struct alignas(64) MetricCell {
    MetricKind kind = MetricKind::counter;
    std::atomic<double> value{0}; // counter, gauge; a histogram's sum
    // A counter's whole increments: one locked add instead of a
    // compare-and-swap loop on `value` (inc() by 1 is the common case).
    std::atomic<uint64_t> whole{0};
    // Histogram: per-bucket (non-cumulative) counts, bounds.size() + 1 of
    // them (the last is +Inf); `bounds` is the family's.
    const std::vector<double> *bounds = nullptr;
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;
};

inline void cell_add(MetricCell *cell, double amount) noexcept {
    if (!cell || std::isnan(amount))
        return;
    if (cell->kind == MetricKind::counter && amount < 0)
        return;
    if (cell->kind == MetricKind::counter && amount == 1)
        cell->whole.fetch_add(1, std::memory_order_relaxed);
    else if (cell->kind != MetricKind::histogram)
        cell->value.fetch_add(amount, std::memory_order_relaxed);
}

// A counter's or gauge's current value.
inline double cell_value(const MetricCell *cell) noexcept {
    if (!cell)
        return 0;
    return cell->value.load(std::memory_order_relaxed) +
           static_cast<double>(cell->whole.load(std::memory_order_relaxed));
}

inline void cell_set(MetricCell *cell, double value) noexcept {
    if (cell && cell->kind == MetricKind::gauge)
        cell->value.store(value, std::memory_order_relaxed);
}

inline void cell_observe(MetricCell *cell, double value) noexcept {
    if (!cell || cell->kind != MetricKind::histogram || std::isnan(value))
        return;
    const std::vector<double> &bounds = *cell->bounds;
    // Bucket i counts values <= bounds[i] ("le"); past the last: +Inf.
    const auto index = static_cast<std::size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
    cell->buckets[index].fetch_add(1, std::memory_order_relaxed);
    cell->value.fetch_add(value, std::memory_order_relaxed);
}

// Overwrites a cell with values copied from another registry (a snapshot):
// a counter's or gauge's value, a histogram's sum and per-bucket counts.
inline void cell_store(MetricCell *cell, double value,
                       const std::vector<uint64_t> &buckets) noexcept {
    if (!cell)
        return;
    cell->value.store(value, std::memory_order_relaxed);
    cell->whole.store(0, std::memory_order_relaxed);
    if (cell->kind == MetricKind::histogram && buckets.size() == cell->bounds->size() + 1)
        for (std::size_t i = 0; i < buckets.size(); ++i)
            cell->buckets[i].store(buckets[i], std::memory_order_relaxed);
}

struct MetricFamily {
    MetricKind kind = MetricKind::counter;
    std::string name;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> bounds; // histogram bucket upper bounds, without +Inf

    // Finds or creates the series for `values` (in label_names order).
    // MetricError naming the rule for a wrong count, bad value, or too many
    // series.
    MetricCell *series(const std::vector<std::string_view> &values);

    mutable std::mutex mutex; // guards `cells` (not the cells' atomics)
    std::map<std::vector<std::string>, std::unique_ptr<MetricCell>, std::less<>> cells;
};

} // namespace cloudhost::detail
