// The built ec2.so, loaded by the host (catalog, dlopen, C ABI), against the
// fake EC2 endpoint (tests/ec2/endpoint): typed errors for every mapped code
// as the host sees them, the host's rate-limit gate (no call reaches the
// endpoint before EarliestRetry), subnet failover, pagination, credential
// refresh through IMDSv2, connection reuse from many threads.
#include "build_root.hpp"
#include "endpoint_process.hpp"
#include "temp_dir.hpp"

#include "cloudhost/catalog.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/ssh_key.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <set>
#include <thread>

using namespace cloudhost;
using cloudhost::test::EndpointProcess;
using cloudhost::test::TempDir;

using test_support::build_root;

namespace {

std::shared_ptr<DriverLibrary> ec2_driver(const TempDir &dir) {
    CatalogOptions options;
    options.dirs = {build_root() + "/plugins/ec2"};
    options.cache_dir = dir / "cache";
    return Catalog(options).load("ec2");
}

InstanceSet open_set(const TempDir &dir, const std::string &parameters) {
    InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-zzzzzzzzec2host";
    options.config_json = parameters;
    return InstanceSet::open(ec2_driver(dir), options);
}

InstanceType small_type(bool preemptible = false) {
    InstanceType type;
    type.name = preemptible ? "small-spot" : "small";
    type.provider_type = "m5.large";
    type.price = 0.1;
    type.preemptible = preemptible;
    return type;
}

Instance create(InstanceSet &set, const InstanceType &type = small_type()) {
    return set.create(type, "ami-12345678", {{"cloudhost-InstanceSetID", set.instance_set_id()}},
                      "true", std::nullopt);
}

void inject(const EndpointProcess &endpoint, const std::string &action, const std::string &code,
            const std::string &extra = "") {
    endpoint.control("POST", "/faults",
                     R"({"action": ")" + action + R"(", "code": ")" + code + "\"" +
                         (extra.empty() ? "" : ", " + extra) + "}");
}

} // namespace

TEST_CASE("ec2 via the host: every mapped error code arrives typed") {
    TempDir dir("ec2-host-errors");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers"});
    InstanceSet set = open_set(dir, endpoint.driver_parameters());

    struct Case {
        const char *code;
        const char *expected; // quota, capacity-type, capacity-group, generic
    };
    for (const Case c :
         {Case{"InstanceLimitExceeded", "quota"}, Case{"InsufficientAddressCapacity", "quota"},
          Case{"InsufficientFreeAddressesInSubnet", "quota"},
          Case{"InsufficientVolumeCapacity", "quota"},
          Case{"MaxSpotInstanceCountExceeded", "quota"},
          Case{"VcpuLimitExceeded", "capacity-group"},
          Case{"InsufficientInstanceCapacity", "capacity-type"}, Case{"InternalError", "generic"},
          Case{"AuthFailure", "generic"}}) {
        CAPTURE(c.code);
        inject(endpoint, "RunInstances", c.code);
        const long before = endpoint.action_count("RunInstances");
        std::string got;
        try {
            create(set);
            got = "success";
        } catch (const QuotaError &) {
            got = "quota";
        } catch (const CapacityError &e) {
            got = e.is_instance_type_specific()          ? "capacity-type"
                  : e.is_instance_quota_group_specific() ? "capacity-group"
                                                         : "capacity-all";
        } catch (const RateLimitError &) {
            got = "rate-limit";
        } catch (const DriverError &e) {
            got = "generic";
            CHECK(std::string(e.what()).find(c.code) != std::string::npos);
        }
        CHECK(got == c.expected);
        CHECK(endpoint.action_count("RunInstances") == before + 1); // no hidden retry
    }
    // The quota group the capacity error refers to.
    CHECK(set.instance_quota_group(small_type()) == "standard");
    CHECK(set.instance_quota_group(small_type(true)) == "standard-spot");
}

TEST_CASE("ec2 via the host: a throttled call suspends calls until EarliestRetry") {
    TempDir dir("ec2-host-throttle");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers"});
    InstanceSet set = open_set(dir, endpoint.driver_parameters());

    for (const char *code : {"RequestLimitExceeded", "Throttling"}) {
        CAPTURE(code);
        for (const auto &action_call : std::vector<std::pair<std::string, std::function<void()>>>{
                 {"RunInstances", [&] { create(set); }},
                 {"DescribeInstances", [&] { set.instances(); }}}) {
            const auto &action = action_call.first; // clang 14 cannot capture a structured binding
            const auto &call = action_call.second;
            CAPTURE(action);
            inject(endpoint, action, code);
            const long before = endpoint.action_count(action);
            Clock::time_point earliest;
            try {
                call();
                FAIL("no rate limit");
            } catch (const RateLimitError &e) {
                earliest = e.earliest_retry();
            }
            CHECK(earliest > Clock::now());
            CHECK(earliest <= Clock::now() + std::chrono::seconds(2)); // 1 s after one throttle
            CHECK(endpoint.action_count(action) == before + 1);
            // The host answers every call before EarliestRetry itself.
            int refused = 0;
            while (Clock::now() < earliest - std::chrono::milliseconds(100)) {
                CHECK_THROWS_AS(call(), RateLimitError);
                ++refused;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            CHECK(refused > 0);
            CHECK(endpoint.action_count(action) == before + 1); // zero calls reached the cloud
            std::this_thread::sleep_until(earliest + std::chrono::milliseconds(20));
            CHECK_NOTHROW(call());
            CHECK(endpoint.action_count(action) == before + 2);
        }
    }
    const auto counters = set.counters();
    CHECK(counters[static_cast<std::size_t>(Operation::create)].throttled > 0);
    CHECK(counters[static_cast<std::size_t>(Operation::instances)].throttled > 0);
}

TEST_CASE("ec2 via the host: subnet failover, remembering the subnet that worked") {
    TempDir dir("ec2-host-subnets");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers", "--subnet", "subnet-a",
                                                "--subnet", "subnet-b", "--subnet", "subnet-c"});
    InstanceSet set = open_set(
        dir, endpoint.driver_parameters(R"("subnet_id": ["subnet-a", "subnet-b", "subnet-c"])"));

    inject(endpoint, "RunInstances", "InsufficientInstanceCapacity", R"("subnet": "subnet-a")");
    const Instance first = create(set);
    CHECK(endpoint.action_count("RunInstances") == 2);
    const std::string counters = endpoint.control("GET", "/counters");
    CHECK(counters.find(R"("subnet-a": 1)") != std::string::npos);
    CHECK(counters.find(R"("subnet-b": 1)") != std::string::npos);
    // The next Create starts at subnet-b.
    create(set);
    CHECK(endpoint.action_count("RunInstances") == 3);
    CHECK(endpoint.control("GET", "/counters").find(R"("subnet-b": 2)") != std::string::npos);

    // Every subnet failing: the last capacity error, typed.
    inject(endpoint, "RunInstances", "InsufficientInstanceCapacity", R"("count": 2)");
    inject(endpoint, "RunInstances", "InvalidSubnetID.NotFound");
    try {
        create(set);
        FAIL("created");
    } catch (const CapacityError &e) {
        CHECK(e.is_instance_type_specific());
    }
    CHECK(endpoint.action_count("RunInstances") == 6);

    // An error that is not about the subnet is not retried elsewhere.
    inject(endpoint, "RunInstances", "InstanceLimitExceeded");
    CHECK_THROWS_AS(create(set), QuotaError);
    CHECK(endpoint.action_count("RunInstances") == 7);
}

TEST_CASE("ec2 via the host: pagination over 1,000 instances") {
    TempDir dir("ec2-host-pages");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers", "--page-size", "37",
                                                "--list-delay", "0", "--pending-delay", "0"});
    InstanceSet set = open_set(dir, endpoint.driver_parameters());
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            while (next++ < 1000)
                try {
                    create(set);
                } catch (...) {
                    ++failures;
                }
        });
    for (auto &t : threads)
        t.join();
    REQUIRE(failures == 0);
    const long before = endpoint.action_count("DescribeInstances");
    auto listed = set.instances({{"cloudhost-InstanceSetID", set.instance_set_id()}});
    CHECK(listed.size() == 1000);
    std::set<std::string> ids;
    for (const auto &i : listed)
        ids.insert(i.id());
    CHECK(ids.size() == 1000);
    CHECK(endpoint.action_count("DescribeInstances") - before == (1000 + 36) / 37);
    // Terminated ones drop out of the list.
    listed.front().destroy();
    const auto after = set.instances();
    CHECK(after.size() == 999);
}

TEST_CASE("ec2 via the host: role credentials from IMDSv2, refreshed before they expire") {
    TempDir dir("ec2-host-imds");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers", "--credential-lifetime", "4"});
    // No credentials anywhere else.
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
    ::unsetenv("AWS_SESSION_TOKEN");
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (dir / "no-such-file").c_str(), 1);
    InstanceSet set =
        open_set(dir, endpoint.driver_parameters(
                          R"("imds_endpoint": ")" + endpoint.info().imds_url + "\"", false));
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    const auto imds_credentials = [&] {
        const std::string c = endpoint.control("GET", "/counters");
        const auto at = c.find("\"credentials\": ");
        return at == std::string::npos ? 0 : std::stoi(c.substr(at + 15));
    };
    CHECK_NOTHROW(set.instances());
    CHECK(imds_credentials() == 1);
    CHECK_NOTHROW(set.instances()); // still fresh: no new fetch
    CHECK(imds_credentials() == 1);
    // Half-way through a 4 s life the driver fetches new ones before using them.
    std::this_thread::sleep_for(std::chrono::milliseconds(2300));
    CHECK_NOTHROW(set.instances());
    CHECK(imds_credentials() == 2);
    // Long after the first ones expired (and rotated out), calls still pass.
    std::this_thread::sleep_for(std::chrono::milliseconds(4500));
    CHECK_NOTHROW(create(set));
    CHECK(imds_credentials() >= 3);
    CHECK(endpoint.control("GET", "/counters").find(R"("auth_failures": 0)") != std::string::npos);
}

TEST_CASE("ec2 via the host: one key pair import, connections reused across threads") {
    TempDir dir("ec2-host-threads");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers"});
    InstanceSet set = open_set(dir, endpoint.driver_parameters());
    const std::string key = SshKey::generate_ed25519().public_key_openssh();
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 5; ++i)
                try {
                    set.create(small_type(), "ami-12345678",
                               {{"cloudhost-InstanceSetID", set.instance_set_id()}}, "true", key);
                    set.instances();
                } catch (...) {
                    ++failures;
                }
        });
    for (auto &t : threads)
        t.join();
    CHECK(failures == 0);
    CHECK(endpoint.action_count("RunInstances") == 40);
    CHECK(endpoint.action_count("ImportKeyPair") <= 8); // concurrent first calls may race
    const long imports = endpoint.action_count("ImportKeyPair");
    set.create(small_type(), "ami-12345678", {}, "true", key);
    CHECK(endpoint.action_count("ImportKeyPair") == imports); // cached now
    CHECK(endpoint.control("GET", "/counters").find(R"("validation_failures": 0)") !=
          std::string::npos);
}

TEST_CASE("ec2 via the host: spot price history plus the EBS cost, cached per interval") {
    TempDir dir("ec2-host-prices");
    EndpointProcess endpoint(dir / "endpoint", {"--no-ssh-servers"});
    const auto now = Clock::to_time_t(Clock::now());
    const auto iso = [](std::time_t t) {
        char buffer[32];
        std::tm utc{};
        gmtime_r(&t, &utc);
        std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
        return std::string(buffer);
    };
    endpoint.control(
        "POST", "/spot-prices",
        R"([{"instance_type": "m5.large", "availability_zone": "us-east-1a", "price": 0.05, "timestamp": ")" +
            iso(now - 3600) +
            R"("}, {"instance_type": "m5.large", "availability_zone": "us-east-1a", "price": 0.07, "timestamp": ")" +
            iso(now - 60) + R"("}])");
    InstanceSet set = open_set(dir, endpoint.driver_parameters(R"("ebs_price": 0.72)"));
    InstanceType type = small_type(true);
    type.added_scratch = 10ull << 30; // 10 GiB: 0.72 * 10 / 30 / 24 = 0.01 per hour
    Instance spot = create(set, type);
    const auto prices = spot.price_history(type);
    REQUIRE(prices.size() >= 2);
    std::vector<double> values;
    for (const auto &p : prices)
        values.push_back(p.price);
    CHECK(std::find_if(values.begin(), values.end(),
                       [](double v) { return std::abs(v - 0.08) < 1e-9; }) != values.end());
    CHECK(std::find_if(values.begin(), values.end(),
                       [](double v) { return std::abs(v - 0.06) < 1e-9; }) != values.end());
    const long lookups = endpoint.action_count("DescribeSpotPriceHistory");
    CHECK(lookups >= 1);
    spot.price_history(type); // cached for spot_price_update_interval (24 h)
    CHECK(endpoint.action_count("DescribeSpotPriceHistory") == lookups);
    // On-demand instances have no price data, as in Arvados.
    CHECK(create(set).price_history(small_type()).empty());
}
