// Hot swap through sync(): instances survive and re-bind, refusals keep the
// old version serving, pins hold, removing the active file falls back.
#include "swap_fixture.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/metrics.hpp"

#include <atomic>
#include <memory>
#include <set>
#include <string>

using cloudhost::SwapEventKind;

namespace {

cloudhost::InstanceType small_type() {
    cloudhost::InstanceType t;
    t.name = "small";
    t.provider_type = "small.1";
    t.price = 0.1;
    return t;
}
const cloudhost::InstanceType small = small_type();

std::set<std::string> ids(std::vector<cloudhost::Instance> list) {
    std::set<std::string> out;
    for (const auto &i : list)
        out.insert(i.id());
    return out;
}

} // namespace

TEST_CASE("instances made under version 1 are listed, tagged and destroyed after the swap to 2") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    fs::path v1_library;
    {
        cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
        CHECK(hot.active().version == "1.0.0");
        v1_library = f.log.last(SwapEventKind::loaded).library;
        auto set = hot.instance_set();
        std::vector<cloudhost::Instance> made;
        for (int i = 0; i < 3; ++i)
            made.push_back(set.create(small, "img", {{"n", std::to_string(i)}}, "", {}));
        CHECK(made[0].string().find("1.0.0") != std::string::npos);

        f.install_by_rename("swapcloud_v2", "swapcloud-2.so");
        CHECK(hot.sync());
        CHECK(hot.active().version == "2.0.0");
        CHECK(f.log.count(SwapEventKind::found) == 2);
        const auto swapped = f.log.last(SwapEventKind::swapped);
        CHECK(swapped.version == "2.0.0");
        CHECK(swapped.from_version == "1.0.0");
        CHECK_FALSE(hot.sync()); // nothing changed

        // Old handles re-bind by id and are served by version 2.
        CHECK(made[0].string().find("2.0.0") != std::string::npos);
        made[1].set_tags({{"n", "1"}, {"cluster", "hotswap"}, {"after", "swap"}});
        CHECK(made[1].tags().at("after") == "swap");
        made[2].destroy();
        CHECK(ids(set.instances()) == std::set<std::string>{made[0].id(), made[1].id()});
        for (auto &i : set.instances())
            i.destroy();
        CHECK(set.instances().empty());
    }
    // Nothing refers to version 1 (or 2) any more.
    CHECK_FALSE(cloudhost::is_library_loaded(v1_library));
}

TEST_CASE("refused versions leave the old one serving, with the reason") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
    auto set = hot.instance_set();
    auto kept = set.create(small, "img", {}, "", {});

    SUBCASE("init fails") {
        f.install_by_rename("swapcloud_fail_init", "next.so");
        CHECK_FALSE(hot.sync());
        const auto e = f.log.last(SwapEventKind::load_failed);
        CHECK(e.version == "3.0.0");
        CHECK(e.reason.find("refuses every config") != std::string::npos);
    }
    SUBCASE("lists different instances") {
        f.install_by_rename("swapcloud_hide", "next.so");
        CHECK_FALSE(hot.sync());
        const auto e = f.log.last(SwapEventKind::health_check_failed);
        CHECK(e.version == "3.0.1");
        CHECK(e.reason.find("missing " + kept.id()) != std::string::npos);
    }
    SUBCASE("incompatible ABI") {
        f.install_by_rename("swapcloud_bad_abi", "next.so");
        CHECK_FALSE(hot.sync());
        const auto e = f.log.last(SwapEventKind::rejected);
        CHECK(e.file == f.driver_dir / "next.so");
        CHECK(e.reason.find("ABI") != std::string::npos);
    }
    CHECK(hot.active().version == "1.0.0");
    CHECK(f.log.count(SwapEventKind::swapped) == 0);
    CHECK_FALSE(hot.sync()); // refused bytes are not retried
    CHECK(kept.string().find("1.0.0") != std::string::npos);
    CHECK(ids(set.instances()) == std::set<std::string>{kept.id()});
    kept.destroy();
}

TEST_CASE("a pinned version is never swapped away; a constraint bounds the choice") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    SUBCASE("pinned") {
        cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(),
                                               f.swap_options("=1.0.0"));
        f.install_by_rename("swapcloud_v2", "v2.so");
        CHECK_FALSE(hot.sync());
        CHECK(hot.active().version == "1.0.0");
    }
    SUBCASE("range") {
        f.install_by_rename("swapcloud_v2", "v2.so");
        f.install_by_rename("swapcloud_hide", "v3.so");
        cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(),
                                               f.swap_options(">=1 <3"));
        CHECK(hot.active().version == "2.0.0");
        CHECK_FALSE(hot.sync());
    }
}

TEST_CASE(
    "removing the active file swaps to the next allowed version, or keeps it with a warning") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1", "v1.so");
    f.install_by_copy("swapcloud_v2", "v2.so");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
    CHECK(hot.active().version == "2.0.0");
    auto vm = hot.instance_set().create(small, "img", {}, "", {});

    fs::remove(f.driver_dir / "v2.so");
    CHECK(hot.sync());
    CHECK(hot.active().version == "1.0.0");
    CHECK(vm.string().find("1.0.0") != std::string::npos);

    fs::remove(f.driver_dir / "v1.so");
    CHECK_FALSE(hot.sync());
    CHECK(f.log.count(SwapEventKind::kept) == 1);
    CHECK(hot.active().version == "1.0.0");
    CHECK_FALSE(hot.sync());
    CHECK(f.log.count(SwapEventKind::kept) == 1); // warned once
    vm.destroy();
}

TEST_CASE("an idle handle from version 1 lets version 1 unload at its next call") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
    const fs::path v1_library = f.log.last(SwapEventKind::loaded).library;
    auto idle = hot.instance_set().create(small, "img", {}, "", {});

    f.install_by_rename("swapcloud_v2");
    REQUIRE(hot.sync());
    // The handle still holds version 1's instance handle: v1 stays mapped.
    CHECK(cloudhost::is_library_loaded(v1_library));
    CHECK(f.log.count(SwapEventKind::unloaded) == 0);

    // Its next call re-binds to version 2 and lets go of version 1.
    CHECK(idle.string().find("2.0.0") != std::string::npos);
    CHECK_FALSE(hot.sync());
    CHECK(f.log.count(SwapEventKind::unloaded) == 1);
    CHECK(f.log.last(SwapEventKind::unloaded).library == v1_library);
    CHECK_FALSE(cloudhost::is_library_loaded(v1_library));
    idle.destroy();
}

TEST_CASE("with the keep-loaded switch, a retired version stays mapped and is reported") {
    cloudhost::DriverLibrary::set_keep_loaded(true);
    struct Restore {
        ~Restore() { cloudhost::DriverLibrary::set_keep_loaded(false); }
    } restore;
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
    const fs::path v1_library = f.log.last(SwapEventKind::loaded).library;

    f.install_by_rename("swapcloud_v2");
    REQUIRE(hot.sync());
    CHECK_FALSE(hot.sync()); // reaps the retired version
    CHECK(f.log.count(SwapEventKind::unloaded) == 0);
    REQUIRE(f.log.count(SwapEventKind::unload_failed) == 1);
    const auto failed = f.log.last(SwapEventKind::unload_failed);
    CHECK(failed.library == v1_library);
    CHECK(failed.reason.find("CLOUDHOST_KEEP_LOADED") != std::string::npos);
    CHECK(cloudhost::is_library_loaded(v1_library));
}

// Issue 11: set_tags re-bound (listing instances on the new version) before
// validating its tags, so a refused call still changed which version the
// handle held.
TEST_CASE("set_tags with bad tags is refused before the handle re-binds") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
    const fs::path v1_library = f.log.last(SwapEventKind::loaded).library;
    auto idle = hot.instance_set().create(small, "img", {}, "", {});
    f.install_by_rename("swapcloud_v2");
    REQUIRE(hot.sync());

    CHECK_THROWS_AS(idle.set_tags({{"", "empty key"}}), cloudhost::InvalidConfigError);
    CHECK_FALSE(hot.sync());
    CHECK(f.log.count(SwapEventKind::unloaded) == 0); // still holds version 1: no re-bind
    CHECK(cloudhost::is_library_loaded(v1_library));
    idle.destroy();
}

// Issue 11: destroy (and set_tags) held the in-flight count while waiting for
// the ops limiter, so a swap's drain waited for the limiter too.
TEST_CASE("a destroy waiting for the ops limiter does not hold up a swap's drain") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    auto set_options = f.set_options();
    set_options.max_cloud_ops_per_second = 0.2; // one call per 5 s
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), set_options, f.swap_options());
    auto vm = hot.instance_set().create(small, "img", {}, "", {}); // takes the first tick
    std::atomic<bool> destroyed{false};
    std::thread destroyer([&] {
        vm.destroy(); // waits ~5 s for its tick
        destroyed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // let it reach the limiter
    f.install_by_rename("swapcloud_v2");
    REQUIRE(hot.sync());
    // The swap drained at once: the destroy was not yet counted in flight.
    CHECK_FALSE(destroyed.load());
    destroyer.join();
    CHECK(destroyed.load());
    CHECK(hot.instance_set().instances().empty()); // served by version 2 after re-binding
}

TEST_CASE("every swap event is counted in cloudhost_hot_swap_events_total by kind") {
    SwapFixture f;
    f.install_by_copy("swapcloud_v1");
    auto registry = std::make_shared<cloudhost::MetricsRegistry>();
    auto set_options = f.set_options();
    set_options.metrics_registry = registry;
    {
        cloudhost::HotSwappableInstanceSet hot(f.catalog(), set_options, f.swap_options());
        auto kept = hot.instance_set().create(small, "img", {}, "", {});
        f.install_by_rename("swapcloud_bad_abi", "bad.so"); // rejected
        CHECK_FALSE(hot.sync());
        f.install_by_rename("swapcloud_hide", "next.so"); // health_check_failed
        CHECK_FALSE(hot.sync());
        f.install_by_rename("swapcloud_v2", "next.so"); // swapped
        CHECK(hot.sync());
        kept.destroy(); // re-binds: version 1's last handle goes
        hot.sync();     // reaps it: unloaded
        CHECK(f.log.count(SwapEventKind::unloaded) >= 1);
    }
    // The metric and the event stream agree on every kind, including kinds
    // that did not happen (no series, or 0).
    const std::string text = registry->render();
    INFO(text);
    std::size_t kinds_seen = 0;
    for (int k = 0; k <= static_cast<int>(SwapEventKind::driver_down); ++k) {
        const auto kind = static_cast<SwapEventKind>(k);
        const std::string series = "cloudhost_hot_swap_events_total{driver=\"swapcloud\","
                                   "instance_set_id=\"zzzzz-zzzzz-hotswaptest0001\",kind=\"" +
                                   std::string(cloudhost::swap_event_name(kind)) + "\"} ";
        const auto at = text.find(series);
        const double value =
            at == std::string::npos ? 0 : std::stod(text.substr(at + series.size()));
        INFO("kind " << cloudhost::swap_event_name(kind));
        CHECK(value == double(f.log.count(kind)));
        kinds_seen += value > 0;
    }
    CHECK(kinds_seen >= 5); // found, rejected, loaded, health_check_failed, swapped, unloaded
}
