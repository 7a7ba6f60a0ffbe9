// Isolated drivers (host/lib/isolation): real hostile .so files in a real
// cloudhost-driver-host process. Each misbehaviour must cost at most that
// helper: the host survives, every call gets a typed error within its
// deadline, the next call after the restart succeeds, and no helper process
// is left behind.
#include "helper_crash.hpp"
#include "isolation_fixture.hpp"

#include "core/in_process_endpoint.hpp"

#include "cloudhost/instance_set.hpp"

#include <algorithm>

#include <atomic>
#include <csignal>
#include <thread>

using namespace iso_test;
using cloudhost::DriverCrashedError;
using cloudhost::DriverError;
using cloudhost::DriverTimeoutError;
using cloudhost::SwapEventKind;
using cloudhost::Tags;

namespace {

std::string crash_of(const std::function<void()> &call) {
    try {
        call();
    } catch (const DriverCrashedError &e) {
        return e.what();
    }
    FAIL("no DriverCrashedError");
    return {};
}

void list(cloudhost::detail::DriverEndpoint &ep, const Tags &filter = {}) {
    Keep keep;
    ep.instances(filter, keep);
    keep.release_all(ep);
}

} // namespace

static bool names_segfault(const std::string &what) {
    return test_support::reports_fatal_signal(what, "signal 11");
}

TEST_CASE("segfault in Instances: every caller gets DriverCrashedError naming the signal, the next "
          "call runs in a new helper") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    const auto first = ep->helper_pid();
    REQUIRE(first > 0);
    const auto what = crash_of([&] { list(*ep, {{"fault", "segv"}}); });
    CHECK(names_segfault(what));
    CHECK(what.find("hostile 1.0.0") != std::string::npos);
    list(*ep); // restarted
    CHECK(ep->helper_pid() != first);
    CHECK(ep->helpers_started() == 2);
    CHECK(f.count(SwapEventKind::driver_crashed) == 1);
    CHECK(f.count(SwapEventKind::driver_restarted) == 1);
}

TEST_CASE("abort() in instance_set_new: open fails with DriverCrashedError naming SIGABRT") {
    Fixture f;
    try {
        f.open("hostile", R"({"abort_in_new": true})");
        FAIL("open succeeded");
    } catch (const DriverCrashedError &e) {
        CHECK(std::string(e.what()).find("signal 6") != std::string::npos);
    }
}

TEST_CASE("an endless Create fails with DriverTimeoutError at its deadline; the helper is "
          "replaced") {
    Fixture f;
    auto opts = f.options();
    opts.timeouts.create = std::chrono::milliseconds(500);
    auto ep = f.open("hostile", "{}", opts);
    Keep keep;
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(ep->create(small_type(), "img", {{"fault", "loop"}}, "", std::nullopt, keep),
                    DriverTimeoutError);
    // Bounded by the deadline (plus a generous margin for a loaded machine).
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    ep->create(small_type(), "img", {}, "", std::nullopt, keep);
    CHECK(keep.got.size() == 1);
    keep.release_all(*ep);
}

TEST_CASE("a C++ exception thrown out of the C ABI, a stack overflow: typed errors, then "
          "service") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    for (const char *fault : {"throw", "stack"}) {
        CAPTURE(fault);
        CHECK_THROWS_AS(list(*ep, {{"fault", fault}}), DriverError);
        list(*ep);
    }
}

TEST_CASE("a log flood is capped in the helper and never reaches the host unbounded") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    list(*ep, {{"fault", "flood"}});
    const auto n = f.sink->count();
    CHECK(n > 0);
    CHECK(n < 200000);
    list(*ep);
}

TEST_CASE("garbage through the sinks: typed error, escaped log, service continues") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    CHECK_THROWS_AS(list(*ep, {{"fault", "garbage"}}), DriverError);
    for (const auto &line : f.sink->copy())
        CHECK(line.find('\x1b') == std::string::npos);
    list(*ep);
}

TEST_CASE("a driver thread that keeps logging after free: the set closes, no helper is left") {
    Fixture f;
    {
        auto ep = f.open("hostile", R"({"log_after_free": true})");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ep->stop();
    }
    CHECK(helper_children().empty());
}

TEST_CASE("a slow call does not hold up others; kill -9 fails every call in flight at once") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    std::atomic<int> crashed{0}, other{0};
    std::atomic<bool> slow_done{false};
    std::vector<std::thread> slow;
    for (int i = 0; i < 4; ++i)
        slow.emplace_back([&] {
            try {
                list(*ep, {{"fault", "sleep"}});
                slow_done = true;
            } catch (const DriverCrashedError &e) {
                crashed += std::string(e.what()).find("signal 9") != std::string::npos;
            } catch (...) {
                ++other;
            }
        });
    // While four calls sleep in the driver (10 s), a fifth is answered.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    list(*ep);
    CHECK_FALSE(slow_done.load());
    ::kill(ep->helper_pid(), SIGKILL);
    for (auto &t : slow)
        t.join();
    CHECK(crashed.load() == 4);
    CHECK(other.load() == 0);
    list(*ep);
}

TEST_CASE("crash loop: five crashes within the window stop restarts; calls fail fast") {
    Fixture f;
    auto opts = f.options();
    opts.first_backoff = std::chrono::milliseconds(1);
    opts.max_backoff = std::chrono::seconds(60);
    auto ep = f.open("hostile", "{}", opts);
    for (int i = 0; i < 5; ++i) {
        CAPTURE(i);
        // Restart back-off is at most 8 ms before the fifth crash.
        for (int tries = 0; tries < 500; ++tries) {
            try {
                list(*ep, {{"fault", "segv"}});
            } catch (const DriverCrashedError &e) {
                if (std::string(e.what()).find("next restart") == std::string::npos)
                    break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    // The next call counts the fifth crash and finds restarts stopped.
    const auto what = crash_of([&] { list(*ep); });
    CHECK(f.count(SwapEventKind::driver_down) == 1);
    CHECK(what.find("next restart in") != std::string::npos);
    CHECK(names_segfault(what));
}

TEST_CASE("verify_host_key's command runner calls back into the host mid-call") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    Keep keep;
    ep->create(small_type(), "img", {}, "", std::nullopt, keep);
    REQUIRE(keep.got.size() == 1);
    struct Echo final : cloudhost::CommandRunner {
        int calls = 0;
        cloudhost::CommandOutput run(std::string_view command, std::string_view input) override {
            ++calls;
            CHECK(command == "cat-host-key");
            return {std::string(input), "", 0};
        }
    } echo;
    ep->instance_verify_host_key(keep.got[0].first, "ssh-ed25519 AAAA", &echo);
    CHECK(echo.calls == 1);
    struct Failing final : cloudhost::CommandRunner {
        cloudhost::CommandOutput run(std::string_view, std::string_view) override {
            throw cloudhost::DriverError("ssh connection lost");
        }
    } failing;
    CHECK_THROWS_WITH_AS(ep->instance_verify_host_key(keep.got[0].first, "k", &failing),
                         doctest::Contains("ssh connection lost"), DriverError);
    keep.release_all(*ep);
}

TEST_CASE("instance references re-bind by id after a restart (cloud kept the instances)") {
    Fixture f;
    auto ep = f.open("stub", R"({"state_dir": ")" + (f.dir / "cloud").string() + R"("})");
    Keep keep;
    ep->create(small_type(), "img", {{"a", "1"}}, "", std::nullopt, keep);
    REQUIRE(keep.got.size() == 1);
    ::kill(ep->helper_pid(), SIGKILL);
    // A call that raced the death gets DriverCrashedError; the next one is
    // served by a new helper under the same reference.
    try {
        ep->instance_tags(keep.got[0].first);
    } catch (const DriverCrashedError &) {
    }
    const auto tags = ep->instance_tags(keep.got[0].first);
    CHECK(tags.at("a") == "1");
    CHECK(ep->helpers_started() == 2);
    ep->instance_destroy(keep.got[0].first);
    keep.release_all(*ep);
}

// A visitor that records whether tags came with each instance.
struct TagRecorder final : cloudhost::detail::InstanceVisitor {
    explicit TagRecorder(bool wants) : wants_tags(wants) {}
    bool take(InstanceRef ref, const InstanceDescView &desc) noexcept override {
        refs.push_back(ref);
        for (const auto &tag : desc.tags)
            tags.emplace_back(std::string(tag.first) + "=" + std::string(tag.second));
        return true;
    }
    bool needs_tags() const noexcept override { return wants_tags; }
    bool wants_tags;
    std::vector<InstanceRef> refs;
    std::vector<std::string> tags;
};

TEST_CASE(
    "a listing carries tags exactly when the visitor asks for them, in process and isolated") {
    Fixture f;
    const auto config = R"({"state_dir": ")" + (f.dir / "cloud").string() + R"("})";
    cloudhost::detail::EndpointArgs args{
        config, "zzzzz-zzzzz-isolationtest01", {}, f.logger, nullptr};
    auto in_process =
        cloudhost::detail::InProcessEndpoint::open(load_driver("stub", f.dir / "cache"), args);
    auto isolated = f.open("stub", config);
    Keep keep;
    isolated->create(small_type(), "img", {{"team", "blue"}}, "", std::nullopt, keep);
    REQUIRE(keep.got.size() == 1);
    for (auto *ep : {static_cast<cloudhost::detail::DriverEndpoint *>(in_process.get()),
                     static_cast<cloudhost::detail::DriverEndpoint *>(isolated.get())}) {
        for (const bool wants : {true, false}) {
            CAPTURE(wants);
            TagRecorder seen(wants);
            ep->instances({}, seen);
            CHECK(seen.refs.size() == 1);
            const bool has_team =
                std::find(seen.tags.begin(), seen.tags.end(), "team=blue") != seen.tags.end();
            CHECK(has_team == wants);
            if (!wants) // the documented contract: no tags gathered at all
                CHECK(seen.tags.empty());
            for (const auto ref : seen.refs)
                ep->release(ref);
        }
    }
    isolated->instance_destroy(keep.got[0].first);
    keep.release_all(*isolated);
}

TEST_CASE("a listing larger than one message arrives whole, in parts, with every tag") {
    // 3,000 stub instances with 8 tags each are ~500 KB; with a 256 KiB
    // frame limit one reply would be a protocol fault and kill the helper.
    Fixture f;
    auto opts = f.options();
    opts.max_frame = 256 * 1024;
    auto ep = f.open("stub",
                     R"({"cloud": "parts-)" + std::to_string(::getpid()) +
                         R"(", "instances_for_bench": 3000})",
                     opts);
    const auto pid = ep->helper_pid();
    TagRecorder seen(true);
    ep->instances({}, seen);
    CHECK(seen.refs.size() == 3000);
    CHECK(seen.tags.size() == 3000 * 8);
    for (const auto ref : seen.refs)
        ep->release(ref);
    CHECK(ep->helper_pid() == pid); // no protocol fault, no restart
    CHECK(ep->helpers_started() == 1);
}

TEST_CASE("a listing that fails after parts went ahead: the host keeps what it got, the helper "
          "gives back the rest") {
    Fixture f;
    auto ep = f.open("hostile", "{}");
    const auto live = [&] {
        try {
            list(*ep, {{"fault", "live"}});
        } catch (const DriverError &e) {
            const std::string what = e.what();
            const auto at = what.find("live handles: ");
            REQUIRE(at != std::string::npos);
            return std::stol(what.substr(at + 14));
        }
        FAIL("no live count");
        return -1L;
    };
    REQUIRE(live() == 0);
    Keep keep;
    CHECK_THROWS_WITH_AS(ep->instances({{"fault", "fail_late"}}, keep),
                         doctest::Contains("failed after handing over 3000"), DriverError);
    // Some went ahead (an in-process visitor would have all 3,000), the last
    // part's never left the helper and were released there.
    CHECK(keep.got.size() > 0);
    CHECK(keep.got.size() < 3000);
    CHECK(live() == static_cast<long>(keep.got.size()));
    keep.release_all(*ep);
    CHECK(live() == 0);
}

TEST_CASE("a second instance set on another driver is untouched by a crash") {
    Fixture f;
    auto hostile = f.open("hostile", "{}");
    auto stub = f.open("stub", "{}");
    const auto stub_pid = stub->helper_pid();
    CHECK_THROWS_AS(list(*hostile, {{"fault", "segv"}}), DriverCrashedError);
    list(*stub);
    CHECK(stub->helper_pid() == stub_pid);
    CHECK(stub->helpers_started() == 1);
}

TEST_CASE("a helper that sends an oversized or malformed message is killed; the host lives") {
    Fixture f;
    for (const char *reply : {R"(printf '\377\377\377\177' >&3; sleep 5)",
                              R"(printf '\003\000\000\000\301\301\301' >&3; sleep 5)"}) {
        CAPTURE(reply);
        const auto script = f.dir / "bad-helper.sh";
        {
            std::ofstream out(script);
            out << "#!/bin/sh\n" << reply << "\n";
        }
        fs::permissions(script, fs::perms::owner_all);
        auto opts = f.options();
        opts.driver_host = script;
        const auto what = crash_of([&] { f.open("hostile", "{}", opts); });
        CHECK(what.find("protocol fault") != std::string::npos);
    }
}

TEST_CASE("kill -9 during an 8-thread Create/Instances/SetTags/Destroy load through InstanceSet: "
          "no instance lost, every failure typed, the load continues") {
    Fixture f;
    cloudhost::InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-isolationtest02";
    options.config_json = R"({"state_dir": ")" + (f.dir / "cloud").string() + R"("})";
    options.logger = f.logger;
    options.isolation.mode = cloudhost::IsolationMode::process;
    auto set = cloudhost::InstanceSet::open(load_driver("stub", f.dir / "cache"), options);
    std::atomic<int> created{0}, destroyed{0}, typed_failures{0}, untyped{0};
    std::atomic<int> destroys_cut{0}; // a destroy the crash cut may have taken effect
    std::atomic<bool> killed{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 12; ++i) {
                try {
                    auto inst = set.create(small_type(), "img", {{"t", std::to_string(t)}}, "",
                                           std::nullopt);
                    ++created;
                    set.instances();
                    inst.set_tags({{"t", std::to_string(t)}, {"i", std::to_string(i)}});
                    if (i % 2 == 0) {
                        try {
                            inst.destroy();
                        } catch (const DriverError &) {
                            ++destroys_cut;
                            throw;
                        }
                        ++destroyed;
                    }
                } catch (const DriverError &) {
                    ++typed_failures;
                } catch (...) {
                    ++untyped;
                }
            }
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto pids = helper_children();
    REQUIRE(pids.size() == 1);
    ::kill(pids[0], SIGKILL);
    killed = true;
    for (auto &th : threads)
        th.join();
    CHECK(untyped.load() == 0);
    // Every instance the cloud holds was counted as created and not
    // destroyed, or its create/destroy was cut by the crash: none vanished.
    // The first call after the load may be the one that sees the death.
    // Calls fail fast until the restart back-off expires: retry, bounded.
    const auto list_after_restart = [&set] {
        for (int tries = 0;; ++tries) {
            try {
                return set.instances();
            } catch (const DriverCrashedError &) {
                if (tries >= 100)
                    throw;
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
    };
    const std::vector<cloudhost::Instance> listed = list_after_restart();
    CHECK(static_cast<int>(listed.size()) >=
          created.load() - destroyed.load() - destroys_cut.load());
    CHECK(static_cast<int>(listed.size()) <=
          created.load() - destroyed.load() + typed_failures.load());
    for (const auto &inst : listed)
        cloudhost::Instance(inst).destroy();
    CHECK(list_after_restart().empty());
    set.stop();
}

TEST_CASE("a helper started by a thread that then exits lives on; it dies with the host only") {
    // Linux sends the parent-death signal when the *thread* that forked the
    // child exits. A helper started from a dispatcher's short-lived worker
    // (or hot swap's watcher thread) must not die with that thread.
    Fixture f;
    std::unique_ptr<cloudhost::isolation::IsolatedEndpoint> ep;
    std::thread starter([&] {
        ep = f.open("stub", "{}");
        list(*ep); // the helper is up and serving
    });
    starter.join();
    REQUIRE(ep);
    const auto pid = ep->helper_pid();
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // a signal would have landed
    list(*ep);
    CHECK(ep->helper_pid() == pid);
    CHECK(ep->helpers_started() == 1);
}
