// The drivers we ship publish real metrics through the ABI (issue 13): the
// stub (C++ SDK) counts Creates by outcome, so an injected quota or capacity
// error shows under its class; the C example counts Creates by outcome; the
// loopback driver times its instance servers' launches. Each also reports
// what its last Instances() listed. Real .so files, dlopen'd, a registry of
// the test's own, every rendering checked with promtool.
#include "promtool_check.hpp"
#include "temp_dir.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "cloudhost/metrics.hpp"
#include "cloudhost/ssh_key.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace cloudhost;
using metrics_test::check_with_promtool;
using metrics_test::sample;

namespace {

std::shared_ptr<DriverLibrary> open_shipped(const std::string &dir, const std::string &name) {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE_MESSAGE(root != nullptr, "CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    const std::string path = std::string(root) + "/plugins/" + dir + "/" + name + ".so";
    return DriverLibrary::open(path, read_driver_metadata(path));
}

struct Opened {
    std::shared_ptr<MetricsRegistry> registry = std::make_shared<MetricsRegistry>();
    InstanceSet set;
};

Opened open_with_registry(const std::string &dir, const std::string &name,
                          const std::string &set_id, const std::string &config) {
    Opened opened;
    InstanceSetOptions options;
    options.instance_set_id = set_id;
    options.config_json = config;
    options.metrics_registry = opened.registry;
    options.isolation.mode = IsolationMode::none;
    opened.set = InstanceSet::open(open_shipped(dir, name), options);
    return opened;
}

InstanceType type_named(const std::string &name) {
    InstanceType type;
    type.name = type.provider_type = name;
    type.vcpus = 1;
    return type;
}

std::string labels(const std::string &driver, const std::string &set_id,
                   const std::string &extra = {}) {
    return "{driver=\"" + driver + "\",instance_set_id=\"" + set_id + "\"" +
           (extra.empty() ? "" : "," + extra) + "}";
}

} // namespace

TEST_CASE("the stub publishes Creates by outcome, Destroys and the instances it listed") {
    const std::string id = "zzzzz-zzzzz-zzzzzstubmetric";
    const std::string prefix = "cloudhost_driver_stub_";
    // A quota of 2 and no capacity for "gpu": the third small Create hits the
    // quota, every gpu Create the capacity error.
    auto opened = open_with_registry(
        "stub", "stub", id,
        R"({"cloud": "shipped-metrics-1", "quota_max_instances": 2, "capacity_errors": [{"provider_type": "gpu"}]})");
    std::vector<Instance> made;
    for (int i = 0; i < 2; ++i)
        made.push_back(opened.set.create(type_named("small"), "", {}, "", std::nullopt));
    CHECK_THROWS_AS(opened.set.create(type_named("small"), "", {}, "", std::nullopt), QuotaError);
    made[0].destroy();
    CHECK_THROWS_AS(opened.set.create(type_named("gpu"), "", {}, "", std::nullopt), CapacityError);
    CHECK(opened.set.instances({}).size() == 1);

    const std::string text = opened.registry->render();
    INFO(text);
    CHECK(sample(text, prefix + "creates_total" + labels("stub", id, "outcome=\"ok\"")) == 2);
    CHECK(sample(text, prefix + "creates_total" + labels("stub", id, "outcome=\"quota\"")) == 1);
    CHECK(sample(text, prefix + "creates_total" + labels("stub", id, "outcome=\"capacity\"")) == 1);
    CHECK(sample(text, prefix + "creates_total" + labels("stub", id, "outcome=\"rate_limit\"")) ==
          0);
    CHECK(sample(text, prefix + "destroys_total" + labels("stub", id, "outcome=\"ok\"")) == 1);
    CHECK(sample(text, prefix + "instances" + labels("stub", id)) == 1);
    check_with_promtool(text);
}

TEST_CASE("the stub's injected destroy errors are counted as such") {
    const std::string id = "zzzzz-zzzzz-zzzzstubdestroy";
    auto opened = open_with_registry("stub", "stub", id,
                                     R"({"cloud": "shipped-metrics-2", "error_rate_destroy": 1})");
    Instance instance = opened.set.create(type_named("small"), "", {}, "", std::nullopt);
    CHECK_THROWS(instance.destroy());
    const std::string text = opened.registry->render();
    INFO(text);
    CHECK(sample(text, "cloudhost_driver_stub_destroys_total" +
                           labels("stub", id, "outcome=\"error\"")) == 1);
    CHECK(sample(text, "cloudhost_driver_stub_destroys_total" +
                           labels("stub", id, "outcome=\"ok\"")) == 0);
    check_with_promtool(text);
}

TEST_CASE("the C example publishes Creates by outcome and the instances it listed") {
    const std::string id = "zzzzz-zzzzz-examplemetric00";
    const std::string prefix = "cloudhost_driver_example_";
    auto opened = open_with_registry("example", "example", id, R"({"max_instances": 1})");
    Instance instance = opened.set.create(type_named("small"), "", {}, "", std::nullopt);
    CHECK_THROWS_AS(opened.set.create(type_named("small"), "", {}, "", std::nullopt), QuotaError);
    CHECK(opened.set.instances({}).size() == 1);
    const std::string text = opened.registry->render();
    INFO(text);
    CHECK(sample(text, prefix + "creates_total" + labels("example", id, "outcome=\"ok\"")) == 1);
    CHECK(sample(text, prefix + "creates_total" + labels("example", id, "outcome=\"quota\"")) == 1);
    CHECK(sample(text, prefix + "instances" + labels("example", id)) == 1);
    check_with_promtool(text);
    instance.destroy();
}

TEST_CASE("the loopback driver times its servers' launches and reports what it listed") {
    const std::string id = "zzzzz-zzzzz-loopbackmetric0";
    const std::string prefix = "cloudhost_driver_loopback_";
    test::TempDir state("cloudhost-loopback-metrics");
    auto opened = open_with_registry("loopback", "loopback", id,
                                     R"({"state_dir": ")" + state.path().string() + R"("})");
    const SshKey key = SshKey::generate_ed25519();
    Instance instance =
        opened.set.create(type_named("localhost"), "", {}, "", key.public_key_openssh());
    CHECK(opened.set.instances({}).size() == 1);
    std::string text = opened.registry->render();
    INFO(text);
    CHECK(sample(text,
                 prefix + "server_launches_total" + labels("loopback", id, "outcome=\"ok\"")) == 1);
    CHECK(sample(text, prefix + "server_launch_seconds_count" + labels("loopback", id)) == 1);
    CHECK(sample(text, prefix + "server_launch_seconds_sum" + labels("loopback", id)) > 0);
    CHECK(sample(text, prefix + "instances" + labels("loopback", id)) == 1);
    check_with_promtool(text);
    instance.destroy();
    CHECK(opened.set.instances({}).empty());
    CHECK(sample(opened.registry->render(), prefix + "instances" + labels("loopback", id)) == 0);
}
