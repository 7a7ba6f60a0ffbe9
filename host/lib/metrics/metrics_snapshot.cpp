#include "metrics_snapshot.hpp"

#include "metric_family.hpp"

#include <cmath>

namespace cloudhost::detail {
namespace {

// The rule a family of a snapshot breaks for `scope`, or empty.
std::string scope_problem(const SnapshotScope &scope, const FamilySnapshot &family) {
    if (family.name.compare(0, scope.name_prefix.size(), scope.name_prefix) != 0)
        return "outside the driver's names (" + scope.name_prefix + "*)";
    if (family.label_names.size() < 2 || family.label_names[0] != "driver" ||
        family.label_names[1] != "instance_set_id")
        return "its first labels are not driver and instance_set_id";
    return {};
}

std::string series_problem(const SnapshotScope &scope, const FamilySnapshot &family,
                           const SeriesSnapshot &series) {
    if (series.label_values.size() != family.label_names.size())
        return std::to_string(series.label_values.size()) + " label values for " +
               std::to_string(family.label_names.size()) + " label names";
    if (series.label_values[0] != scope.driver || series.label_values[1] != scope.instance_set_id)
        return "a series of another driver or instance set";
    if (std::isnan(series.value) || std::isinf(series.value))
        return "a value that is not finite";
    if (family.kind == MetricKind::counter && series.value < 0)
        return "a negative counter";
    if (family.kind == MetricKind::histogram && series.buckets.size() != family.bounds.size() + 1)
        return std::to_string(series.buckets.size()) + " bucket counts for " +
               std::to_string(family.bounds.size() + 1) + " buckets";
    return {};
}

} // namespace

std::vector<FamilySnapshot> take_snapshot(const MetricsRegistry &registry) {
    std::vector<FamilySnapshot> out;
    for (const MetricFamily *family : RegistryAccess::families(registry)) {
        FamilySnapshot snap;
        snap.kind = family->kind;
        snap.name = family->name;
        snap.help = family->help;
        snap.label_names = family->label_names;
        snap.bounds = family->bounds;
        const std::lock_guard lock(family->mutex);
        for (const auto &[values, cell] : family->cells) {
            SeriesSnapshot series;
            series.label_values = values;
            if (family->kind == MetricKind::histogram) {
                series.value = cell->value.load(std::memory_order_relaxed);
                for (std::size_t i = 0; i <= family->bounds.size(); ++i)
                    series.buckets.push_back(cell->buckets[i].load(std::memory_order_relaxed));
            } else {
                series.value = cell_value(cell.get());
            }
            snap.series.push_back(std::move(series));
        }
        out.push_back(std::move(snap));
    }
    return out;
}

std::vector<std::string> apply_snapshot(MetricsRegistry &registry, const SnapshotScope &scope,
                                        const std::vector<FamilySnapshot> &families) {
    std::vector<std::string> problems;
    for (const FamilySnapshot &family : families) {
        const std::string where = "metric \"" + family.name + "\": ";
        if (auto problem = scope_problem(scope, family); !problem.empty()) {
            problems.push_back(where + problem);
            continue;
        }
        // Series first: a family none of whose series is acceptable is not
        // registered (no empty HELP/TYPE lines from a forged snapshot).
        std::vector<const SeriesSnapshot *> accepted;
        for (const SeriesSnapshot &series : family.series) {
            if (auto problem = series_problem(scope, family, series); !problem.empty())
                problems.push_back(where + problem);
            else
                accepted.push_back(&series);
        }
        if (accepted.empty() && !family.series.empty())
            continue;
        try {
            MetricFamily *target = registry.family(family.kind, family.name, family.help,
                                                   family.label_names, family.bounds);
            for (const SeriesSnapshot *series : accepted) {
                const std::vector<std::string_view> values(series->label_values.begin(),
                                                           series->label_values.end());
                cell_store(target->series(values), series->value, series->buckets);
            }
        } catch (const MetricError &e) {
            problems.emplace_back(e.what());
        }
    }
    return problems;
}

std::shared_ptr<void> add_collector(const std::shared_ptr<MetricsRegistry> &registry,
                                    std::function<void()> collect) {
    return RegistryAccess::add_collector(registry, std::move(collect));
}

} // namespace cloudhost::detail
