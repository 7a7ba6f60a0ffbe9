// The host's cloudhost_* metrics of an InstanceSet over the real stub driver:
// every outcome of a driver call, calls the host answers itself, limiter
// waits, the listing gauge; and drivers' own metrics through InstanceSet
// (C++ SDK driver), including a driver built against the old header.
#include "../core/stub_fixture.hpp"
#include "promtool_check.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/metrics.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace cloudhost;
using core_test::open_stub;
using core_test::type;
using metrics_test::check_with_promtool;
using metrics_test::sample;

namespace {

std::string config(const std::string &extra) {
    return R"({"cloud": ")" + core_test::unique_cloud("metrics") + "\"" +
           (extra.empty() ? "" : ", ") + extra + "}";
}

std::string calls(const std::string &op, const std::string &outcome) {
    return "cloudhost_driver_operations_total{driver=\"stub\",driver_version=\"1.0.0\","
           "instance_set_id=\"" +
           core_test::set_id + "\",operation=\"" + op + "\",outcome=\"" + outcome + "\"}";
}

} // namespace

TEST_CASE("driver calls are counted by operation and outcome, with their latency") {
    auto registry = std::make_shared<MetricsRegistry>();
    auto options = core_test::options(
        config(R"("quota_max_instances": 2, "capacity_errors": [{"provider_type": "full"}])"));
    options.metrics_registry = registry;
    auto set = InstanceSet::open(open_stub(), options);
    CHECK_THROWS_AS(set.create(type("full"), "img", {}, "", std::nullopt), CapacityError);
    set.create(type("t1"), "img", {}, "", std::nullopt);
    set.create(type("t1"), "img", {}, "", std::nullopt);
    CHECK_THROWS_AS(set.create(type("t1"), "img", {}, "", std::nullopt), QuotaError);
    auto listed = set.instances();
    REQUIRE(listed.size() == 2);
    listed[0].set_tags({{"k", "v"}});
    listed[0].destroy();
    CHECK(set.instances().size() == 1);

    const std::string text = registry->render();
    INFO(text);
    CHECK(sample(text, calls("create", "ok")) == 2);
    CHECK(sample(text, calls("create", "quota")) == 1);
    CHECK(sample(text, calls("create", "capacity")) == 1);
    CHECK(sample(text, calls("create", "rate_limit")) == 0);
    CHECK(sample(text, calls("instances", "ok")) == 2);
    CHECK(sample(text, calls("set_tags", "ok")) == 1);
    CHECK(sample(text, calls("destroy", "ok")) == 1);
    const std::string created_ok = "{driver=\"stub\",driver_version=\"1.0.0\",instance_set_id=\"" +
                                   core_test::set_id + "\",operation=\"create\",outcome=\"ok\"}";
    CHECK(sample(text, "cloudhost_driver_operation_duration_seconds_count" + created_ok) == 2);
    CHECK(sample(text, "cloudhost_driver_operation_duration_seconds_sum" + created_ok) > 0);
    CHECK(sample(text, "cloudhost_instances_listed{driver=\"stub\",instance_set_id=\"" +
                           core_test::set_id + "\"}") == 1);
    // The set's own counters() agree.
    const auto counters = set.counters();
    CHECK(counters[static_cast<std::size_t>(Operation::create)].calls == 4);
    check_with_promtool(text);
    // Nothing went to the default registry.
    CHECK(metrics_text().find(core_test::set_id) == std::string::npos);
}

TEST_CASE("calls the host answers after a rate limit, and limiter waits, are counted") {
    auto registry = std::make_shared<MetricsRegistry>();
    auto options = core_test::options(config(R"("rate_limit_create_for_ms": 60000)"));
    options.metrics_registry = registry;
    options.max_cloud_ops_per_second = 1000;
    auto set = InstanceSet::open(open_stub(), options);
    CHECK_THROWS_AS(set.create(type("t1"), "img", {}, "", std::nullopt), RateLimitError);
    // The driver said "not before a minute": the host answers these itself.
    CHECK_THROWS_AS(set.create(type("t1"), "img", {}, "", std::nullopt), RateLimitError);
    CHECK_THROWS_AS(set.instances(), RateLimitError);
    const std::string text = registry->render();
    INFO(text);
    CHECK(sample(text, calls("create", "rate_limit")) == 1);
    const std::string labels = "{driver=\"stub\",instance_set_id=\"" + core_test::set_id + "\",";
    CHECK(sample(text,
                 "cloudhost_driver_throttled_calls_total" + labels + "operation=\"create\"}") == 1);
    CHECK(sample(text, "cloudhost_driver_throttled_calls_total" + labels +
                           "operation=\"instances\"}") == 1);
    CHECK(sample(text, "cloudhost_ops_limiter_waits_total" + labels + "operation=\"create\"}") ==
          1);
    check_with_promtool(text);
}

TEST_CASE("a C++ SDK driver's metrics reach the set's registry through InstanceSet") {
    const char *dir = std::getenv("METRICS_TEST_DRIVER_DIR");
    REQUIRE(dir != nullptr);
    for (const std::string name : {"metrics-sdk", "metrics-c", "old-header"}) {
        INFO(name);
        DriverInfo info;
        info.name = name;
        info.version = "1.0.0";
        info.abi_min = info.abi_max = 1;
        auto registry = std::make_shared<MetricsRegistry>();
        InstanceSetOptions options;
        options.instance_set_id = core_test::set_id;
        options.metrics_registry = registry;
        auto set = InstanceSet::open(
            DriverLibrary::open(std::string(dir) + "/" + name + ".so", info), options);
        InstanceType small;
        small.name = "small";
        small.provider_type = "small.v1";
        small.vcpus = 2;
        set.create(small, "", {}, "", std::nullopt);
        set.create(small, "", {}, "", std::nullopt);
        const std::string text = registry->render();
        INFO(text);
        const bool publishes = name != "old-header";
        std::string prefix = "cloudhost_driver_" + name + "_";
        for (auto &c : prefix)
            if (c == '-')
                c = '_';
        CHECK(sample(text, prefix + "creates_total{driver=\"" + name + "\",instance_set_id=\"" +
                               core_test::set_id + "\",instance_type=\"small\"}") ==
              (publishes ? 2 : -1));
        CHECK(sample(text, "cloudhost_driver_operations_total{driver=\"" + name +
                               "\",driver_version=\"1.0.0\",instance_set_id=\"" +
                               core_test::set_id + "\",operation=\"create\",outcome=\"ok\"}") == 2);
        check_with_promtool(text);
    }
}
