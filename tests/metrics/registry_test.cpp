// The registry: Prometheus naming rules, the text format 0.0.4 byte for byte,
// idempotent registration, and exact values under 8 threads. Every rendered
// text also passes `promtool check metrics`.
#include "promtool_check.hpp"

#include "cloudhost/metrics.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace cloudhost;
using metrics_test::check_with_promtool;

namespace {

std::string refusal(const std::function<void()> &register_it) {
    try {
        register_it();
    } catch (const MetricError &e) {
        return e.what();
    }
    return "(accepted)";
}

} // namespace

TEST_CASE("counters, gauges and histograms render in the text format 0.0.4, sorted") {
    MetricsRegistry registry;
    auto zeta = registry.gauge("zeta_bytes", "Last.");
    auto calls = registry.counter("app_calls_total", "Calls made.", {"method", "code"});
    auto latency = registry.histogram("app_latency_seconds", "Latency.", {"method"}, {0.1, 0.5, 1});
    calls.labels({"put", "200"}).inc(2);
    calls.labels({"get", "500"}).inc();
    calls.labels({"get", "200"}).inc(0.5);
    zeta.labels({}).set(-3.25);
    const HistogramSeries get = latency.labels({"get"});
    get.observe(0.1); // le is inclusive
    get.observe(0.3);
    get.observe(7);
    const std::string text = registry.render();
    CHECK(text == "# HELP app_calls_total Calls made.\n"
                  "# TYPE app_calls_total counter\n"
                  "app_calls_total{method=\"get\",code=\"200\"} 0.5\n"
                  "app_calls_total{method=\"get\",code=\"500\"} 1\n"
                  "app_calls_total{method=\"put\",code=\"200\"} 2\n"
                  "# HELP app_latency_seconds Latency.\n"
                  "# TYPE app_latency_seconds histogram\n"
                  "app_latency_seconds_bucket{method=\"get\",le=\"0.1\"} 1\n"
                  "app_latency_seconds_bucket{method=\"get\",le=\"0.5\"} 2\n"
                  "app_latency_seconds_bucket{method=\"get\",le=\"1\"} 2\n"
                  "app_latency_seconds_bucket{method=\"get\",le=\"+Inf\"} 3\n"
                  "app_latency_seconds_sum{method=\"get\"} 7.4\n"
                  "app_latency_seconds_count{method=\"get\"} 3\n"
                  "# HELP zeta_bytes Last.\n"
                  "# TYPE zeta_bytes gauge\n"
                  "zeta_bytes -3.25\n");
    CHECK(registry.render() == text); // stable
    check_with_promtool(text);
}

TEST_CASE("label values and help text are escaped") {
    MetricsRegistry registry;
    registry.counter("escaped_total", "Back\\slash.", {"path"})
        .labels({R"(C:\dir "quoted")"})
        .inc();
    registry.histogram("plain_seconds", "No labels.", {}, {1}).labels({}).observe(2);
    const std::string text = registry.render();
    CHECK(text.find("# HELP escaped_total Back\\\\slash.\n") != std::string::npos);
    CHECK(text.find(R"(escaped_total{path="C:\\dir \"quoted\""} 1)") != std::string::npos);
    CHECK(text.find("plain_seconds_bucket{le=\"+Inf\"} 1\nplain_seconds_sum 2\n"
                    "plain_seconds_count 1\n") != std::string::npos);
    check_with_promtool(text);
}

TEST_CASE("special values render as Prometheus writes them") {
    MetricsRegistry registry;
    auto g = registry.gauge("special_values", "Specials.", {"which"});
    g.labels({"pinf"}).set(INFINITY);
    g.labels({"ninf"}).set(-INFINITY);
    g.labels({"nan"}).set(NAN);
    g.labels({"big"}).set(1e21);
    g.labels({"small"}).set(0.005);
    const std::string text = registry.render();
    CHECK(text.find("{which=\"pinf\"} +Inf\n") != std::string::npos);
    CHECK(text.find("{which=\"ninf\"} -Inf\n") != std::string::npos);
    CHECK(text.find("{which=\"nan\"} NaN\n") != std::string::npos);
    CHECK(text.find("{which=\"big\"} 1e+21\n") != std::string::npos);
    CHECK(text.find("{which=\"small\"} 0.005\n") != std::string::npos);
    check_with_promtool(text);
}

TEST_CASE("bad metric names are refused naming the rule") {
    MetricsRegistry r;
    struct Case {
        std::string name, rule;
    };
    for (const Case &c : std::vector<Case>{
             {"", "must not be empty"},
             {"9lives_total", "must match [a-zA-Z_:][a-zA-Z0-9_:]* (byte 1)"},
             {"with-dash_total", "must match [a-zA-Z_:][a-zA-Z0-9_:]* (byte 5)"},
             {"with space", "must match"},
             {"caf\xc3\xa9_total", "must match"},
             {"__reserved_total", "reserved for Prometheus"},
             {std::string(201, 'a'), "longer than 200 bytes"},
         }) {
        INFO(c.name);
        for (const auto &attempt : std::vector<std::function<void()>>{
                 [&] { r.counter(c.name, "h"); }, [&] { r.gauge(c.name, "h"); },
                 [&] { r.histogram(c.name, "h"); }}) {
            const std::string message = refusal(attempt);
            CHECK(message.find(c.rule) != std::string::npos);
            CHECK(message.find("metric name") == 0);
        }
    }
    CHECK(refusal([&] { r.counter("ns:sub_total", "colons are allowed"); }) == "(accepted)");
    CHECK(r.render().find("ns:sub_total 0") == std::string::npos); // no series yet
}

TEST_CASE("bad label names are refused naming the rule") {
    MetricsRegistry r;
    struct Case {
        std::vector<std::string> labels;
        std::string rule;
    };
    for (const Case &c : std::vector<Case>{
             {{""}, "must not be empty"},
             {{"1st"}, "must match [a-zA-Z_][a-zA-Z0-9_]* (byte 1)"},
             {{"a:b"}, "must match [a-zA-Z_][a-zA-Z0-9_]* (byte 2)"},
             {{"__name__"}, "reserved for Prometheus"},
             {{"code", "code"}, "label names must be unique"},
             {std::vector<std::string>(17, "x"), "more than 16 label names"},
         }) {
        INFO((c.labels.empty() ? std::string() : c.labels.front()));
        CHECK(refusal([&] { r.counter("labels_total", "h", c.labels); }).find(c.rule) !=
              std::string::npos);
        CHECK(refusal([&] { r.histogram("labels_seconds", "h", c.labels); }).find(c.rule) !=
              std::string::npos);
    }
    CHECK(refusal([&] {
              r.histogram("le_seconds", "h", {"le"});
          }).find("\"le\" is reserved in histograms") != std::string::npos);
    CHECK(refusal([&] { r.counter("le_total", "h", {"le"}); }) == "(accepted)");
}

TEST_CASE("help, buckets and label values are checked") {
    MetricsRegistry r;
    CHECK(refusal([&] { r.counter("help_total", "two\nlines"); }).find("control") !=
          std::string::npos);
    CHECK(refusal([&] {
              r.counter("help_total", std::string(1025, 'h'));
          }).find("longer than 1024 bytes") != std::string::npos);
    CHECK(refusal([&] {
              r.histogram("b1_seconds", "h", {}, {});
          }).find("at least one finite bucket bound") != std::string::npos);
    CHECK(refusal([&] {
              r.histogram("b2_seconds", "h", {}, {1, 1});
          }).find("strictly increasing (bound #2)") != std::string::npos);
    CHECK(refusal([&] {
              r.histogram("b3_seconds", "h", {}, {1, NAN});
          }).find("bound #2 is not finite") != std::string::npos);
    CHECK(refusal([&] {
              r.histogram("b4_seconds", "h", {}, std::vector<double>(65, 1));
          }).find("more than 64 bounds") != std::string::npos);
    CHECK(refusal([&] { r.histogram("b5_seconds", "h", {}, {1, INFINITY}); }) == "(accepted)");

    auto c = r.counter("values_total", "h", {"a", "b"});
    CHECK(refusal([&] {
              c.labels({"only one"});
          }).find("1 label values given of metric \"values_total\", which has 2") !=
          std::string::npos);
    CHECK(refusal([&] {
              c.labels({"ok", "bad\xff"});
          }).find("value of label \"b\"") != std::string::npos);
    CHECK(refusal([&] { c.labels({"ok", "line\nbreak"}); }).find("control") != std::string::npos);
    CHECK(refusal([&] {
              c.labels({"ok", std::string(1025, 'v')});
          }).find("longer than 1024 bytes") != std::string::npos);
    CHECK(r.render().find("values_total{") == std::string::npos); // nothing half-made
}

TEST_CASE("registering again returns the same metric; a different shape is refused") {
    MetricsRegistry r;
    auto first = r.counter("same_total", "h", {"a"});
    auto second = r.counter("same_total", "h", {"a"});
    first.labels({"x"}).inc();
    second.labels({"x"}).inc();
    CHECK(r.counter("same_total", "h", {"a"}).labels({"x"}).value() == 2);
    CHECK(refusal([&] {
              r.gauge("same_total", "h", {"a"});
          }).find("already registered as a counter with labels (a)") != std::string::npos);
    CHECK(refusal([&] {
              r.counter("same_total", "h", {"b"});
          }).find("one name has one type and one label set") != std::string::npos);
    r.histogram("lat_seconds", "h", {}, {1, 2});
    CHECK(refusal([&] {
              r.histogram("lat_seconds", "h", {}, {1, 3});
          }).find("other buckets") != std::string::npos);
    // A histogram exposes _bucket, _sum and _count: no other metric may.
    CHECK(refusal([&] { r.gauge("lat_seconds_count", "h"); })
              .find("sample name \"lat_seconds_count\" is already exposed by metric "
                    "\"lat_seconds\"") != std::string::npos);
    r.counter("other_sum", "h");
    CHECK(refusal([&] {
              r.histogram("other", "h");
          }).find("\"other_sum\" is already exposed by metric \"other_sum\"") != std::string::npos);
    check_with_promtool(r.render());
}

TEST_CASE("a metric holds at most max_series_per_metric series") {
    MetricsRegistry r;
    auto c = r.counter("many_total", "h", {"i"});
    for (std::size_t i = 0; i < MetricLimits::max_series_per_metric; ++i)
        c.labels({std::to_string(i)});
    CHECK(refusal([&] { c.labels({"one more"}); }).find("limit of label combinations") !=
          std::string::npos);
    CHECK_NOTHROW(c.labels({"0"})); // existing ones still resolve
}

TEST_CASE("counters ignore negative and NaN; a default handle does nothing") {
    MetricsRegistry r;
    auto c = r.counter("mono_total", "h").labels({});
    c.inc(3);
    c.inc(-1);
    c.inc(NAN);
    CHECK(c.value() == 3);
    auto h = r.histogram("nan_seconds", "h", {}, {1}).labels({});
    h.observe(NAN);
    CHECK(h.count() == 0);
    CounterSeries inert;
    inert.inc();
    CHECK(!inert.valid());
    CHECK(inert.value() == 0);
    Counter unregistered;
    CHECK(!unregistered.labels({}).valid());
}

TEST_CASE("8 threads updating the same series lose nothing") {
    MetricsRegistry r;
    auto counter = r.counter("threads_total", "h", {"kind"});
    auto gauge = r.gauge("threads_in_flight", "h").labels({});
    auto histogram = r.histogram("threads_seconds", "h", {}, {0.5, 1.5}).labels({});
    constexpr int threads = 8, per_thread = 20000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            // Each thread also creates series of its own while others update.
            const CounterSeries mine = counter.labels({"t" + std::to_string(t)});
            const CounterSeries shared = counter.labels({"shared"});
            for (int i = 0; i < per_thread; ++i) {
                shared.inc();
                mine.inc(2);
                gauge.add(i % 2 ? 1 : -1);
                histogram.observe(i % 2); // 0 or 1: exactly representable sums
            }
        });
    for (auto &t : pool)
        t.join();
    CHECK(counter.labels({"shared"}).value() == threads * per_thread);
    for (int t = 0; t < threads; ++t)
        CHECK(counter.labels({"t" + std::to_string(t)}).value() == 2 * per_thread);
    CHECK(gauge.value() == 0);
    CHECK(histogram.count() == threads * per_thread);
    CHECK(histogram.sum() == threads * per_thread / 2);
    const std::string text = r.render();
    CHECK(text.find("threads_seconds_bucket{le=\"0.5\"} 80000\n") != std::string::npos);
    CHECK(text.find("threads_seconds_bucket{le=\"+Inf\"} 160000\n") != std::string::npos);
    check_with_promtool(text);
}

TEST_CASE("the default buckets span cloud calls, 5 ms to 10 minutes") {
    const auto &b = default_duration_buckets();
    REQUIRE(!b.empty());
    CHECK(b.front() == 0.005);
    CHECK(b.back() == 600);
    MetricsRegistry r;
    CHECK_NOTHROW(r.histogram("default_seconds", "h")); // they obey the rules
}

TEST_CASE("the default registry is one per process and renders through metrics_text()") {
    CHECK(default_metrics_registry() == default_metrics_registry());
    default_metrics_registry()->counter("registry_test_total", "h").labels({}).inc();
    const std::string text = metrics_text();
    CHECK(text.find("registry_test_total 1\n") != std::string::npos);
    check_with_promtool(text);
}

TEST_CASE("listen addresses: HOST:PORT and [IPV6]:PORT, anything else names the rule") {
    CHECK(parse_listen_address("127.0.0.1:9100").host == "127.0.0.1");
    CHECK(parse_listen_address("127.0.0.1:9100").port == 9100);
    CHECK(parse_listen_address("[::1]:0").host == "::1");
    CHECK(parse_listen_address("localhost:65535").port == 65535);
    CHECK(parse_listen_address("9100").host == "127.0.0.1"); // loopback unless told
    CHECK(parse_listen_address("9100").port == 9100);
    for (const char *bad : {"", "host", ":9100", "127.0.0.1:", "127.0.0.1:x", "1.2.3.4:65536",
                            "::1:9100", "[::1]9100", "[::1"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_listen_address(bad), std::invalid_argument);
    }
}
