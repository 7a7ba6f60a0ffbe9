// The driver library stays loaded while any object refers to it and unloads
// after the last one. Runs in its own process: nothing else may hold the stub.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace cloudhost;
using namespace core_test;

TEST_CASE("the stub unloads when the last set, instance and library reference are gone") {
    const auto path = stub_path();
    REQUIRE_FALSE(is_library_loaded(path));
    {
        auto lib = open_stub();
        auto set = InstanceSet::open(lib, options(R"({"cloud": "lifetime-a"})"));
        set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
        CHECK(set.instances().size() == 1);
        CHECK(is_library_loaded(path));
    }
    CHECK_FALSE(is_library_loaded(path));
}

TEST_CASE("one Instance handle keeps the stub loaded and usable") {
    const auto path = stub_path();
    REQUIRE_FALSE(is_library_loaded(path));
    Instance survivor;
    {
        auto lib = open_stub();
        auto set = InstanceSet::open(lib, options(R"({"cloud": "lifetime-b"})"));
        survivor = set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
        auto listed = set.instances(); // more handles to the same VM, dropped below
        CHECK(listed.size() == 1);
    }
    // The set handle is gone (so the driver's set is stopped) but not freed.
    CHECK(is_library_loaded(path));
    CHECK(survivor.tags() == Tags{{"k", "v"}});
    CHECK(survivor.remote_user() == "root");
    Instance copy = survivor;
    survivor = Instance();
    CHECK(is_library_loaded(path));
    CHECK(copy.id().rfind("inst", 0) == 0);

    // The last handle can go on another thread.
    std::thread([moved = std::move(copy)]() mutable { moved = Instance(); }).join();
    CHECK_FALSE(is_library_loaded(path));
}

TEST_CASE("a failed open leaves nothing loaded") {
    const auto path = stub_path();
    {
        auto lib = open_stub();
        CHECK_THROWS_AS(InstanceSet::open(lib, options(R"({"bogus": 1})")), InvalidConfigError);
    }
    CHECK_FALSE(is_library_loaded(path));
}

TEST_CASE("stop() is idempotent and create after stop is an error; instances stay usable") {
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(R"({"cloud": "lifetime-c"})"));
    auto instance = set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
    set.stop();
    set.stop();
    CHECK_THROWS_AS(set.create(type("t1"), "img", {}, "", std::nullopt), DriverError);
    CHECK(instance.tags() == Tags{{"k", "v"}});
}

TEST_CASE("calls on empty handles throw logic_error") {
    Instance empty;
    CHECK_FALSE(empty.valid());
    CHECK_THROWS_AS(empty.id(), std::logic_error);
    InstanceSet none;
    CHECK_FALSE(none.valid());
    CHECK_THROWS_AS(none.instances(), std::logic_error);
}

// Two threads load, use and drop the stub with nothing ordering them but the
// dynamic loader: one thread's unload (static destructors) and the other's
// load at the same address (statics built anew) must be ordered for
// ThreadSanitizer as they are for ld.so — the host's loader lock does that.
TEST_CASE("the stub unloaded by one thread and loaded again by another works, race-free") {
    const auto path = stub_path();
    REQUIRE_FALSE(is_library_loaded(path));
    std::atomic<int> rounds_done{0}, failures{0};
    const auto churn = [&](const std::string &cloud) {
        const LogCapture log; // one per thread: no shared sink lock to order them
        for (int round = 0; round < 40; ++round) {
            try {
                auto options_here = options(R"({"cloud": ")" + cloud + R"("})");
                options_here.logger = log.logger();
                auto set = InstanceSet::open(open_stub(), options_here);
                set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
                ++rounds_done;
            } catch (...) {
                ++failures;
            }
        }
    };
    std::thread first(churn, unique_cloud("churn"));
    std::thread second(churn, unique_cloud("churn"));
    first.join();
    second.join();
    CHECK(failures == 0);
    CHECK(rounds_done == 80);
    CHECK_FALSE(is_library_loaded(path));
}
