// The dispatcher-side wrappers: tag filtering, shared resource tags, the
// rate-limit gate, the ops-per-second limiter and the counters.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace cloudhost;
using namespace core_test;
using namespace std::chrono_literals;

namespace {

const OperationStats &stats(const OperationCounters &c, Operation op) {
    return c[static_cast<std::size_t>(op)];
}

std::string cloud_config(const std::string &cloud, const std::string &extra = "") {
    return R"({"cloud": ")" + cloud + "\"" + (extra.empty() ? "" : ", ") + extra + "}";
}

} // namespace

TEST_CASE("instances() filters by tags even when the driver ignores the filter") {
    for (const bool ignored : {true, false}) {
        CAPTURE(ignored);
        LogCapture log;
        auto lib = open_stub();
        auto set = InstanceSet::open(
            lib, options(cloud_config(unique_cloud("filter"), std::string("\"filter_ignored\": ") +
                                                                  (ignored ? "true" : "false")),
                         log.logger()));
        auto a = set.create(type("t1"), "img", {{"role", "a"}, {"zone", "1"}}, "", std::nullopt);
        auto b = set.create(type("t1"), "img", {{"role", "b"}, {"zone", "1"}}, "", std::nullopt);

        CHECK(set.instances().size() == 2);
        const auto only_a = set.instances({{"role", "a"}});
        REQUIRE(only_a.size() == 1);
        CHECK(only_a[0].id() == a.id());
        CHECK(set.instances({{"role", "a"}, {"zone", "1"}}).size() == 1);
        CHECK(set.instances({{"role", "a"}, {"zone", "2"}}).empty());
        CHECK(set.instances({{"zone", "1"}}).size() == 2);
        CHECK(set.instances({{"missing", ""}}).empty());
        CHECK(log.stub_calls("instances") == 6); // every call reached the driver once
    }
}

TEST_CASE("shared resource tags are merged under the create tags; explicit tags win") {
    auto lib = open_stub();
    auto opts = options(cloud_config(unique_cloud("merge")));
    opts.shared_resource_tags = {{"owner", "shared"}, {"team", "ops"}};
    auto set = InstanceSet::open(lib, opts);
    auto instance =
        set.create(type("t1"), "img", {{"owner", "explicit"}, {"role", "x"}}, "", std::nullopt);
    const Tags expected{{"owner", "explicit"}, {"role", "x"}, {"team", "ops"}};
    CHECK(instance.tags() == expected);
    // Listing shows the same tags, and the filter sees the merged ones.
    const auto listed = set.instances({{"team", "ops"}});
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].tags() == expected);
}

TEST_CASE("after a RateLimitError no limited call reaches the driver before EarliestRetry") {
    const std::string cloud = unique_cloud("gate");
    auto lib = open_stub();
    // A second set on the same cloud makes an instance to act on.
    auto helper = InstanceSet::open(lib, options(cloud_config(cloud)));
    helper.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);

    LogCapture log;
    auto set = InstanceSet::open(
        lib, options(cloud_config(cloud, R"("rate_limit_create_for_ms": 1500)"), log.logger()));
    auto listed = set.instances();
    REQUIRE(listed.size() == 1);
    Instance instance = listed[0];

    Clock::time_point retry;
    try {
        set.create(type("t1"), "img", {}, "", std::nullopt);
        FAIL("the stub did not rate-limit create");
    } catch (const RateLimitError &e) {
        retry = e.earliest_retry();
    }
    REQUIRE(log.stub_calls("create") == 1);
    REQUIRE(log.stub_calls("instances") == 1);

    // Every limited kind is answered by the host until the retry time.
    int suppressed = 0;
    for (int round = 0; round < 3 && Clock::now() < retry - 200ms; ++round) {
        auto expect_suppressed = [&](auto &&call) {
            try {
                call();
                FAIL("a call went through during the suspension");
            } catch (const RateLimitError &e) {
                CHECK(std::string(e.what()).find("suppressed by the host until") !=
                      std::string::npos);
                CHECK(e.earliest_retry() == retry);
                ++suppressed;
            }
        };
        expect_suppressed([&] { set.create(type("t1"), "img", {}, "", std::nullopt); });
        expect_suppressed([&] { set.instances(); });
        expect_suppressed([&] { instance.set_tags({{"k", "w"}}); });
        expect_suppressed([&] { instance.destroy(); });
    }
    CHECK(suppressed >= 4);
    CHECK(log.stub_calls("create") == 1);
    CHECK(log.stub_calls("instances") == 1);
    CHECK(log.stub_calls("set_tags") == 0);
    CHECK(log.stub_calls("destroy") == 0);
    // Calls that do not talk to the cloud API stay available.
    CHECK_NOTHROW(instance.tags());

    const auto during = set.counters();
    CHECK(stats(during, Operation::create).calls == 1);
    CHECK(stats(during, Operation::create).throttled >= 1);
    CHECK(stats(during, Operation::destroy).calls == 0);

    // After EarliestRetry calls reach the driver again.
    std::this_thread::sleep_until(retry + 20ms);
    CHECK(set.instances().size() == 1);
    auto created = set.create(type("t1"), "img", {}, "", std::nullopt);
    instance.set_tags({{"k", "w"}});
    created.destroy();
    CHECK(log.stub_calls("create") == 2);
    CHECK(log.stub_calls("instances") == 2);
    CHECK(log.stub_calls("set_tags") == 1);
    CHECK(log.stub_calls("destroy") == 1);

    // The host said once that it suspended calls.
    std::size_t warnings = 0;
    for (const auto &r : log.records())
        if (r.text.rfind("suspending remote calls", 0) == 0)
            ++warnings;
    CHECK(warnings == 1);
}

TEST_CASE("the ops limiter gives every limited call its own tick") {
    auto lib = open_stub();
    auto opts = options(cloud_config(unique_cloud("limiter")));
    opts.max_cloud_ops_per_second = 20; // one tick per 50 ms
    auto set = InstanceSet::open(lib, opts);

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&set] {
            auto instance = set.create(type("t1"), "img", {}, "", std::nullopt);
            set.instances();
            instance.set_tags({{"a", "b"}});
            instance.destroy();
        });
    for (auto &t : threads)
        t.join();
    const auto elapsed = std::chrono::steady_clock::now() - start;

    const auto counters = set.counters();
    uint64_t ticks = 0;
    for (const auto &s : counters) {
        CHECK(s.ticks == s.calls); // each call that reached the driver had its tick
        ticks += s.ticks;
    }
    CHECK(ticks == 12);
    // Twelve distinct ticks 50 ms apart cannot fit in less than 11 intervals.
    CHECK(elapsed >= 11 * 50ms);
    // Calls that are not limited do not take ticks.
    set.instance_quota_group(type("t1"));
    uint64_t after = 0;
    for (const auto &s : set.counters())
        after += s.ticks;
    CHECK(after == 12);
}

TEST_CASE("without a limit no call waits for a tick; counters record calls and errors") {
    auto lib = open_stub();
    auto set = InstanceSet::open(
        lib, options(cloud_config(unique_cloud("counters"), R"("quota_max_instances": 2)")));
    set.create(type("t1"), "img", {}, "", std::nullopt);
    set.create(type("t1"), "img", {}, "", std::nullopt);
    CHECK_THROWS_AS(set.create(type("t1"), "img", {}, "", std::nullopt), QuotaError);
    for (auto &i : set.instances())
        i.destroy();
    const auto c = set.counters();
    CHECK(stats(c, Operation::create).calls == 3);
    CHECK(stats(c, Operation::create).errors == 1);
    CHECK(stats(c, Operation::create).ticks == 0);
    CHECK(stats(c, Operation::instances).calls == 1);
    CHECK(stats(c, Operation::destroy).calls == 2);
    CHECK(stats(c, Operation::destroy).errors == 0);
    CHECK(stats(c, Operation::create).max_latency > std::chrono::nanoseconds(0));
    CHECK(stats(c, Operation::create).total_latency >= stats(c, Operation::create).max_latency);
    CHECK(std::string(operation_name(Operation::set_tags)) == "set_tags");
}
