// Soak: 8 threads call Create/Instances/SetTags/Destroy on one InstanceSet
// while the driver file is replaced N times (CLOUDHOST_SWAP_SOAK_SWAPS,
// default 100), alternating versions 1 and 2 and alternating `cp` over the
// path with `mv` into the directory. The watcher picks every change up. No
// call may fail, no instance may be lost, and every library must be unloaded
// at the end. Run on swapcloud (a minimal file-backed test driver), on the
// stub (its "state_dir" cloud: files every loaded version sees; an
// in-memory stub cloud lives inside one loaded copy, so no second version
// could see it) and on loopback (real server processes). With
// CLOUDHOST_SWAP_SOAK_ISOLATION=process every version runs in a helper
// process of its own (the meson test hotswap_soak_isolated): a swap starts
// the new helper, and retiring a version is its helper's exit.
#include "helper_processes.hpp"
#include "swap_fixture.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/ssh_key.hpp"

#include <atomic>
#include <set>

using cloudhost::SwapEventKind;

namespace {

cloudhost::IsolationMode soak_isolation() {
    const char *text = std::getenv("CLOUDHOST_SWAP_SOAK_ISOLATION");
    return text ? cloudhost::parse_isolation_mode(text) : cloudhost::IsolationMode::none;
}

int soak_swaps() {
    const char *text = std::getenv("CLOUDHOST_SWAP_SOAK_SWAPS");
    return text ? std::max(1, std::atoi(text)) : 100;
}

void soak(const std::string &driver) {
    SwapFixture f(driver);
    f.install_by_copy(driver + "_v1");
    const std::string public_key = cloudhost::SshKey::generate_ed25519().public_key_openssh();
    std::set<fs::path> libraries;
    std::atomic<bool> stop{false};
    std::atomic<long> calls{0};
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    std::vector<std::set<std::string>> kept(8); // per thread: created, not destroyed
    const int swaps = soak_swaps();
    {
        auto set_options = f.set_options();
        set_options.isolation.mode = soak_isolation();
        cloudhost::HotSwappableInstanceSet hot(f.catalog(), set_options, f.swap_options());
        auto set = hot.instance_set();
        hot.start_watching();

        std::vector<std::thread> workers;
        for (int t = 0; t < 8; ++t)
            workers.emplace_back([&, t] {
                cloudhost::InstanceType type;
                type.name = type.provider_type = "localhost";
                const cloudhost::Tags mine{{"worker", std::to_string(t)}};
                std::vector<cloudhost::Instance> live;
                for (int round = 0; !stop; ++round) {
                    try {
                        live.push_back(set.create(type, "img", mine, "", public_key));
                        kept[t].insert(live.back().id());
                        live.back().set_tags(
                            {{"worker", std::to_string(t)}, {"round", std::to_string(round)}});
                        const auto listed = set.instances({{"worker", std::to_string(t)}});
                        if (listed.size() != live.size())
                            throw std::runtime_error("worker " + std::to_string(t) + " sees " +
                                                     std::to_string(listed.size()) + " of " +
                                                     std::to_string(live.size()));
                        if (round % 2 == 1 || live.size() > 6) {
                            live.front().destroy();
                            kept[t].erase(live.front().id());
                            live.erase(live.begin());
                        }
                        calls += 4;
                    } catch (const std::exception &e) {
                        const std::lock_guard lock(failures_mutex);
                        failures.push_back(e.what());
                        return;
                    }
                }
            });

        for (int i = 1; i <= swaps; ++i) {
            const std::string build = driver + (i % 2 ? "_v2" : "_v1");
            if (i % 4 < 2)
                f.install_by_copy(build);
            else
                f.install_by_rename(build);
            const bool happened =
                f.log.wait_for(SwapEventKind::swapped, static_cast<std::size_t>(i));
            CHECK_MESSAGE(happened, "swap " << i << " did not happen");
            if (!happened)
                break; // join the workers before failing
            const auto swapped = f.log.last(SwapEventKind::swapped);
            CHECK(swapped.version == (i % 2 ? "2.0.0" : "1.0.0"));
            libraries.insert(swapped.library);
        }
        stop = true;
        for (auto &w : workers)
            w.join();
        hot.stop_watching();

        CHECK(failures.empty());
        for (const auto &failure : failures)
            MESSAGE("failed call: " << failure);
        CHECK(calls > 0);
        CHECK(f.log.count(SwapEventKind::health_check_failed) == 0);

        // Every instance created and not destroyed is still there.
        std::set<std::string> expected, listed;
        for (const auto &ids : kept)
            expected.insert(ids.begin(), ids.end());
        for (auto &vm : set.instances())
            listed.insert(vm.id());
        CHECK(listed == expected);
        for (auto &vm : set.instances())
            vm.destroy();
        CHECK(set.instances().empty());
        CHECK(f.loopback_instance_dirs() == 0); // no loopback server left behind
    }
    for (const auto &library : libraries)
        CHECK_FALSE(cloudhost::is_library_loaded(library));
    if (soak_isolation() == cloudhost::IsolationMode::process)
        CHECK(test_support::helper_children().empty()); // every retired version's helper exited
}

} // namespace

TEST_CASE("8 threads keep working while swapcloud is swapped repeatedly") {
    soak("swapcloud");
}

TEST_CASE("8 threads keep working while stub is swapped repeatedly") {
    soak("stub");
}

TEST_CASE("8 threads keep working while loopback is swapped repeatedly") {
    soak("loopback");
}
