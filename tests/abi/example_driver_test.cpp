// The pure-C example driver end to end: the real example.so loaded through
// DriverLibrary, driven through its raw C function table.
#include "cloudhost/internal/access.hpp"
#include "raw_driver.hpp"

#include <dlfcn.h>

#include <atomic>
#include <memory>
#include <thread>

using namespace abi_test;

TEST_CASE("example.so negotiates ABI 1 and fills its table") {
    auto lib = open_driver("example");
    CHECK(lib->abi_version() == 1);
    const ch_driver_v1 &t = cloudhost::detail::driver_table(*lib);
    CHECK((t.instance_set_new != nullptr));
    CHECK((t.instance_set_stop != nullptr));
    CHECK((t.instance_verify_host_key != nullptr));
    CHECK((t.instance_price_history != nullptr));
    CHECK((t.instance_string == nullptr)); // optional slot left empty on purpose
}

TEST_CASE("example.so refuses a host that speaks only ABI 2..3") {
    void *handle = dlopen(built_driver("example").c_str(), RTLD_NOW | RTLD_LOCAL);
    REQUIRE(handle != nullptr);
    auto entry = reinterpret_cast<ch_driver_entry_fn>(dlsym(handle, CH_DRIVER_ENTRY_SYMBOL));
    REQUIRE((entry != nullptr));
    const auto *info = static_cast<const ch_driver_info *>(dlsym(handle, CH_DRIVER_INFO_SYMBOL));
    REQUIRE(info != nullptr);
    CHECK(info->magic == CH_DRIVER_INFO_MAGIC);
    CHECK(std::string(info->name) == "example");

    ch_entry_request request{sizeof request, 2, 3};
    ch_entry_reply reply{sizeof reply, 0, nullptr};
    CHECK(entry(&request, &reply) == CH_ERR_ABI);
    CHECK(reply.table == nullptr);

    request = {sizeof request, 1, 3};
    CHECK(entry(&request, &reply) == CH_OK);
    CHECK(reply.abi_version == 1);
    CHECK(reply.table != nullptr);

    request.struct_size = 4; // a request too small to hold the range
    CHECK(entry(&request, &reply) == CH_ERR_ABI);
    dlclose(handle);
}

TEST_CASE("example.so end to end through the raw table") {
    auto lib = open_driver("example");
    const ch_driver_v1 &t = cloudhost::detail::driver_table(*lib);
    CapturingLogger logger(CH_LOG_INFO);
    {
        RawSet set(t, R"({ "max_instances" : 2 })", logger.get());
        REQUIRE_MESSAGE(set.status() == CH_OK, set.error().message());

        const TypeArg small("small", 0.25);
        InstanceCollector created;
        CallError error;
        REQUIRE(set.create(small, {{"role", "worker"}, {"owner", "a"}}, created, error) == CH_OK);
        REQUIRE(set.create(small, {{"role", "worker"}, {"owner", "b"}}, created, error) == CH_OK);
        REQUIRE(created.items.size() == 2);
        CHECK(created.items[0].id != created.items[1].id);
        CHECK(created.items[0].provider_type == "small");
        CHECK(created.items[0].tags == Tags{{"owner", "a"}, {"role", "worker"}});
        CHECK(logger.count("created instance", "id", created.items[0].id) == 1);

        SUBCASE("quota") {
            CallError quota;
            CHECK(set.create(small, {}, created, quota) == CH_ERR_QUOTA);
            CHECK(quota.e.status == CH_ERR_QUOTA);
            CHECK(std::string(quota.message()).find("at most 2") != std::string::npos);
            CHECK(created.items.size() == 2);
        }

        SUBCASE("instances honours the filter") {
            InstanceCollector listed;
            REQUIRE(set.instances(Tags{{"owner", "b"}}, listed, error) == CH_OK);
            REQUIRE(listed.items.size() == 1);
            CHECK(listed.items[0].id == created.items[1].id);
            InstanceCollector all;
            REQUIRE(set.instances({}, all, error) == CH_OK);
            CHECK(all.items.size() == 2);
            release_all(t, listed);
            release_all(t, all);
        }

        SUBCASE("per-instance calls") {
            ch_instance *first = created.items[0].handle;
            TagsCollector tags;
            REQUIRE(t.instance_tags(first, &tags.sink, &error.e) == CH_OK);
            CHECK(tags.tags == Tags{{"owner", "a"}, {"role", "worker"}});

            TagsArg replacement(Tags{{"role", "idle"}});
            REQUIRE(t.instance_set_tags(first, replacement.get(), &error.e) == CH_OK);
            TagsCollector after;
            REQUIRE(t.instance_tags(first, &after.sink, &error.e) == CH_OK);
            CHECK(after.tags == Tags{{"role", "idle"}});

            StringCollector address, user, group;
            REQUIRE(t.instance_address(first, &address.sink, &error.e) == CH_OK);
            CHECK(address.value.rfind("192.0.2.", 0) == 0);
            REQUIRE(t.instance_remote_user(first, &user.sink, &error.e) == CH_OK);
            CHECK(user.value == "admin");
            REQUIRE(t.instance_quota_group(set.get(), small.get(), &group.sink, &error.e) == CH_OK);
            CHECK(group.calls == 1);
            CHECK(group.value.empty());

            const std::string key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogus";
            CallError verify;
            CHECK(t.instance_verify_host_key(first, to_ch(key), nullptr, &verify.e) ==
                  CH_ERR_NOT_IMPLEMENTED);
            CHECK(verify.e.status == CH_ERR_NOT_IMPLEMENTED);
            CHECK(!verify.message().empty());

            PriceCollector prices;
            REQUIRE(t.instance_price_history(first, small.get(), &prices.sink, &error.e) == CH_OK);
            REQUIRE(prices.points.size() == 1);
            CHECK(prices.points[0].second == doctest::Approx(0.25));
            CHECK(prices.points[0].first > 0);
        }

        SUBCASE("destroy keeps the handle valid and is idempotent") {
            ch_instance *first = created.items[0].handle;
            REQUIRE(t.instance_destroy(first, &error.e) == CH_OK);
            REQUIRE(t.instance_destroy(first, &error.e) == CH_OK);
            InstanceCollector listed;
            REQUIRE(set.instances({}, listed, error) == CH_OK);
            REQUIRE(listed.items.size() == 1);
            CHECK(listed.items[0].id == created.items[1].id);
            release_all(t, listed);
            // Still usable after Destroy (rule 4).
            StringCollector address;
            CHECK(t.instance_address(first, &address.sink, &error.e) == CH_OK);
            // A slot frees up under the quota.
            CHECK(set.create(small, {}, created, error) == CH_OK);
        }

        SUBCASE("create after stop") {
            t.instance_set_stop(set.get());
            t.instance_set_stop(set.get()); // twice is harmless
            CallError stopped;
            CHECK(set.create(small, {}, created, stopped) == CH_ERR_GENERIC);
            CHECK(stopped.message() == "Create called after Stop");
        }

        release_all(t, created);
    }
    CHECK(logger.dropped_level_logs() == 0); // asked `enabled` before logging
}

// Every set of the loaded library shares one cloud, as processes share a
// real one: ids unique across sets, each set lists only its InstanceSetID's
// instances, a later set of the same id lists what an earlier one created,
// and once no set is open the cloud is emptied (its machines stopped).
TEST_CASE("example.so: one cloud for every instance set, each sees only its own") {
    auto lib = open_driver("example");
    const ch_driver_v1 &t = cloudhost::detail::driver_table(*lib);
    const std::string ours = "zzzzz-zzzzz-exampleoursset", theirs = "zzzzz-zzzzz-exampletheirss";
    const TypeArg small("small", 0.1);
    CallError error;
    auto listed_ids = [&](const RawSet &set) {
        InstanceCollector listed;
        REQUIRE(set.instances({}, listed, error) == CH_OK);
        std::vector<std::string> ids;
        for (const auto &item : listed.items)
            ids.push_back(item.id);
        release_all(t, listed);
        return ids;
    };
    auto keeper = std::make_unique<RawSet>(t, "{}", nullptr, theirs); // keeps the cloud open
    InstanceCollector kept;
    {
        RawSet first(t, "{}", nullptr, ours);
        REQUIRE(first.status() == CH_OK);
        REQUIRE(keeper->status() == CH_OK);
        InstanceCollector mine, foreign;
        REQUIRE(first.create(small, {{"role", "worker"}}, mine, error) == CH_OK);
        REQUIRE(keeper->create(small, {}, kept, error) == CH_OK);
        const std::string my_id = mine.items[0].id, foreign_id = kept.items[0].id;
        CHECK(my_id != foreign_id);
        CHECK(listed_ids(first) == std::vector<std::string>{my_id});
        CHECK(listed_ids(*keeper) == std::vector<std::string>{foreign_id});
        // Another set of the same id (another process, a restart) adopts it.
        RawSet second(t, "{}", nullptr, ours);
        InstanceCollector adopted;
        REQUIRE(second.instances(Tags{{"role", "worker"}}, adopted, error) == CH_OK);
        REQUIRE(adopted.items.size() == 1);
        CHECK(adopted.items[0].id == my_id);
        CHECK(adopted.items[0].tags == Tags{{"role", "worker"}});
        release_all(t, adopted);
        release_all(t, mine);
    }
    {
        // Both sets of `ours` are gone; the cloud (kept open) still has the VM.
        RawSet later(t, "{}", nullptr, ours);
        InstanceCollector adopted;
        REQUIRE(later.instances({}, adopted, error) == CH_OK);
        REQUIRE(adopted.items.size() == 1);
        CHECK(t.instance_destroy(adopted.items[0].handle, &error.e) == CH_OK);
        release_all(t, adopted);
        CHECK(listed_ids(later).empty());
    }
    release_all(t, kept);
    keeper.reset(); // the last set: the cloud is emptied
    RawSet fresh(t, "{}", nullptr, theirs);
    CHECK(listed_ids(fresh).empty());
}

TEST_CASE("example.so rejects bad config with one clear error") {
    auto lib = open_driver("example");
    const ch_driver_v1 &t = cloudhost::detail::driver_table(*lib);
    for (const char *config :
         {"[]", R"({"max_instances": -1})", R"({"other": 1})", R"({"max_instances": 2} x)", "{",
          R"({"max_instances": 99999999999})"}) {
        CAPTURE(config);
        RawSet set(t, config, nullptr);
        CHECK(set.status() == CH_ERR_INVALID_CONFIG);
        CHECK(set.get() == nullptr);
        CHECK(set.error().message().rfind("example config: ", 0) == 0);
    }
    for (const char *config : {"", "{}", " { } ", "{\"max_instances\":0}"}) {
        CAPTURE(config);
        RawSet set(t, config, nullptr);
        CHECK(set.status() == CH_OK);
    }
}

TEST_CASE("example.so under concurrent calls from 8 threads") {
    auto lib = open_driver("example");
    const ch_driver_v1 &t = cloudhost::detail::driver_table(*lib);
    RawSet set(t, "{}", nullptr);
    REQUIRE(set.status() == CH_OK);
    const TypeArg small("small", 0.1);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int n = 0; n < 8; ++n) {
        threads.emplace_back([&, n] {
            for (int i = 0; i < 50; ++i) {
                InstanceCollector created, listed;
                CallError error;
                if (set.create(small, {{"thread", std::to_string(n)}}, created, error) != CH_OK ||
                    set.instances(Tags{{"thread", std::to_string(n)}}, listed, error) != CH_OK) {
                    ++failures;
                    continue;
                }
                TagsArg tags(Tags{{"thread", std::to_string(n)}, {"i", std::to_string(i)}});
                if (t.instance_set_tags(created.items[0].handle, tags.get(), &error.e) != CH_OK ||
                    t.instance_destroy(created.items[0].handle, &error.e) != CH_OK)
                    ++failures;
                release_all(t, created);
                release_all(t, listed);
            }
        });
    }
    for (auto &th : threads)
        th.join();
    CHECK(failures == 0);
    InstanceCollector left;
    CallError error;
    REQUIRE(set.instances({}, left, error) == CH_OK);
    CHECK(left.items.empty());
}
