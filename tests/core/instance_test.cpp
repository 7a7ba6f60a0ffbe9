// Instance calls through the wrappers: strings, live tags, price history,
// quota groups and the command runner bridge.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"
#include "core/command_runner_bridge.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace cloudhost;
using namespace core_test;
using namespace std::chrono_literals;

namespace {

InstancePrice at(int seconds, double price) {
    return {Clock::time_point(std::chrono::seconds(seconds)), price};
}

} // namespace

TEST_CASE("normalize_price_history: newest first, runs of equal prices keep their oldest point") {
    CHECK(normalize_price_history({}).empty());
    CHECK(normalize_price_history({at(1, 0.5)}) == std::vector{at(1, 0.5)});
    // Arvados's test case shape: unsorted, with a repeated time and price runs.
    const std::vector<InstancePrice> in{at(1, 1.0), at(5, 2.0), at(3, 1.0), at(4, 2.0),
                                        at(2, 1.0), at(5, 3.0), at(6, 3.0)};
    // Each point is compared with its successor in time order: (5, 2.0) goes
    // (same time as (5, 3.0)), 3 and 2 go (same price as the next); (6, 3.0)
    // stays since its successor was (5, 2.0).
    const std::vector<InstancePrice> expected{at(6, 3.0), at(5, 3.0), at(4, 2.0), at(1, 1.0)};
    CHECK(normalize_price_history(in) == expected);
}

TEST_CASE("instance accessors go through the driver") {
    LogCapture log;
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(R"({"cloud": ")" + unique_cloud("instance") +
                                                  R"(", "ssh_port": 2222, "stale_tags_ms": 60000})",
                                              log.logger()));
    const auto before = Clock::now();
    auto instance = set.create(type("c5", 0.75), "img", {{"k", "v"}}, "", std::nullopt);
    const auto after = Clock::now();
    CHECK(instance.id().find(",c5") != std::string::npos);
    CHECK(instance.provider_type() == "c5");
    CHECK(instance.string() == instance.id());
    CHECK(instance.remote_user() == "root");
    CHECK(instance.address() == "127.0.0.1:2222");

    // Tags are fetched live: the stub keeps answering stale tags for a while.
    const auto tags_calls = log.stub_calls("tags");
    instance.set_tags({{"k", "w"}});
    CHECK(instance.tags() == Tags{{"k", "v"}});
    CHECK(log.stub_calls("tags") == tags_calls + 1);

    const auto prices = instance.price_history(type("c5", 0.75));
    REQUIRE(prices.size() == 1);
    CHECK(prices[0].price == 0.75);
    CHECK(prices[0].start_time >= before - 1s);
    CHECK(prices[0].start_time <= after + 1s);

    CHECK(set.instance_quota_group(type("c5")) == "c");
    CHECK(set.instance_quota_group(type("c5", 0.1, true)) == "c-p");
    // The provider type defaults to the name, as in Arvados.
    InstanceType unnamed_provider;
    unnamed_provider.name = "m1";
    CHECK(set.instance_quota_group(unnamed_provider) == "m");
}

TEST_CASE("the address is empty while the stub instance boots") {
    auto lib = open_stub();
    auto set = InstanceSet::open(
        lib, options(R"({"cloud": ")" + unique_cloud("boot") + R"(", "boot_delay_ms": 60000})"));
    auto instance = set.create(type("t1"), "img", {}, "", std::nullopt);
    CHECK(instance.address().empty());
}

namespace {

struct ScriptedRunner : CommandRunner {
    enum class Mode { answer, fail, not_implemented, throw_int } mode = Mode::answer;
    std::string last_command, last_stdin;
    CommandOutput run(std::string_view command, std::string_view stdin_data) override {
        last_command = command;
        last_stdin = stdin_data;
        switch (mode) {
        case Mode::answer:
            return {"out:" + std::string(command), "err", 3};
        case Mode::fail:
            throw DriverError("connection lost");
        case Mode::not_implemented:
            throw NotImplementedError("no such thing");
        case Mode::throw_int:
            throw 7;
        }
        return {};
    }
};

struct Output {
    std::string out, err;
    static void append(void *ctx, ch_str s) {
        static_cast<std::string *>(ctx)->append(s.data, s.len);
    }
};

} // namespace

TEST_CASE("the command runner bridge carries output and turns exceptions into ch_error") {
    ScriptedRunner runner;
    detail::CommandRunnerBridge bridge(runner);
    const ch_command_runner *c = bridge.get();
    REQUIRE(c->struct_size == sizeof(ch_command_runner));
    Output output;
    ch_string_sink out{&output.out, &Output::append};
    ch_string_sink err{&output.err, &Output::append};
    ch_error error{};
    error.struct_size = sizeof error;
    int exit_status = -1;
    const std::string command = "cat /var/run/secret";
    CHECK(c->run(c->ctx, {command.data(), command.size()}, {"in", 2}, &out, &err, &exit_status,
                 &error) == CH_OK);
    CHECK(output.out == "out:" + command);
    CHECK(output.err == "err");
    CHECK(exit_status == 3);
    CHECK(runner.last_stdin == "in");

    runner.mode = ScriptedRunner::Mode::fail;
    CHECK(c->run(c->ctx, {"x", 1}, {}, &out, &err, &exit_status, &error) == CH_ERR_GENERIC);
    CHECK(std::string(error.message) == "connection lost");
    runner.mode = ScriptedRunner::Mode::not_implemented;
    CHECK(c->run(c->ctx, {"x", 1}, {}, &out, &err, &exit_status, &error) == CH_ERR_NOT_IMPLEMENTED);
    runner.mode = ScriptedRunner::Mode::throw_int;
    CHECK(c->run(c->ctx, {"x", 1}, {}, &out, &err, &exit_status, &error) == CH_ERR_GENERIC);
    CHECK(std::string(error.message).find("unknown exception") != std::string::npos);
}
