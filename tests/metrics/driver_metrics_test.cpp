// Drivers publishing metrics through the ch_metrics service: a pure C driver
// and a C++ SDK driver (real .so files built by this suite, dlopen'd),
// updating from 8 threads; names and labels that break a rule refused with
// the rule; a driver built against the header of before the service, and
// drivers under a host without the service, still run.
#include "cloudhost/internal/access.hpp"
#include "helper_processes.hpp"
#include "promtool_check.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/metrics.hpp"
#include "metrics/driver_metrics_service.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace cloudhost;
using metrics_test::check_with_promtool;

namespace {

const std::string set_id = "zzzzz-zzzzz-zzzzzzzmetrics";

std::shared_ptr<DriverLibrary> open_test_driver(const std::string &name) {
    const char *dir = std::getenv("METRICS_TEST_DRIVER_DIR");
    REQUIRE_MESSAGE(dir != nullptr, "METRICS_TEST_DRIVER_DIR is not set (run through meson test)");
    DriverInfo info;
    info.name = name;
    info.version = "1.0.0";
    info.abi_min = info.abi_max = 1;
    return DriverLibrary::open(std::filesystem::path(dir) / (name + ".so"), info);
}

ch_str str(const std::string &s) {
    return {s.data(), s.size()};
}

// One driver instance set opened through the raw table, as the host's
// binding opens it: `metrics` may be null, `args_size` may be the size of
// ch_instance_set_args of before the service.
class RawSet {
  public:
    RawSet(std::shared_ptr<DriverLibrary> library, const ch_metrics *metrics,
           std::string config = "{}", std::size_t args_size = sizeof(ch_instance_set_args))
        : library_(std::move(library)), config_(std::move(config)) {
        ch_instance_set_args args{};
        args.struct_size = static_cast<uint32_t>(args_size);
        args.config_json = str(config_);
        args.instance_set_id = str(set_id);
        if (args_size > offsetof(ch_instance_set_args, metrics))
            args.metrics = metrics;
        error_.struct_size = sizeof error_;
        status_ =
            cloudhost::detail::driver_table(*library_).instance_set_new(&args, &set_, &error_);
    }
    ~RawSet() {
        if (set_) {
            cloudhost::detail::driver_table(*library_).instance_set_stop(set_);
            cloudhost::detail::driver_table(*library_).instance_set_free(set_);
        }
    }
    RawSet(const RawSet &) = delete;
    RawSet &operator=(const RawSet &) = delete;

    ch_status status() const { return status_; }
    std::string error() const { return error_.message; }

    // Creates one instance of type "small" (2 vCPUs) and releases it.
    void create() const {
        static const std::string name = "small", provider = "small.v1";
        ch_instance_type type{};
        type.struct_size = sizeof type;
        type.name = str(name);
        type.provider_type = str(provider);
        type.vcpus = 2;
        ch_create_args args{};
        args.struct_size = sizeof args;
        args.instance_type = &type;
        ch_instance *got = nullptr;
        ch_instance_sink sink{&got, [](void *ctx, ch_instance *instance, const ch_instance_desc *) {
                                  *static_cast<ch_instance **>(ctx) = instance;
                              }};
        ch_error error{};
        error.struct_size = sizeof error;
        REQUIRE(cloudhost::detail::driver_table(*library_).create(set_, &args, &sink, &error) ==
                CH_OK);
        REQUIRE(got != nullptr);
        cloudhost::detail::driver_table(*library_).instance_release(got);
    }

  private:
    std::shared_ptr<DriverLibrary> library_;
    std::string config_;
    ch_instance_set *set_ = nullptr;
    ch_error error_{};
    ch_status status_ = CH_ERR_GENERIC;
};

bool contains(const std::string &text, const std::string &line) {
    return text.find(line) != std::string::npos;
}

} // namespace

TEST_CASE("a C driver and a C++ SDK driver publish metrics from 8 threads, exactly") {
    for (const std::string driver : {"metrics-c", "metrics-sdk"}) {
        INFO(driver);
        const std::string prefix =
            driver == "metrics-c" ? "cloudhost_driver_metrics_c_" : "cloudhost_driver_metrics_sdk_";
        auto registry = std::make_shared<MetricsRegistry>();
        detail::DriverMetricsService service(registry, driver, set_id);
        RawSet set(open_test_driver(driver), service.c_metrics());
        REQUIRE_MESSAGE(set.status() == CH_OK, set.error());
        constexpr int threads = 8, per_thread = 500;
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                for (int i = 0; i < per_thread; ++i)
                    set.create();
            });
        for (auto &t : pool)
            t.join();
        const std::string labels = "driver=\"" + driver + "\",instance_set_id=\"" + set_id + "\"";
        const std::string text = registry->render();
        INFO(text);
        CHECK(contains(text, "# TYPE " + prefix + "creates_total counter\n"));
        CHECK(contains(text,
                       prefix + "creates_total{" + labels + ",instance_type=\"small\"} 4000\n"));
        CHECK(contains(text, prefix + "instances{" + labels + "} 4000\n"));
        CHECK(contains(text, prefix + "create_vcpus_bucket{" + labels + ",le=\"1\"} 0\n"));
        CHECK(contains(text, prefix + "create_vcpus_bucket{" + labels + ",le=\"2\"} 4000\n"));
        CHECK(contains(text, prefix + "create_vcpus_sum{" + labels + "} 8000\n"));
        CHECK(contains(text, prefix + "create_vcpus_count{" + labels + "} 4000\n"));
        check_with_promtool(text);
    }
}

TEST_CASE("sets of one driver share its metrics, told apart by instance_set_id") {
    auto registry = std::make_shared<MetricsRegistry>();
    auto library = open_test_driver("metrics-c");
    detail::DriverMetricsService first(registry, "metrics-c", set_id);
    detail::DriverMetricsService second(registry, "metrics-c", "zzzzz-zzzzz-zzzzzzzzsecond");
    RawSet a(library, first.c_metrics());
    RawSet b(library, second.c_metrics());
    REQUIRE(a.status() == CH_OK);
    REQUIRE(b.status() == CH_OK);
    a.create();
    b.create();
    b.create();
    const std::string text = registry->render();
    CHECK(contains(text, "instance_set_id=\"" + set_id + "\",instance_type=\"small\"} 1\n"));
    CHECK(contains(text,
                   "instance_set_id=\"zzzzz-zzzzz-zzzzzzzzsecond\",instance_type=\"small\"} 2\n"));
    check_with_promtool(text);
}

TEST_CASE("names and labels that break a rule are refused with the rule, nothing registered") {
    struct Case {
        std::string spec, rule;
    };
    const std::vector<Case> cases{
        {"9lives_total", "metric name \"9lives_total\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"},
        {"bad-dash_total", "must match [a-zA-Z_:][a-zA-Z0-9_:]* (byte 4)"},
        {"__hidden_total", "names starting with \"__\" are reserved for Prometheus"},
        {"", "must not be empty"},
        {"ok_total:driver",
         "label name \"driver\" of metric \"ok_total\": reserved, the host adds it"},
        {"ok_total:instance_set_id", "reserved, the host adds it"},
        {"ok_total:__x", "names starting with \"__\" are reserved"},
        {"ok_total:a-b", "must match [a-zA-Z_][a-zA-Z0-9_]*"},
        {"ok_total:", "label name \"\" of metric"},
    };
    for (const std::string driver : {"metrics-c", "metrics-sdk"})
        for (const Case &c : cases) {
            INFO(driver << " " << c.spec);
            auto registry = std::make_shared<MetricsRegistry>();
            detail::DriverMetricsService service(registry, driver, set_id);
            RawSet set(open_test_driver(driver), service.c_metrics(), "bad:" + c.spec);
            CHECK(set.status() != CH_OK);
            if (driver == "metrics-c") // the C driver passes the host's answer through
                CHECK(set.status() == CH_ERR_INVALID_CONFIG);
            CHECK(contains(set.error(), c.rule));
            CHECK(contains(set.error(), "metrics: "));
            CHECK(registry->render().empty());
        }
}

TEST_CASE("the service checks what a driver hands it: kind, sizes, handles, label counts") {
    auto registry = std::make_shared<MetricsRegistry>();
    detail::DriverMetricsService service(registry, "metrics-c", set_id);
    const ch_metrics *m = service.c_metrics();
    ch_error error{};
    error.struct_size = sizeof error;
    const std::string name = "probe_total", help = "Probe.", le = "le", zone = "zone";
    ch_metric_desc desc{};
    desc.struct_size = sizeof desc;
    desc.kind = 9;
    desc.name = str(name);
    desc.help = str(help);
    ch_metric *metric = nullptr;
    CHECK(m->register_metric(m->ctx, &desc, &metric, &error) == CH_ERR_INVALID_CONFIG);
    CHECK(contains(error.message, "kind 9 is none of counter (1), gauge (2), histogram (3)"));

    desc.kind = CH_METRIC_HISTOGRAM;
    const ch_str le_label = str(le);
    desc.label_names = &le_label;
    desc.label_count = 1;
    CHECK(m->register_metric(m->ctx, &desc, &metric, &error) == CH_ERR_INVALID_CONFIG);
    CHECK(contains(error.message, "\"le\" is reserved in histograms"));

    desc.struct_size = offsetof(ch_metric_desc, buckets);
    CHECK(m->register_metric(m->ctx, &desc, &metric, &error) == CH_ERR_INVALID_CONFIG);
    CHECK(contains(error.message, "smaller than ch_metric_desc"));

    desc.struct_size = sizeof desc;
    desc.kind = CH_METRIC_COUNTER;
    const ch_str zone_label = str(zone);
    desc.label_names = &zone_label;
    REQUIRE(m->register_metric(m->ctx, &desc, &metric, &error) == CH_OK);
    ch_metric_series *series = nullptr;
    CHECK(m->series(m->ctx, metric, nullptr, 0, &series, &error) == CH_ERR_INVALID_CONFIG);
    CHECK(contains(error.message, "0 label values given for metric "
                                  "\"cloudhost_driver_metrics_c_probe_total\", which has 1"));
    const std::string bad_value = "new\nline";
    const ch_str bad = str(bad_value);
    CHECK(m->series(m->ctx, metric, &bad, 1, &series, &error) == CH_ERR_INVALID_CONFIG);
    CHECK(contains(error.message, "value of label \"zone\""));
    // A handle from another service (another driver's set) is refused.
    detail::DriverMetricsService other(registry, "other", set_id);
    const std::string east = "east";
    const ch_str east_value = str(east);
    CHECK(other.c_metrics()->series(other.c_metrics()->ctx, metric, &east_value, 1, &series,
                                    &error) == CH_ERR_INVALID_CONFIG);
    CHECK(contains(error.message, "not a metric this service registered"));

    REQUIRE(m->series(m->ctx, metric, &east_value, 1, &series, &error) == CH_OK);
    m->add(m->ctx, series, 2);
    m->add(m->ctx, series, -5);  // a counter never goes down
    m->set(m->ctx, series, 100); // nor is it set
    m->observe(m->ctx, series, 1);
    const std::string text = registry->render();
    CHECK(contains(text, "cloudhost_driver_metrics_c_probe_total{driver=\"metrics-c\","
                         "instance_set_id=\"" +
                             set_id + "\",zone=\"east\"} 2\n"));
    check_with_promtool(text);
}

TEST_CASE("a driver built against the header of before the metrics service loads and runs") {
    auto registry = std::make_shared<MetricsRegistry>();
    detail::DriverMetricsService service(registry, "old-header", set_id);
    RawSet set(open_test_driver("old-header"), service.c_metrics());
    REQUIRE_MESSAGE(set.status() == CH_OK, set.error());
    set.create();
    CHECK(registry->render().empty());
}

TEST_CASE("drivers with metrics run under a host without the service") {
    for (const std::string driver : {"metrics-c", "metrics-sdk"}) {
        INFO(driver);
        // A host of before the service: its ch_instance_set_args ends before `metrics`.
        RawSet old_host(open_test_driver(driver), nullptr, "{}",
                        offsetof(ch_instance_set_args, metrics));
        REQUIRE_MESSAGE(old_host.status() == CH_OK, old_host.error());
        old_host.create();
        // A host that knows the member but offers no service.
        RawSet no_service(open_test_driver(driver), nullptr);
        REQUIRE_MESSAGE(no_service.status() == CH_OK, no_service.error());
        no_service.create();
    }
}

namespace {

using test_support::helper_children;

std::string line_of(const std::string &text, const std::string &start) {
    const auto at = text.find(start);
    return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
}

} // namespace

TEST_CASE("an isolated driver's metrics reach the host's registry when it renders; crashes and "
          "restarts are counted") {
    const std::string driver = "metrics-c", prefix = "cloudhost_driver_metrics_c_";
    const std::string isolated_set_id = "zzzzz-zzzzz-zzzzzzzzmetrics";
    const std::string labels =
        "driver=\"" + driver + "\",instance_set_id=\"" + isolated_set_id + "\"";
    auto registry = std::make_shared<MetricsRegistry>();
    InstanceSetOptions options;
    options.config_json = "{}";
    options.instance_set_id = isolated_set_id;
    options.metrics_registry = registry;
    options.isolation.mode = IsolationMode::process;
    auto set = InstanceSet::open(open_test_driver(driver), options);
    InstanceType small;
    small.name = "small";
    small.provider_type = "small.v1";
    small.vcpus = 2;
    for (int i = 0; i < 3; ++i)
        set.create(small, "", {}, "", std::nullopt);

    std::string text = registry->render();
    INFO(text);
    CHECK(contains(text, prefix + "creates_total{" + labels + ",instance_type=\"small\"} 3\n"));
    CHECK(contains(text, prefix + "create_vcpus_bucket{" + labels + ",le=\"2\"} 3\n"));
    CHECK(contains(text, prefix + "create_vcpus_sum{" + labels + "} 6\n"));
    check_with_promtool(text);
    set.create(small, "", {}, "", std::nullopt);
    CHECK(contains(registry->render(),
                   prefix + "creates_total{" + labels + ",instance_type=\"small\"} 4\n"));

    // The helper dies: counted once it is noticed; the next call restarts it,
    // whose registry starts from zero (a counter reset, as for any process).
    const auto helpers = helper_children();
    REQUIRE(helpers.size() == 1);
    ::kill(helpers[0], SIGKILL);
    const std::string crashes = "cloudhost_isolated_driver_crashes_total{" + labels + "}";
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line_of(registry->render(), crashes).empty() &&
           std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    text = registry->render();
    CHECK(line_of(text, crashes) == crashes + " 1");
    // Values of a dead helper stay as last seen.
    CHECK(contains(text, prefix + "creates_total{" + labels + ",instance_type=\"small\"} 4\n"));
    set.create(small, "", {}, "", std::nullopt);
    text = registry->render();
    CHECK(contains(text, "cloudhost_isolated_driver_restarts_total{" + labels + "} 1\n"));
    CHECK(contains(text, prefix + "creates_total{" + labels + ",instance_type=\"small\"} 1\n"));
    check_with_promtool(text);
}
