// End to end: metrics served over HTTP by MetricsServer (what `cloudhost
// watch --metrics-listen` runs) are scraped by a real Prometheus server and
// read back through its query API with exact values.
#include "cloudhost/internal/access.hpp"
#include "prometheus_fixture.hpp"
#include "promtool_check.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/metrics.hpp"
#include "metrics/driver_metrics_service.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>
#include <vector>

using namespace cloudhost;
using metrics_test::check_with_promtool;
using metrics_test::PrometheusServer;

namespace {

const std::string set_id = "zzzzz-zzzzz-zzzzzzzzscraped";

ch_str str(const std::string &s) {
    return {s.data(), s.size()};
}

std::shared_ptr<DriverLibrary> open_test_driver(const std::string &name) {
    const char *dir = std::getenv("METRICS_TEST_DRIVER_DIR");
    REQUIRE_MESSAGE(dir != nullptr, "METRICS_TEST_DRIVER_DIR is not set (run through meson test)");
    DriverInfo info;
    info.name = name;
    info.version = "1.0.0";
    info.abi_min = info.abi_max = 1;
    return DriverLibrary::open(std::filesystem::path(dir) / (name + ".so"), info);
}

} // namespace

TEST_CASE("MetricsServer answers GET /metrics in the text format, and nothing else") {
    auto registry = std::make_shared<MetricsRegistry>();
    registry->counter("served_total", "Served.").labels({}).inc(5);
    MetricsServer server(registry, "127.0.0.1", 0);
    REQUIRE(server.port() != 0);
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Get("/metrics");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == std::string(metrics_content_type));
    CHECK(res->body == registry->render());
    check_with_promtool(res->body);
    auto other = client.Get("/");
    REQUIRE(other);
    CHECK(other->status == 404);
    // The port is taken now: a second server says which address it could not use.
    try {
        MetricsServer second(registry, "127.0.0.1", server.port());
        FAIL("a second server bound a port in use");
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) ==
              "metrics: cannot listen on 127.0.0.1:" + std::to_string(server.port()) +
                  " (address in use, or not an address of this host)");
    }
}

TEST_CASE("Prometheus scrapes a C++ SDK driver's metrics updated from 8 threads, exactly") {
    auto registry = std::make_shared<MetricsRegistry>();
    auto library = open_test_driver("metrics-sdk");
    detail::DriverMetricsService service(registry, "metrics-sdk", set_id);
    const std::string config = "{}"; // outlives the call (str() borrows)
    ch_instance_set_args args{};
    args.struct_size = sizeof args;
    args.config_json = str(config);
    args.instance_set_id = str(set_id);
    args.metrics = service.c_metrics();
    ch_error error{};
    error.struct_size = sizeof error;
    ch_instance_set *set = nullptr;
    REQUIRE(cloudhost::detail::driver_table(*library).instance_set_new(&args, &set, &error) ==
            CH_OK);
    constexpr int threads = 8, per_thread = 250;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            const std::string name = "small", provider = "small.v1";
            ch_instance_type type{};
            type.struct_size = sizeof type;
            type.name = str(name);
            type.provider_type = str(provider);
            type.vcpus = 4;
            ch_create_args create{};
            create.struct_size = sizeof create;
            create.instance_type = &type;
            for (int i = 0; i < per_thread; ++i) {
                ch_instance *got = nullptr;
                ch_instance_sink sink{&got,
                                      [](void *ctx, ch_instance *in, const ch_instance_desc *) {
                                          *static_cast<ch_instance **>(ctx) = in;
                                      }};
                ch_error e{};
                e.struct_size = sizeof e;
                if (cloudhost::detail::driver_table(*library).create(set, &create, &sink, &e) ==
                        CH_OK &&
                    got)
                    cloudhost::detail::driver_table(*library).instance_release(got);
            }
        });
    for (auto &t : pool)
        t.join();

    MetricsServer server(registry, "127.0.0.1", 0);
    PrometheusServer prometheus(server.port());
    const std::string sel = "{driver=\"metrics-sdk\",instance_set_id=\"" + set_id + "\"";
    auto creates = prometheus.wait_for(
        "cloudhost_driver_metrics_sdk_creates_total" + sel + ",instance_type=\"small\"}", 2000);
    INFO("prometheus log: " << prometheus.log());
    CHECK(creates == 2000);
    CHECK(prometheus.query("cloudhost_driver_metrics_sdk_create_vcpus_count" + sel + "}") == 2000);
    CHECK(prometheus.query("cloudhost_driver_metrics_sdk_create_vcpus_bucket" + sel +
                           ",le=\"2\"}") == 0);
    CHECK(prometheus.query("cloudhost_driver_metrics_sdk_create_vcpus_bucket" + sel +
                           ",le=\"4\"}") == 2000);
    CHECK(prometheus.query("cloudhost_driver_metrics_sdk_instances" + sel + "}") == 2000);
    // Prometheus itself says the scrape went well.
    CHECK(prometheus.query("up{job=\"cloudhost\"}") == 1);
    cloudhost::detail::driver_table(*library).instance_set_stop(set);
    cloudhost::detail::driver_table(*library).instance_set_free(set);
}
