// Copying metric values between registries of different processes: an
// isolated driver records into a registry in its helper process; the host
// takes a snapshot of it over the helper protocol when its own registry is
// rendered (a collector), and applies it to its registry, where the driver's
// metrics then look exactly as they would in process.
//
// A snapshot comes from a process that runs untrusted code: applying one
// checks every family against the rules of the registry and against what
// that driver may publish (names under its own prefix, its driver and
// instance_set_id label values); what breaks a rule is skipped and named.
#pragma once

#include "cloudhost/metrics.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cloudhost::detail {

struct SeriesSnapshot {
    std::vector<std::string> label_values;
    double value = 0;                   // a counter's or gauge's value; a histogram's sum
    std::vector<std::uint64_t> buckets; // histogram: per bucket, not cumulative; +Inf last
};

struct FamilySnapshot {
    MetricKind kind = MetricKind::counter;
    std::string name;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> bounds; // histogram bucket upper bounds, without +Inf
    std::vector<SeriesSnapshot> series;
};

std::vector<FamilySnapshot> take_snapshot(const MetricsRegistry &registry);

// Who may publish what: a family's name starts with `name_prefix`, its first
// label names are `driver` and `instance_set_id`, and every series carries
// these two values.
struct SnapshotScope {
    std::string name_prefix;
    std::string driver;
    std::string instance_set_id;
};

// Sets `registry`'s series to the snapshot's values (creating families and
// series as needed). Returns one line per family or series skipped, naming
// the rule it broke.
std::vector<std::string> apply_snapshot(MetricsRegistry &registry, const SnapshotScope &scope,
                                        const std::vector<FamilySnapshot> &families);

// Runs `collect` at the start of every render() of `registry` (outside the
// registry's lock) until the returned handle is destroyed. `collect` must
// not throw; it may run on several threads at once.
std::shared_ptr<void> add_collector(const std::shared_ptr<MetricsRegistry> &registry,
                                    std::function<void()> collect);

// The registry's internals the functions above need.
struct RegistryAccess {
    static std::vector<const MetricFamily *> families(const MetricsRegistry &registry);
    static std::shared_ptr<void> add_collector(const std::shared_ptr<MetricsRegistry> &registry,
                                               std::function<void()> collect);
};

} // namespace cloudhost::detail
