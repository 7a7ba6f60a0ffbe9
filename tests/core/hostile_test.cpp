// The host against a driver that breaks the rules (hostile_driver.cpp, a
// real .so loaded with dlopen): releases from inside its callbacks, invalid
// instances, C++ exceptions out of every slot, logging after free.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"
#include "core/bound_instance.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

namespace {

using namespace cloudhost;
using core_test::LogCapture;

std::filesystem::path hostile_path(const std::string &name = "hostile_driver") {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE(root != nullptr);
    return std::filesystem::path(root) / "tests" / "core" / (name + ".so");
}

std::shared_ptr<DriverLibrary> open_hostile() {
    static const std::shared_ptr<DriverLibrary> library = [] {
        DriverInfo info;
        info.name = "hostile";
        info.version = "1.0.0";
        info.abi_min = info.abi_max = 1;
        return DriverLibrary::open(hostile_path(), info);
    }();
    return library;
}

InstanceSet open_set(const std::string &words, const std::shared_ptr<spdlog::logger> &logger) {
    InstanceSetOptions options;
    options.instance_set_id = core_test::set_id;
    options.config_json = "{\"w\":\"" + words + "\"}";
    options.logger = logger;
    return InstanceSet::open(open_hostile(), options);
}

InstanceType any_type() {
    InstanceType type;
    type.name = type.provider_type = "t1";
    return type;
}

struct DriverCounts {
    int reentered = 0, released = 0, handed = 0;
};

// The driver's own counters, read through instance_quota_group.
DriverCounts counts(InstanceSet &set) {
    DriverCounts c;
    const std::string answer = set.instance_quota_group(any_type());
    REQUIRE(std::sscanf(answer.c_str(), "reentered=%d released=%d handed=%d", &c.reentered,
                        &c.released, &c.handed) == 3);
    return c;
}

bool logged(const LogCapture &log, spdlog::level::level_enum level, const std::string &part) {
    for (const auto &r : log.records())
        if (r.level == level && r.text.find(part) != std::string::npos)
            return true;
    return false;
}

} // namespace

TEST_CASE("instances: every instance the host drops is released after the driver's put returned") {
    LogCapture log;
    InstanceSet set =
        open_set("list:ok,ok,dup,empty,ctrl,long,nullid,nodesc,utf8,ok", log.logger());
    const DriverCounts before = counts(set);
    {
        // Filter mismatch (parity), six invalid descriptions; the duplicate
        // id is kept (a listing may show an id twice; re-binding may not).
        const auto odd = set.instances({{"parity", "odd"}});
        const DriverCounts during = counts(set);
        CHECK(during.reentered == before.reentered);
        CHECK(during.handed - before.handed == 10);
        CHECK(during.released - before.released == 10 - static_cast<int>(odd.size()));
        for (const auto &i : odd)
            CHECK(i.id().rfind("i-", 0) == 0);
    }
    const DriverCounts after = counts(set);
    CHECK(after.reentered == before.reentered);
    CHECK(after.released - before.released == 10); // none leaked
    CHECK(logged(log, spdlog::level::warn, "dropped 6 of 10 instances"));
    CHECK(logged(log, spdlog::level::warn, "driver=hostile"));
    CHECK(logged(log, spdlog::level::warn, "empty instance id"));
}

TEST_CASE("every malformed instance description is dropped naming its rule, and released") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"short", "no instance description"},
        {"nodesc", "no instance description"},
        {"nullid", "a NULL instance id with length 5"},
        {"nullptype", "provider type is"},
        {"nulltags", "NULL tags with a non-zero count"},
        {"manytags", "1073741824 tags (at most"},
        {"nulltagkey", "a tag key or value is"},
    };
    for (const auto &word_rule : cases) {
        const auto &word = word_rule.first;
        const auto &rule = word_rule.second;
        CAPTURE(word);
        LogCapture log;
        InstanceSet set = open_set("list:ok," + word + ",ok", log.logger());
        const DriverCounts before = counts(set);
        const auto listed = set.instances();
        CHECK(listed.size() == 2); // the good ones on either side are kept
        const DriverCounts after = counts(set);
        CHECK(after.handed - before.handed == 3);
        CHECK(after.released - before.released == 1); // the malformed one, given back
        CHECK(after.reentered == before.reentered);
        CHECK(logged(log, spdlog::level::warn, "dropped 1 of 3 instances"));
        CHECK(logged(log, spdlog::level::warn, rule));
    }
}

TEST_CASE("the re-binding listing releases a duplicate id after the driver's put returned") {
    LogCapture log;
    InstanceSet set = open_set("list:ok,dup,ok,dup,empty", log.logger());
    const DriverCounts before = counts(set);
    {
        const auto binding = detail::Binding::open(
            open_hostile(),
            {"{\"w\":\"list:ok,dup,ok,dup,empty\"}", core_test::set_id, {}, log.logger(), nullptr});
        const auto listed = detail::list_bound_instances(binding);
        CHECK(listed.size() == 2);
        const DriverCounts during = counts(set);
        CHECK(during.reentered == before.reentered);
        CHECK(during.released - before.released == 3); // two duplicates, one empty id
    }
    const DriverCounts after = counts(set);
    CHECK(after.reentered == before.reentered);
    CHECK(after.released - before.released == 5);
}

TEST_CASE("create must hand over exactly one valid instance") {
    for (const std::string mode : {"create:none", "create:two", "create:badid"}) {
        CAPTURE(mode);
        LogCapture log;
        InstanceSet set = open_set(mode, log.logger());
        const DriverCounts before = counts(set);
        try {
            set.create(any_type(), "image", {}, "", std::nullopt);
            FAIL("create succeeded");
        } catch (const DriverError &e) {
            CHECK(std::string(e.what()).find("exactly one valid instance") != std::string::npos);
        }
        const DriverCounts after = counts(set);
        CHECK(after.reentered == before.reentered);
        CHECK(after.released - before.released == after.handed - before.handed);
    }
    LogCapture log;
    InstanceSet set = open_set("create:one", log.logger());
    CHECK(set.create(any_type(), "image", {}, "", std::nullopt).id() == "i-created-0");
}

TEST_CASE(
    "a C++ exception thrown across the C ABI becomes DriverError where a result can carry it") {
    const std::vector<std::pair<std::string, std::function<void(InstanceSet &, Instance &)>>>
        calls = {
            {"create", [](InstanceSet &s, Instance &) { s.create(any_type(), "", {}, "", {}); }},
            {"instances", [](InstanceSet &s, Instance &) { s.instances(); }},
            {"instance_quota_group",
             [](InstanceSet &s, Instance &) { s.instance_quota_group(any_type()); }},
            {"instance_string", [](InstanceSet &, Instance &i) { (void)i.string(); }},
            {"instance_tags", [](InstanceSet &, Instance &i) { (void)i.tags(); }},
            {"instance_set_tags",
             [](InstanceSet &, Instance &i) {
                 i.set_tags({{"a", "b"}});
             }},
            {"instance_destroy", [](InstanceSet &, Instance &i) { i.destroy(); }},
            {"instance_address", [](InstanceSet &, Instance &i) { (void)i.address(); }},
            {"instance_remote_user", [](InstanceSet &, Instance &i) { (void)i.remote_user(); }},
            {"instance_verify_host_key",
             [](InstanceSet &, Instance &i) { i.verify_host_key("ssh-ed25519 AAAA", nullptr); }},
            {"instance_price_history",
             [](InstanceSet &, Instance &i) { (void)i.price_history(any_type()); }},
        };
    for (const std::string kind : {"kind:std", "kind:int"}) {
        for (const auto &slot_call : calls) {
            const auto &slot = slot_call.first; // clang 14 cannot capture a structured binding
            const auto &call = slot_call.second;
            CAPTURE(kind);
            CAPTURE(slot);
            LogCapture log;
            InstanceSet set =
                open_set("create:one\",\"t\":\"throw:" + slot + "\",\"k\":\"" + kind, log.logger());
            Instance instance;
            if (slot != "create")
                instance = set.create(any_type(), "", {}, "", std::nullopt);
            try {
                call(set, instance);
                FAIL("no exception");
            } catch (const DriverError &e) {
                const std::string what = e.what();
                CHECK(what.find("driver threw across the C ABI") != std::string::npos);
                CHECK(what.find(kind == "kind:int" ? "of type int" : "hostile " + slot) !=
                      std::string::npos);
            }
        }
        LogCapture log;
        CHECK_THROWS_WITH_AS(open_set("throw:instance_set_new\",\"k\":\"" + kind, log.logger()),
                             doctest::Contains("instance_set_new: driver threw across the C ABI"),
                             DriverError);
    }
}

TEST_CASE(
    "exceptions from instance_release, instance_set_stop and instance_set_free are logged and "
    "counted") {
    for (const std::string kind : {"kind:std", "kind:int"}) {
        for (const std::string slot :
             {"instance_release", "instance_set_stop", "instance_set_free"}) {
            CAPTURE(kind);
            CAPTURE(slot);
            LogCapture log;
            const auto swallowed = [] {
                return open_hostile()->misbehaviour()->exceptions_swallowed.load();
            };
            const auto before = swallowed();
            {
                InstanceSet set = open_set(
                    "create:one\",\"t\":\"throw:" + slot + "\",\"k\":\"" + kind, log.logger());
                set.create(any_type(), "", {}, "", std::nullopt); // released at once
            }
            CHECK(swallowed() == before + 1);
            CHECK(logged(log, spdlog::level::err, slot + ": driver threw across the C ABI"));
            CHECK(logged(log, spdlog::level::err, "driver=hostile"));
        }
    }
}

TEST_CASE("a driver thread that logs after instance_set_free is dropped and counted, not a crash") {
    LogCapture log(spdlog::level::warn);
    const auto after_free = [] {
        return open_hostile()->misbehaviour()->log_records_after_free.load();
    };
    for (int round = 0; round < 20; ++round) {
        CAPTURE(round);
        const auto before = after_free();
        { open_set("logthread", log.logger()); }
        // Freed, and its logger closed: now the thread logs 50 more, then ends.
        { open_set("release_logthreads", log.logger()); }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (after_free() < before + 50 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        CHECK(after_free() >= before + 50);
    }
    std::size_t warnings = 0;
    for (const auto &r : log.records())
        if (r.text.find("driver logged after its instance set was freed") != std::string::npos &&
            r.text.find("driver=hostile") != std::string::npos)
            ++warnings;
    CHECK(warnings == 20); // one per freed set
}

TEST_CASE("loader: a driver answering a NULL function table is told so") {
    DriverInfo info;
    info.name = "hostile";
    info.version = "1.0.0";
    info.abi_min = info.abi_max = 1;
    CHECK_THROWS_WITH_AS(DriverLibrary::open(hostile_path("hostile_null_table"), info),
                         doctest::Contains("without a function table (reply.table is NULL)"),
                         LoadError);
}
