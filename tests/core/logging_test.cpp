// The logging bridge: level filtering before the driver formats, fields and
// the driver's name in the text.
#include "stub_fixture.hpp"

#include "cloudhost/internal/logging.hpp"

#include <doctest/doctest.h>

using namespace cloudhost;
using namespace core_test;

TEST_CASE("enabled() follows the spdlog logger's level, live") {
    LogCapture log(spdlog::level::info);
    DriverLogger bridge(log.logger(), "stub");
    const ch_logger *c = bridge.c_logger();
    REQUIRE(c->struct_size == sizeof(ch_logger));
    CHECK(c->enabled(c->ctx, CH_LOG_DEBUG) == 0);
    CHECK(c->enabled(c->ctx, CH_LOG_INFO) == 1);
    CHECK(c->enabled(c->ctx, CH_LOG_ERROR) == 1);
    log.logger()->set_level(spdlog::level::trace);
    CHECK(c->enabled(c->ctx, CH_LOG_TRACE) == 1);
    log.logger()->set_level(spdlog::level::off);
    CHECK(c->enabled(c->ctx, CH_LOG_ERROR) == 0);
}

TEST_CASE("records carry their fields, quoted when needed, and the driver name") {
    LogCapture log;
    DriverLogger bridge(log.logger(), "stub");
    const ch_logger *c = bridge.c_logger();
    const ch_log_field fields[] = {{{"id", 2}, {"inst1,t1", 8}},
                                   {{"note", 4}, {"two words", 9}},
                                   {{"q", 1}, {"a\"b", 3}},
                                   {{"empty", 5}, {"", 0}}};
    c->log(c->ctx, CH_LOG_WARN, {"hello", 5}, fields, 4);
    c->log(c->ctx, CH_LOG_DEBUG, {"plain", 5}, nullptr, 0);
    const auto records = log.records();
    REQUIRE(records.size() == 2);
    CHECK(records[0].level == spdlog::level::warn);
    CHECK(records[0].text == R"(hello id=inst1,t1 note="two words" q="a\"b" empty="" driver=stub)");
    CHECK(records[1].level == spdlog::level::debug);
    CHECK(records[1].text == "plain driver=stub");
}

TEST_CASE("the stub's debug records are dropped at info level; info records arrive") {
    LogCapture log(spdlog::level::info);
    auto lib = open_stub();
    auto set = InstanceSet::open(
        lib, options(R"({"cloud": ")" + unique_cloud("logging") + "\"}", log.logger()));
    auto instance = set.create(type("t1"), "img", {}, "", std::nullopt);
    set.instances();
    CHECK(log.stub_calls("create") == 0);
    CHECK(log.stub_calls("instances") == 0);
    std::size_t created = 0;
    for (const auto &r : log.records()) {
        CHECK(r.level >= spdlog::level::info);
        if (r.text.rfind("created instance", 0) == 0) {
            ++created;
            CHECK(LogCapture::has_field(r.text, "id", instance.id()));
            CHECK(LogCapture::has_field(r.text, "driver", "stub"));
        }
    }
    CHECK(created == 1);

    // Lowering the level lets the driver's debug records through at once.
    log.logger()->set_level(spdlog::level::debug);
    set.instances();
    CHECK(log.stub_calls("instances") == 1);
}
