// Reload: HotSwappableInstanceSet::reload re-initialises the active driver
// version with new options through the hot swap's path. Runs on the real stub
// .so through the catalog, with its "state_dir" cloud (both bindings see the
// same VMs) and its "api_token" check (every call reads
// <state_dir>/valid_tokens), so revoking the old token proves the new config
// is the one in use.
#include "swap_fixture.hpp"

#include <atomic>
#include <fstream>

using cloudhost::SwapEventKind;

namespace {

struct ReloadFixture : SwapFixture {
    ReloadFixture() : SwapFixture("stub") {
        fs::create_directories(root / "cloud");
        install_by_copy("stub_v1");
    }

    void set_valid_tokens(const std::string &lines) const {
        const fs::path staged = root / "cloud" / ".valid_tokens.new";
        std::ofstream(staged) << lines;
        fs::rename(staged, root / "cloud" / "valid_tokens"); // calls never read half a file
    }

    cloudhost::InstanceSetOptions options_with(const std::string &extra_json) const {
        auto o = set_options();
        o.config_json =
            R"({"state_dir": ")" + (root / "cloud").string() + R"(", )" + extra_json + "}";
        return o;
    }
};

cloudhost::InstanceType small_type() {
    cloudhost::InstanceType type;
    type.name = type.provider_type = "small";
    return type;
}

bool wait_until(const std::function<bool()> &done) {
    for (int i = 0; i < 2000; ++i) { // at most 20 s
        if (done())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

} // namespace

TEST_CASE("reload swaps credentials under an 8-thread load without a failed call") {
    ReloadFixture f;
    f.set_valid_tokens("token-a\ntoken-b\n");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.options_with(R"("api_token": "token-a")"),
                                           f.swap_options());
    auto set = hot.instance_set();

    std::atomic<bool> stop{false};
    std::atomic<long> calls{0};
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    std::vector<std::thread> workers;
    for (int t = 0; t < 8; ++t)
        workers.emplace_back([&, t] {
            const cloudhost::Tags mine{{"worker", std::to_string(t)}};
            std::vector<cloudhost::Instance> live;
            try {
                for (int round = 0; !stop; ++round) {
                    live.push_back(set.create(small_type(), "img", mine, "", std::nullopt));
                    live.back().set_tags(
                        {{"worker", std::to_string(t)}, {"round", std::to_string(round)}});
                    if (set.instances(mine).size() != live.size())
                        throw std::runtime_error("worker " + std::to_string(t) +
                                                 " lost an instance");
                    live.front().destroy();
                    live.erase(live.begin());
                    calls += 4;
                }
            } catch (const std::exception &e) {
                const std::lock_guard lock(failures_mutex);
                failures.push_back(e.what());
            }
        });

    REQUIRE(wait_until([&] { return calls >= 40; }));
    auto reloaded = f.options_with(R"("api_token": "token-b")");
    reloaded.shared_resource_tags = {{"cluster", "reloaded"}};
    const bool ok = hot.reload(reloaded);
    CHECK(ok);
    CHECK(f.log.count(SwapEventKind::reloaded) == 1);
    CHECK(f.log.last(SwapEventKind::reloaded).version == "1.0.0");
    // The old token is revoked: from now on only the new binding can work.
    f.set_valid_tokens("token-b\n");
    const long after_revoke = calls;
    CHECK(wait_until([&] { return calls >= after_revoke + 80; }));
    stop = true;
    for (auto &w : workers)
        w.join();
    CHECK(failures.empty());
    for (const auto &failure : failures)
        MESSAGE("failed call: " << failure);

    // New Creates carry the reloaded SharedResourceTags.
    {
        auto vm = set.create(small_type(), "img", {}, "", std::nullopt);
        CHECK(vm.tags().at("cluster") == "reloaded");
        vm.destroy();
    } // no handle left on the reloaded binding

    // A later version swap opens the new version with the reloaded config:
    // with the revoked token its init would fail.
    f.install_by_copy("stub_v2");
    CHECK(hot.sync());
    CHECK(hot.active().version == "2.0.0");
    CHECK(f.log.count(SwapEventKind::load_failed) == 0);
    CHECK(set.instances().size() == 0); // every worker destroyed what it made
    CHECK(f.log.count(SwapEventKind::unload_failed) == 0);
    // Version 1's library (both of its bindings) unloads once nothing uses it.
    const auto v1 = f.log.last(SwapEventKind::swapped).from_version;
    CHECK(wait_until([&] {
        hot.sync();
        return f.log.count(SwapEventKind::unloaded) == 1;
    }));
    CHECK(f.log.last(SwapEventKind::unloaded).version == v1);
    CHECK(f.log.count(SwapEventKind::unload_failed) == 0);
}

TEST_CASE("a bad new config is refused, the running one keeps serving, the event says why") {
    ReloadFixture f;
    f.set_valid_tokens("token-a\n");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.options_with(R"("api_token": "token-a")"),
                                           f.swap_options());
    auto set = hot.instance_set();
    auto kept = set.create(small_type(), "img", {{"keep", "1"}}, "", std::nullopt);

    struct Case {
        const char *name;
        cloudhost::InstanceSetOptions options;
        std::vector<std::string> reason_has;
    };
    auto bad_json = f.set_options();
    bad_json.config_json = "{\"state_dir\": \n";
    auto other_id = f.options_with(R"("api_token": "token-a")");
    other_id.instance_set_id = "zzzzz-zzzzz-otherinstance01";
    auto bad_tags = f.options_with(R"("api_token": "token-a")");
    bad_tags.shared_resource_tags = {{"bad\nkey", "v"}};
    const std::vector<Case> cases{
        {"JSON error", bad_json, {"config: line "}},
        {"unknown driver parameter",
         f.options_with(R"("api_tokn": "token-b")"),
         {"init: ", "unknown key \"api_tokn\""}},
        {"revoked token",
         f.options_with(R"("api_token": "token-b")"),
         {"init: ", "api_token is not valid"}},
        {"health check failure",
         f.options_with(R"("api_token": "token-a", "throw_in": ["instances"])"),
         {"health check: ", "failed Instances"}},
        {"another InstanceSetID", other_id, {"restart", "orphaned"}},
        {"bad SharedResourceTags", bad_tags, {"SharedResourceTags"}},
    };
    std::size_t refused = 0;
    for (const auto &c : cases) {
        CAPTURE(c.name);
        CHECK_FALSE(hot.reload(c.options));
        REQUIRE(f.log.count(SwapEventKind::reload_failed) == ++refused);
        const auto event = f.log.last(SwapEventKind::reload_failed);
        CHECK(event.version == "1.0.0");
        for (const auto &part : c.reason_has)
            CHECK_MESSAGE(event.reason.find(part) != std::string::npos, event.reason);
        // The running config keeps serving: its instance is still there and
        // its handle still works.
        CHECK(set.instances({{"keep", "1"}}).size() == 1);
        kept.set_tags({{"keep", "1"}, {"after", c.name}});
    }
    CHECK(f.log.count(SwapEventKind::reloaded) == 0);

    // The library was not blamed for a bad config: a good reload works, and
    // then the old token no longer matters.
    f.set_valid_tokens("token-a\ntoken-b\n");
    CHECK(hot.reload(f.options_with(R"("api_token": "token-b")")));
    f.set_valid_tokens("token-b\n");
    CHECK(set.instances({{"keep", "1"}}).size() == 1);
    kept.destroy();
    CHECK(set.instances().empty());
}

TEST_CASE("the stub checks its api_token on every call, so revoking it is observable") {
    ReloadFixture f;
    f.set_valid_tokens("token-a\n");
    cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.options_with(R"("api_token": "token-a")"),
                                           f.swap_options());
    auto set = hot.instance_set();
    auto vm = set.create(small_type(), "img", {}, "", std::nullopt);
    f.set_valid_tokens("token-b\n");
    CHECK_THROWS_WITH(set.instances(), doctest::Contains("api_token is not valid"));
    CHECK_THROWS_WITH(vm.set_tags({{"a", "b"}}), doctest::Contains("valid_tokens"));
    f.set_valid_tokens("token-a\n");
    vm.destroy();
    CHECK(set.instances().empty());

    // A token needs the shared state_dir the tokens live in.
    auto no_state_dir = f.set_options();
    no_state_dir.config_json = R"({"api_token": "token-a"})";
    CHECK_FALSE(hot.reload(no_state_dir));
    CHECK(
        f.log.last(SwapEventKind::reload_failed).reason.find("\"api_token\" needs \"state_dir\"") !=
        std::string::npos);
}
