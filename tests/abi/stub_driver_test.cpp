// The stub driver through its raw C table: every knob of its config, the
// SDK's exception guard, and thread safety. Host-side behaviour (wrappers,
// typed C++ exceptions) is tested in tests/core.
#include "cloudhost/internal/access.hpp"
#include "raw_driver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace abi_test;
using namespace std::chrono_literals;

namespace {

const ch_driver_v1 &stub_table() {
    // One load for the whole test program; the library stays mapped.
    static const std::shared_ptr<cloudhost::DriverLibrary> lib = open_driver("stub");
    return cloudhost::detail::driver_table(*lib);
}

// A config for a cloud no other test case uses.
std::string config_for(const std::string &knobs = "") {
    static std::atomic<int> serial{0};
    std::string config = R"({"cloud": "abi-test-)" + std::to_string(serial++) + "\"";
    if (!knobs.empty())
        config += ", " + knobs;
    return config + "}";
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

const TypeArg small_type("small", 0.5);

} // namespace

TEST_CASE("stub: an exception that is not an sdk::Error becomes CH_ERR_GENERIC with its text") {
    const ch_driver_v1 &t = stub_table();
    RawSet set(t, config_for(R"("throw_in": ["create", "instances", "address"])"), nullptr);
    REQUIRE_MESSAGE(set.status() == CH_OK, set.error().message());

    InstanceCollector out;
    CallError create_error;
    CHECK(set.create(small_type, {}, out, create_error) == CH_ERR_GENERIC);
    CHECK(create_error.e.status == CH_ERR_GENERIC);
    CHECK(create_error.message() == "stub: thrown logic_error");
    CHECK(out.items.empty());

    CallError list_error;
    CHECK(set.instances({}, out, list_error) == CH_ERR_GENERIC);
    CHECK(list_error.message() == "unknown exception in driver"); // `throw 42;`
}

TEST_CASE("stub: throw_in tags fails the host's Tags call but not listing") {
    const ch_driver_v1 &t = stub_table();
    RawSet set(t, config_for(R"("throw_in": ["tags"])"), nullptr);
    REQUIRE(set.status() == CH_OK);
    InstanceCollector out, listed;
    CallError error;
    REQUIRE(set.create(small_type, Tags{{"a", "1"}}, out, error) == CH_OK);
    REQUIRE(set.instances({}, listed, error) == CH_OK);
    REQUIRE(listed.items.size() == 1);
    CHECK(listed.items[0].tags == Tags{{"a", "1"}});
    TagsCollector tags;
    CallError tags_error;
    CHECK(t.instance_tags(out.items[0].handle, &tags.sink, &tags_error.e) == CH_ERR_GENERIC);
    CHECK(tags_error.message() == "stub: thrown runtime_error in tags");
    release_all(t, listed);
    release_all(t, out);
}

TEST_CASE("stub: rate limit errors carry earliest_retry_unix_ns") {
    const ch_driver_v1 &t = stub_table();
    SUBCASE("rate_limit_create_for_ms: retry at set start + value") {
        const int64_t before = now_ns();
        RawSet set(t, config_for(R"("rate_limit_create_for_ms": 60000)"), nullptr);
        const int64_t after = now_ns();
        REQUIRE(set.status() == CH_OK);
        InstanceCollector out;
        CallError error;
        CHECK(set.create(small_type, {}, out, error) == CH_ERR_RATE_LIMIT);
        CHECK(error.e.status == CH_ERR_RATE_LIMIT);
        CHECK(error.e.earliest_retry_unix_ns >= before + 60'000'000'000);
        CHECK(error.e.earliest_retry_unix_ns <= after + 60'000'000'000);
    }
    SUBCASE("min_time_between_create_calls_ms: retry at previous call + interval") {
        RawSet set(t, config_for(R"("min_time_between_create_calls_ms": 60000)"), nullptr);
        REQUIRE(set.status() == CH_OK);
        InstanceCollector out;
        CallError error;
        const int64_t before = now_ns();
        REQUIRE(set.create(small_type, {}, out, error) == CH_OK);
        const int64_t after = now_ns();
        CHECK(set.create(small_type, {}, out, error) == CH_ERR_RATE_LIMIT);
        CHECK(error.e.earliest_retry_unix_ns >= before + 60'000'000'000);
        CHECK(error.e.earliest_retry_unix_ns <= after + 60'000'000'000);
        CHECK(out.items.size() == 1);
        release_all(t, out);
    }
    SUBCASE("min_time_between_instances_calls_ms") {
        RawSet set(t, config_for(R"("min_time_between_instances_calls_ms": 60000)"), nullptr);
        REQUIRE(set.status() == CH_OK);
        InstanceCollector out;
        CallError error;
        REQUIRE(set.instances({}, out, error) == CH_OK);
        CHECK(set.instances({}, out, error) == CH_ERR_RATE_LIMIT);
        CHECK(error.e.earliest_retry_unix_ns > now_ns() + 50'000'000'000);
    }
}

TEST_CASE("stub: config errors name the key") {
    const ch_driver_v1 &t = stub_table();
    struct Case {
        const char *config;
        const char *message;
    };
    const Case cases[] = {
        {R"({"x": 1})", R"(stub config:1:2: unknown key "x" (known: cloud, )"},
        {R"({"quota_max_instances": -1})",
         R"(stub config:1:25: "quota_max_instances" must be an integer from 0 to )"},
        {R"({"quota_max_instances": "3"})",
         R"(stub config:1:25: "quota_max_instances" must be an integer from 0 to )"},
        {R"({"error_rate_create": 1.5})",
         R"(stub config:1:23: "error_rate_create" must be a number from 0 to 1)"},
        {R"({"throw_in": ["nothing"]})", R"(stub config:1:15: "throw_in[0]" is not an operation)"},
        {R"({"capacity_errors": [{"scope": "all_types"}]})",
         R"(stub config:1:22: "capacity_errors[0]" lacks the required key "provider_type")"},
        {R"({"capacity_errors": [{"provider_type": "a", "scope": "x"}]})",
         R"(stub config:1:54: "capacity_errors[0].scope" must be)"},
        {R"({"seed": 1, "seed": 2})", R"(stub config:1:13: duplicate key "seed")"},
        {"[1]", "stub config:1:1: the config must be an object"},
        {"{", "stub config:1:2: invalid JSON"},
    };
    for (const Case &c : cases) {
        const std::string config = c.config;
        CAPTURE(config);
        RawSet set(t, config, nullptr);
        CHECK(set.status() == CH_ERR_INVALID_CONFIG);
        CHECK(set.get() == nullptr);
        CHECK_MESSAGE(set.error().message().rfind(c.message, 0) == 0, set.error().message());
    }
}

TEST_CASE("stub: quota and capacity errors") {
    const ch_driver_v1 &t = stub_table();
    RawSet set(t, config_for(R"("quota_max_instances": 1, "capacity_errors": [
                   {"provider_type": "gpu", "scope": "instance_type"},
                   {"provider_type": "big", "scope": "quota_group", "quota": true},
                   {"provider_type": "any", "scope": "all_types"}])"),
               nullptr);
    REQUIRE_MESSAGE(set.status() == CH_OK, set.error().message());
    InstanceCollector out;
    CallError error;

    CallError gpu, big, any;
    CHECK(set.create(TypeArg("gpu", 1), {}, out, gpu) == CH_ERR_CAPACITY);
    CHECK(gpu.e.flags == CH_ERROR_FLAG_CAPACITY_INSTANCE_TYPE);
    CHECK(set.create(TypeArg("big", 1), {}, out, big) == CH_ERR_CAPACITY);
    CHECK(big.e.flags == (CH_ERROR_FLAG_CAPACITY_QUOTA_GROUP | CH_ERROR_FLAG_QUOTA));
    CHECK(set.create(TypeArg("any", 1), {}, out, any) == CH_ERR_CAPACITY);
    CHECK(any.e.flags == 0);

    REQUIRE(set.create(small_type, {}, out, error) == CH_OK);
    CallError quota;
    CHECK(set.create(small_type, {}, out, quota) == CH_ERR_QUOTA);
    CHECK(quota.message().find("quota") != std::string::npos);
    REQUIRE(out.items.size() == 1);
    release_all(t, out);
}

TEST_CASE("stub: the fault schedule is reproducible from the seed") {
    const ch_driver_v1 &t = stub_table();
    auto outcomes = [&](int seed) {
        RawSet set(t, config_for(R"("error_rate_create": 0.5, "seed": )" + std::to_string(seed)),
                   nullptr);
        REQUIRE(set.status() == CH_OK);
        std::string pattern;
        InstanceCollector out;
        for (int i = 0; i < 64; ++i) {
            CallError error;
            pattern += set.create(small_type, {}, out, error) == CH_OK ? '.' : 'x';
        }
        release_all(t, out);
        return pattern;
    };
    const std::string first = outcomes(7);
    CHECK(first == outcomes(7));
    CHECK(first != outcomes(8));
    CHECK(first.find('x') != std::string::npos);
    CHECK(first.find('.') != std::string::npos);
}

TEST_CASE("stub: instance identity, address, user, quota group, prices") {
    const ch_driver_v1 &t = stub_table();
    RawSet set(t, config_for(R"("ssh_port": 2222)"), nullptr);
    REQUIRE(set.status() == CH_OK);
    InstanceCollector out;
    CallError error;
    REQUIRE(set.create(small_type, {{"a", "1"}}, out, error) == CH_OK);
    const HandedOver &vm = out.items.at(0);
    CHECK(vm.id.rfind("inst", 0) == 0);
    CHECK(vm.id.substr(vm.id.size() - 6) == ",small");
    CHECK(vm.provider_type == "small");
    CHECK(vm.tags == Tags{{"a", "1"}});

    StringCollector address, user, text, group, preemptible_group;
    REQUIRE(t.instance_address(vm.handle, &address.sink, &error.e) == CH_OK);
    CHECK(address.value == "127.0.0.1:2222");
    REQUIRE(t.instance_remote_user(vm.handle, &user.sink, &error.e) == CH_OK);
    CHECK(user.value == "root");
    REQUIRE(t.instance_string(vm.handle, &text.sink, &error.e) == CH_OK);
    CHECK(text.value == vm.id);
    REQUIRE(t.instance_quota_group(set.get(), small_type.get(), &group.sink, &error.e) == CH_OK);
    CHECK(group.value == "s");
    const TypeArg spot("small", 0.1, true);
    REQUIRE(t.instance_quota_group(set.get(), spot.get(), &preemptible_group.sink, &error.e) ==
            CH_OK);
    CHECK(preemptible_group.value == "s-p");

    PriceCollector prices;
    REQUIRE(t.instance_price_history(vm.handle, small_type.get(), &prices.sink, &error.e) == CH_OK);
    REQUIRE(prices.points.size() == 1);
    CHECK(prices.points[0].second == doctest::Approx(0.5));
    CHECK(prices.points[0].first <= now_ns());

    CallError no_key;
    CHECK(t.instance_verify_host_key(vm.handle, to_ch(std::string("ssh-ed25519 AAAA")), nullptr,
                                     &no_key.e) == CH_ERR_NOT_IMPLEMENTED);
    release_all(t, out);
}

TEST_CASE("stub: host_key decides verify_host_key") {
    const ch_driver_v1 &t = stub_table();
    RawSet set(t, config_for(R"("host_key": "ssh-ed25519 AAAAgood stub@host")"), nullptr);
    REQUIRE(set.status() == CH_OK);
    InstanceCollector out;
    CallError error;
    REQUIRE(set.create(small_type, {}, out, error) == CH_OK);
    CallError good, bad;
    CHECK(t.instance_verify_host_key(out.items[0].handle,
                                     to_ch(std::string("ssh-ed25519 AAAAgood")), nullptr,
                                     &good.e) == CH_OK);
    CHECK(t.instance_verify_host_key(out.items[0].handle, to_ch(std::string("ssh-ed25519 AAAAbad")),
                                     nullptr, &bad.e) == CH_ERR_GENERIC);
    CHECK(bad.message().find("mismatch") != std::string::npos);
    release_all(t, out);
}

TEST_CASE("stub: slow boot, broken instances, list lag, stale tags") {
    const ch_driver_v1 &t = stub_table();
    InstanceCollector out;
    CallError error;

    SUBCASE("booting: empty address, verify fails \"booting\"") {
        RawSet set(t, config_for(R"("boot_delay_ms": 600000, "host_key": "ssh-ed25519 K")"),
                   nullptr);
        REQUIRE(set.create(small_type, {}, out, error) == CH_OK);
        StringCollector address;
        REQUIRE(t.instance_address(out.items[0].handle, &address.sink, &error.e) == CH_OK);
        CHECK(address.calls == 1);
        CHECK(address.value.empty());
        CallError verify;
        CHECK(t.instance_verify_host_key(out.items[0].handle, to_ch(std::string("ssh-ed25519 K")),
                                         nullptr, &verify.e) == CH_ERR_GENERIC);
        CHECK(verify.message().find("booting") != std::string::npos);
        release_all(t, out);
    }
    SUBCASE("broken: still listed, but address empty and tags/set_tags/verify fail") {
        RawSet set(t, config_for(R"("break_after_ms": 0)"), nullptr);
        REQUIRE(set.create(small_type, {{"k", "v"}}, out, error) == CH_OK);
        ch_instance *vm = out.items[0].handle;
        InstanceCollector listed;
        REQUIRE(set.instances({}, listed, error) == CH_OK);
        REQUIRE(listed.items.size() == 1);
        CHECK(listed.items[0].tags == Tags{{"k", "v"}});
        StringCollector address;
        REQUIRE(t.instance_address(vm, &address.sink, &error.e) == CH_OK);
        CHECK(address.value.empty());
        TagsCollector tags;
        CallError tags_error, set_error, verify_error;
        CHECK(t.instance_tags(vm, &tags.sink, &tags_error.e) == CH_ERR_GENERIC);
        CHECK(tags_error.message().find("instance") != std::string::npos);
        CHECK(tags_error.message().find("is broken") != std::string::npos);
        TagsArg replacement(Tags{{"k", "w"}});
        CHECK(t.instance_set_tags(vm, replacement.get(), &set_error.e) == CH_ERR_GENERIC);
        CHECK(set_error.message().find("is broken") != std::string::npos);
        CHECK(t.instance_verify_host_key(vm, to_ch(std::string("x")), nullptr, &verify_error.e) ==
              CH_ERR_GENERIC);
        release_all(t, listed);
        release_all(t, out);
    }
    SUBCASE("list lag: a new instance is not listed yet") {
        RawSet set(t, config_for(R"("list_lag_ms": 600000)"), nullptr);
        REQUIRE(set.create(small_type, {}, out, error) == CH_OK);
        InstanceCollector listed;
        REQUIRE(set.instances({}, listed, error) == CH_OK);
        CHECK(listed.items.empty());
        release_all(t, out);
    }
    SUBCASE("stale tags: Tags() reports the previous tags after SetTags") {
        RawSet set(t, config_for(R"("stale_tags_ms": 600000)"), nullptr);
        REQUIRE(set.create(small_type, {{"v", "1"}}, out, error) == CH_OK);
        TagsArg two(Tags{{"v", "2"}}), three(Tags{{"v", "3"}});
        REQUIRE(t.instance_set_tags(out.items[0].handle, two.get(), &error.e) == CH_OK);
        REQUIRE(t.instance_set_tags(out.items[0].handle, three.get(), &error.e) == CH_OK);
        TagsCollector tags;
        REQUIRE(t.instance_tags(out.items[0].handle, &tags.sink, &error.e) == CH_OK);
        CHECK(tags.tags == Tags{{"v", "1"}});
        release_all(t, out);
    }
    SUBCASE("fresh tags without stale_tags_ms") {
        RawSet set(t, config_for(), nullptr);
        REQUIRE(set.create(small_type, {{"v", "1"}}, out, error) == CH_OK);
        TagsArg two(Tags{{"v", "2"}});
        REQUIRE(t.instance_set_tags(out.items[0].handle, two.get(), &error.e) == CH_OK);
        TagsCollector tags;
        REQUIRE(t.instance_tags(out.items[0].handle, &tags.sink, &error.e) == CH_OK);
        CHECK(tags.tags == Tags{{"v", "2"}});
        release_all(t, out);
    }
}

TEST_CASE("stub: sets share a cloud by name; other names are other clouds") {
    const ch_driver_v1 &t = stub_table();
    const std::string shared = config_for();
    RawSet a(t, shared, nullptr);
    RawSet b(t, shared, nullptr);
    RawSet other(t, config_for(), nullptr);
    InstanceCollector created, seen_by_b, seen_by_other;
    CallError error;
    REQUIRE(a.create(small_type, {}, created, error) == CH_OK);
    REQUIRE(b.instances({}, seen_by_b, error) == CH_OK);
    REQUIRE(seen_by_b.items.size() == 1);
    CHECK(seen_by_b.items[0].id == created.items[0].id);
    REQUIRE(other.instances({}, seen_by_other, error) == CH_OK);
    CHECK(seen_by_other.items.empty());
    // Destroyed through b's handle: gone for a as well.
    REQUIRE(t.instance_destroy(seen_by_b.items[0].handle, &error.e) == CH_OK);
    InstanceCollector seen_by_a;
    REQUIRE(a.instances({}, seen_by_a, error) == CH_OK);
    CHECK(seen_by_a.items.empty());
    release_all(t, created);
    release_all(t, seen_by_b);
}

TEST_CASE("stub: filter_ignored") {
    const ch_driver_v1 &t = stub_table();
    for (bool ignored : {true, false}) {
        CAPTURE(ignored);
        RawSet set(t,
                   config_for(std::string(R"("filter_ignored": )") + (ignored ? "true" : "false")),
                   nullptr);
        InstanceCollector out, listed;
        CallError error;
        REQUIRE(set.create(small_type, {{"pool", "a"}}, out, error) == CH_OK);
        REQUIRE(set.create(small_type, {{"pool", "b"}}, out, error) == CH_OK);
        REQUIRE(set.instances(Tags{{"pool", "a"}}, listed, error) == CH_OK);
        CHECK(listed.items.size() == (ignored ? 2u : 1u));
        release_all(t, listed);
        release_all(t, out);
    }
}

TEST_CASE("stub: every host call logs \"stub call\" once; Create logs the new id") {
    const ch_driver_v1 &t = stub_table();
    CapturingLogger logger(CH_LOG_DEBUG);
    {
        RawSet set(t, config_for(), logger.get());
        InstanceCollector out, listed;
        CallError error;
        REQUIRE(set.create(small_type, {{"a", "1"}}, out, error) == CH_OK);
        REQUIRE(set.instances({}, listed, error) == CH_OK);
        REQUIRE(set.instances({}, listed, error) == CH_OK);
        // The SDK reads tags while handing instances over: not host calls.
        CHECK(logger.count("stub call", "op", "tags") == 0);
        TagsCollector tags;
        REQUIRE(t.instance_tags(out.items[0].handle, &tags.sink, &error.e) == CH_OK);
        REQUIRE(t.instance_destroy(out.items[0].handle, &error.e) == CH_OK);
        CHECK(logger.count("stub call", "op", "create") == 1);
        CHECK(logger.count("stub call", "op", "instances") == 2);
        CHECK(logger.count("stub call", "op", "tags") == 1);
        CHECK(logger.count("stub call", "op", "destroy") == 1);
        CHECK(logger.count("created instance", "id", out.items[0].id) == 1);
        release_all(t, listed);
        release_all(t, out);
    }
    CHECK(logger.dropped_level_logs() == 0);
}

TEST_CASE("stub: held calls wait for a byte on the FIFO; stop releases them with an error") {
    const ch_driver_v1 &t = stub_table();
    char dir_template[] = "/tmp/cloudhost-abi-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::string fifo = std::string(dir_template) + "/hold";
    {
        RawSet set(t, config_for(R"("hold_fifo": ")" + fifo + "\""), nullptr);
        REQUIRE_MESSAGE(set.status() == CH_OK, set.error().message());
        const int writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(writer >= 0);

        std::atomic<int> done{0};
        InstanceCollector first_out;
        CallError first_error;
        std::thread first([&] {
            first_error.e.status = set.create(small_type, {}, first_out, first_error);
            ++done;
        });
        std::this_thread::sleep_for(150ms);
        CHECK(done == 0); // held
        REQUIRE(write(writer, "x", 1) == 1);
        first.join();
        CHECK(first_error.e.status == CH_OK);
        CHECK(first_out.items.size() == 1);

        InstanceCollector second_out;
        CallError second_error;
        ch_status second_status = CH_OK;
        std::thread second(
            [&] { second_status = set.create(small_type, {}, second_out, second_error); });
        std::this_thread::sleep_for(100ms);
        t.instance_set_stop(set.get());
        second.join();
        CHECK(second_status == CH_ERR_GENERIC);
        CHECK(second_error.message() == "Create called after Stop");
        CHECK(second_out.items.empty());
        close(writer);
        release_all(t, first_out);
    }
    unlink(fifo.c_str());
    rmdir(dir_template);
}

TEST_CASE("stub: instances_for_bench pre-populates tagged instances") {
    const ch_driver_v1 &t = stub_table();
    const std::string config = config_for(R"("instances_for_bench": 1000)");
    RawSet set(t, config, nullptr);
    RawSet again(t, config, nullptr); // same cloud: topped up, not doubled
    InstanceCollector listed;
    CallError error;
    REQUIRE(set.instances({}, listed, error) == CH_OK);
    REQUIRE(listed.items.size() == 1000);
    CHECK(listed.items[0].provider_type == "bench");
    // Every tag arrives intact (the SDK once handed over dangling views).
    Tags expected;
    for (int k = 0; k < 8; ++k)
        expected["k" + std::to_string(k)] = "value-0-" + std::to_string(k);
    CHECK(listed.items[0].tags == expected);
    release_all(t, listed);
}

TEST_CASE("stub: 8 threads hammer create/instances/set_tags/destroy") {
    const ch_driver_v1 &t = stub_table();
    RawSet set(t, config_for(R"("error_rate_set_tags": 0.1, "error_rate_destroy": 0.1)"), nullptr);
    REQUIRE(set.status() == CH_OK);
    std::atomic<int> unexpected{0};
    std::vector<std::thread> threads;
    for (int n = 0; n < 8; ++n) {
        threads.emplace_back([&, n] {
            for (int i = 0; i < 40; ++i) {
                InstanceCollector created, listed;
                CallError error;
                if (set.create(small_type, {{"n", std::to_string(n)}}, created, error) != CH_OK) {
                    ++unexpected;
                    continue;
                }
                if (set.instances({}, listed, error) != CH_OK)
                    ++unexpected;
                TagsArg tags(Tags{{"n", std::to_string(n)}, {"i", std::to_string(i)}});
                const ch_status set_status =
                    t.instance_set_tags(created.items[0].handle, tags.get(), &error.e);
                if (set_status != CH_OK && set_status != CH_ERR_GENERIC)
                    ++unexpected;
                TagsCollector read;
                if (t.instance_tags(created.items[0].handle, &read.sink, &error.e) != CH_OK)
                    ++unexpected;
                // Injected destroy errors are retried: every VM ends up gone.
                for (int attempt = 0; attempt < 100; ++attempt)
                    if (t.instance_destroy(created.items[0].handle, &error.e) == CH_OK)
                        break;
                release_all(t, created);
                release_all(t, listed);
            }
        });
    }
    for (auto &th : threads)
        th.join();
    CHECK(unexpected == 0);
    InstanceCollector left;
    CallError error;
    REQUIRE(set.instances({}, left, error) == CH_OK);
    CHECK(left.items.empty());
}
