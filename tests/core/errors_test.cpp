// Every typed error of the stub crosses the C ABI and arrives as the right
// C++ exception with its fields.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <typeinfo>

using namespace cloudhost;
using namespace core_test;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string &extra) {
    return R"({"cloud": ")" + unique_cloud("errors") + "\"" + (extra.empty() ? "" : ", ") + extra +
           "}";
}

Instance create(InstanceSet &set, const std::string &provider_type) {
    return set.create(type(provider_type), "image-1", {{"k", "v"}}, "", std::nullopt);
}

} // namespace

TEST_CASE("a rate limit error arrives as RateLimitError with the driver's retry time") {
    auto lib = open_stub();
    const auto before = Clock::now();
    auto set = InstanceSet::open(lib, options(config(R"("rate_limit_create_for_ms": 60000)")));
    const auto after = Clock::now();
    try {
        create(set, "t1");
        FAIL("create did not throw");
    } catch (const RateLimitError &e) {
        CHECK(e.earliest_retry() >= before + 60s - 1ms);
        CHECK(e.earliest_retry() <= after + 60s + 1ms);
        CHECK_FALSE(e.is_quota_error());
        CHECK(std::string(e.what()).find("suppressed by the host") == std::string::npos);
    }
    CHECK(set.counters()[static_cast<std::size_t>(Operation::create)].errors == 1);
}

TEST_CASE("a quota error arrives as QuotaError") {
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(config(R"("quota_max_instances": 1)")));
    create(set, "t1");
    try {
        create(set, "t1");
        FAIL("create did not throw");
    } catch (const QuotaError &e) {
        CHECK(e.is_quota_error());
        CHECK(std::string(e.what()).size() > 0);
    }
}

TEST_CASE("capacity errors arrive as CapacityError with their scope and quota flag") {
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(config(R"("capacity_errors": [
            {"provider_type": "type-only", "scope": "instance_type"},
            {"provider_type": "group", "scope": "quota_group", "quota": true},
            {"provider_type": "everything", "scope": "all_types"}])")));
    struct Case {
        const char *provider_type;
        CapacityError::Scope scope;
        bool quota;
    };
    for (const Case &c : {Case{"type-only", CapacityError::Scope::instance_type, false},
                          Case{"group", CapacityError::Scope::quota_group, true},
                          Case{"everything", CapacityError::Scope::all_types, false}}) {
        CAPTURE(c.provider_type);
        try {
            create(set, c.provider_type);
            FAIL("create did not throw");
        } catch (const CapacityError &e) {
            CHECK(e.scope() == c.scope);
            CHECK(e.is_quota_error() == c.quota);
            CHECK(e.is_instance_type_specific() ==
                  (c.scope == CapacityError::Scope::instance_type));
            CHECK(e.is_instance_quota_group_specific() ==
                  (c.scope == CapacityError::Scope::quota_group));
        }
    }
    // Types without a configured error still work.
    CHECK(create(set, "fine").provider_type() == "fine");
}

TEST_CASE("verify_host_key without a mechanism arrives as NotImplementedError") {
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(config("")));
    auto instance = create(set, "t1");
    CHECK_THROWS_AS(instance.verify_host_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", nullptr),
                    NotImplementedError);
}

TEST_CASE("verify_host_key answers from the stub's configured key") {
    const std::string key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBOnd+2BhGfWqW0fN/5Rj2vdFMY6M4";
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(config(R"("host_key": ")" + key + "\"")));
    auto instance = create(set, "t1");
    CHECK_NOTHROW(instance.verify_host_key(key, nullptr));
    try {
        instance.verify_host_key("ssh-ed25519 AAAAwrong", nullptr);
        FAIL("a wrong key was accepted");
    } catch (const NotImplementedError &) {
        FAIL("a wrong key must be a plain error, not NotImplemented");
    } catch (const DriverError &e) {
        CHECK(typeid(e) == typeid(DriverError));
    }
}

TEST_CASE("an unknown stub config key arrives as InvalidConfigError naming the key") {
    auto lib = open_stub();
    try {
        InstanceSet::open(lib, options(config(R"("no_such_knob": 1)")));
        FAIL("open did not throw");
    } catch (const InvalidConfigError &e) {
        CHECK(std::string(e.what()).find("no_such_knob") != std::string::npos);
    }
    try {
        InstanceSet::open(lib, options(config(R"("seed": "not a number")")));
        FAIL("open did not throw");
    } catch (const InvalidConfigError &e) {
        CHECK(std::string(e.what()).find("seed") != std::string::npos);
    }
}

TEST_CASE("a plain driver error arrives as DriverError and nothing more specific") {
    auto lib = open_stub();
    auto set = InstanceSet::open(
        lib, options(config(R"("error_rate_create": 1.0, "error_rate_instances": 1.0)")));
    for (int i = 0; i < 2; ++i) {
        try {
            if (i == 0)
                create(set, "t1");
            else
                set.instances();
            FAIL("no error");
        } catch (const DriverError &e) {
            CHECK(typeid(e) == typeid(DriverError));
            CHECK_FALSE(e.is_quota_error());
            CHECK(std::string(e.what()).size() > 0);
        }
    }
    const auto counters = set.counters();
    CHECK(counters[static_cast<std::size_t>(Operation::create)].errors == 1);
    CHECK(counters[static_cast<std::size_t>(Operation::instances)].errors == 1);
}

TEST_CASE("exceptions thrown inside the driver become DriverError; the host survives") {
    auto lib = open_stub();
    auto set = InstanceSet::open(
        lib, options(config(R"("throw_in": ["create", "instances", "set_tags"])")));
    try {
        create(set, "t1");
        FAIL("create did not throw");
    } catch (const DriverError &e) {
        CHECK(typeid(e) == typeid(DriverError));
        CHECK(std::string(e.what()) == "stub: thrown logic_error");
    }
    try {
        set.instances();
        FAIL("instances did not throw");
    } catch (const DriverError &e) { // `throw 42;` inside the driver
        CHECK(typeid(e) == typeid(DriverError));
    }
    // The set and the library still work after the exceptions.
    auto other = InstanceSet::open(lib, options(config("")));
    auto instance = create(other, "t1");
    CHECK(instance.id().find(",t1") != std::string::npos);
    CHECK(other.instances().size() == 1);
    CHECK(set.instance_quota_group(type("t1")) == "t");
}
