// Copying metrics from an isolated driver's helper registry into the host's:
// values survive exactly (counters, gauges, histograms), and a snapshot
// forged by a compromised helper cannot write outside that driver's names,
// labels and instance set, nor store values Prometheus would reject.
#include "promtool_check.hpp"

#include "cloudhost/metrics.hpp"
#include "metrics/metrics_snapshot.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace cloudhost;
using detail::FamilySnapshot;
using detail::SeriesSnapshot;
using metrics_test::check_with_promtool;

namespace {

const detail::SnapshotScope scope{"cloudhost_driver_acme_", "acme", "set-1"};

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

FamilySnapshot counter_family(std::string name, double value, std::string set = "set-1") {
    FamilySnapshot f;
    f.kind = MetricKind::counter;
    f.name = std::move(name);
    f.help = "Calls.";
    f.label_names = {"driver", "instance_set_id", "op"};
    f.series.push_back(SeriesSnapshot{{"acme", std::move(set), "create"}, value, {}});
    return f;
}

} // namespace

TEST_CASE("a snapshot of one registry applied to another renders the same samples") {
    MetricsRegistry helper;
    const std::vector<std::string> labels{"driver", "instance_set_id", "zone"};
    helper.counter("cloudhost_driver_acme_calls_total", "Calls.", labels)
        .labels({"acme", "set-1", "east"})
        .inc(41.5);
    helper.gauge("cloudhost_driver_acme_instances", "Instances.", labels)
        .labels({"acme", "set-1", "west"})
        .set(-3);
    const auto histogram =
        helper.histogram("cloudhost_driver_acme_boot_seconds", "Boot.", labels, {1, 10, 100});
    for (const double v : {0.5, 5.0, 50.0, 500.0, 5.0})
        histogram.labels({"acme", "set-1", "east"}).observe(v);

    auto host = std::make_shared<MetricsRegistry>();
    const auto problems = detail::apply_snapshot(*host, scope, detail::take_snapshot(helper));
    CHECK(problems.empty());
    CHECK(host->render() == helper.render());
    check_with_promtool(host->render());

    // Applying a later snapshot sets, it does not add (a helper restart
    // shows as a counter reset, as a process restart would).
    auto later =
        std::vector<FamilySnapshot>{counter_family("cloudhost_driver_acme_calls_total", 2)};
    later[0].label_names = labels;
    later[0].series[0].label_values = {"acme", "set-1", "east"};
    CHECK(detail::apply_snapshot(*host, scope, later).empty());
    CHECK(contains(host->render(),
                   "cloudhost_driver_acme_calls_total{driver=\"acme\",instance_set_id=\"set-1\","
                   "zone=\"east\"} 2\n"));
}

TEST_CASE("a forged snapshot cannot write outside its driver, labels or set, nor bad values") {
    auto host = std::make_shared<MetricsRegistry>();
    const auto host_counter = host->counter("cloudhost_instances_total", "Host's own.", {});
    host_counter.labels({}).inc(7);

    std::vector<FamilySnapshot> forged;
    forged.push_back(counter_family("cloudhost_instances_total", 1000));           // a host metric
    forged.push_back(counter_family("cloudhost_driver_other_calls", 1));           // another driver
    forged.push_back(counter_family("cloudhost_driver_acme_a_total", 1, "set-2")); // another set
    forged.push_back(counter_family("cloudhost_driver_acme_b_total", -5));         // counter down
    forged.push_back(
        counter_family("cloudhost_driver_acme_c_total", std::numeric_limits<double>::quiet_NaN()));
    auto no_scope_labels = counter_family("cloudhost_driver_acme_d_total", 1);
    no_scope_labels.label_names = {"op", "driver", "instance_set_id"};
    no_scope_labels.series[0].label_values = {"create", "acme", "set-1"};
    forged.push_back(no_scope_labels);
    auto short_series = counter_family("cloudhost_driver_acme_e_total", 1);
    short_series.series[0].label_values.pop_back();
    forged.push_back(short_series);
    auto bad_name = counter_family("cloudhost_driver_acme_f-g", 1);
    forged.push_back(bad_name);
    FamilySnapshot histogram;
    histogram.kind = MetricKind::histogram;
    histogram.name = "cloudhost_driver_acme_h_seconds";
    histogram.label_names = {"driver", "instance_set_id"};
    histogram.bounds = {1, 2};
    histogram.series.push_back(SeriesSnapshot{{"acme", "set-1"}, 1, {1, 2}}); // 2 of 3 buckets
    forged.push_back(histogram);
    forged.push_back(counter_family("cloudhost_driver_acme_ok_total", 3)); // the one good family

    const auto problems = detail::apply_snapshot(*host, scope, forged);
    CHECK(problems.size() == forged.size() - 1);
    for (const auto &p : problems)
        CHECK_MESSAGE(p.find("metric") != std::string::npos, p);
    const std::string text = host->render();
    INFO(text);
    CHECK(host_counter.labels({}).value() == 7);
    CHECK_FALSE(contains(text, "other"));
    CHECK_FALSE(contains(text, "set-2"));
    CHECK_FALSE(contains(text, "acme_b_total"));
    CHECK_FALSE(contains(text, "acme_c_total"));
    CHECK_FALSE(contains(text, "acme_e_total{"));
    CHECK_FALSE(contains(text, "acme_h_seconds_bucket"));
    CHECK(contains(text, "cloudhost_driver_acme_ok_total{driver=\"acme\",instance_set_id=\"set-1\","
                         "op=\"create\"} 3\n"));
    check_with_promtool(text);
}

TEST_CASE("collectors run before each render and stop when their handle goes") {
    auto registry = std::make_shared<MetricsRegistry>();
    const auto gauge = registry->gauge("renders", "Renders seen.");
    int runs = 0;
    auto handle = detail::add_collector(registry, [&] { gauge.labels({}).set(++runs); });
    CHECK(contains(registry->render(), "renders 1\n"));
    CHECK(contains(registry->render(), "renders 2\n"));
    handle.reset();
    CHECK(contains(registry->render(), "renders 2\n"));
    CHECK(runs == 2);
}
