// The config file: every error names file, line and column; nothing
// half-applies.
#include "cloudhost/config.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace cloudhost;

namespace {
std::string error_of(const std::string &text) {
    try {
        parse_config(text, "test.json");
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "no error";
}
} // namespace

TEST_CASE("a full config is read with every field") {
    const char *text = R"({
  "driver": "stub",
  "driver_version": ">=1.0 <2",
  "driver_parameters": {"cloud": "x", "quota_max_instances": 3},
  "driver_dirs": ["/opt/drivers"],
  "instance_set_id": "abcde-12345-abcdefghij12345",
  "resource_tags": {"team": "infra"},
  "tag_key_prefix": "Arvados",
  "instance_types": {
    "small": {"provider_type": "t3.small", "vcpus": 2, "ram": "2GiB",
              "included_scratch": "10GB", "added_scratch": 1000, "price": 0.02,
              "preemptible": true}
  },
  "image_id": "ami-1",
  "ssh_port": 2222,
  "deploy_public_key": false,
  "boot_probe_command": "systemctl is-system-running",
  "instance_secret_path": "/run/secret",
  "max_cloud_ops_per_second": 5,
  "timeouts": {"boot": "10m", "probe_interval": "2s", "command": 30}
})";
    Config c = parse_config(text, "full.json");
    CHECK(c.driver == "stub");
    CHECK(c.driver_version == ">=1.0 <2");
    CHECK(c.driver_parameters == R"({"cloud": "x", "quota_max_instances": 3})");
    REQUIRE(c.driver_dirs.size() == 1);
    CHECK(c.driver_dirs[0] == "/opt/drivers");
    CHECK(c.instance_set_id == "abcde-12345-abcdefghij12345");
    CHECK(c.resource_tags.at("team") == "infra");
    CHECK(c.tag_key_prefix == "Arvados");
    const InstanceType &t = c.instance_type("small");
    CHECK(t.provider_type == "t3.small");
    CHECK(t.vcpus == 2);
    CHECK(t.ram == 2ull * 1024 * 1024 * 1024);
    CHECK(t.included_scratch == 10'000'000'000ull);
    CHECK(t.added_scratch == 1000);
    CHECK(t.scratch == 10'000'001'000ull);
    CHECK(t.price == doctest::Approx(0.02));
    CHECK(t.preemptible);
    CHECK(c.ssh_port == "2222");
    CHECK_FALSE(c.deploy_public_key);
    CHECK(c.effective_instance_secret_path() == "/run/secret");
    CHECK(c.max_cloud_ops_per_second == 5);
    CHECK(c.timeouts.boot == std::chrono::minutes(10));
    CHECK(c.timeouts.probe_interval == std::chrono::seconds(2));
    CHECK(c.timeouts.command == std::chrono::seconds(30));
}

TEST_CASE("syntax errors give line and column") {
    CHECK(error_of("{\n  \"driver\": \"stub\",\n}") ==
          "test.json:3:1: invalid JSON: Missing a name for object member.");
    CHECK(error_of("") == "test.json:1:1: invalid JSON: The document is empty.");
    CHECK(error_of("{\"driver\": \"a\", \"driver\": \"b\"}")
              .find("test.json:1:17: invalid JSON: "
                    "duplicate key \"driver\"") == 0);
}

TEST_CASE("unknown keys and wrong types name the key and its position") {
    CHECK(error_of("{\n  \"drver\": \"stub\"\n}").find("test.json:2:3: unknown key \"drver\"") ==
          0);
    CHECK(error_of("{\"ssh_port\": true}") ==
          "test.json:1:14: \"ssh_port\" must be a port number 1-65535 or a service name");
    CHECK(error_of("{\"timeouts\": {\"boot\": \"soon\"}}")
              .find("test.json:1:23: \"timeouts.boot\": "
                    "bad duration \"soon\"") == 0);
    CHECK(error_of("{\"instance_types\": {\"a\": {\"vcpus\": -1}}}") ==
          "test.json:1:36: \"instance_types.a.vcpus\" must be an integer between 0 and 1048576");
    CHECK(error_of("{\"instance_types\": [{\"name\": \"a\"}]}")
              .find("legacy array form is not accepted") != std::string::npos);
    CHECK(error_of("{\"resource_tags\": {\"a\": 1}}") ==
          "test.json:1:25: \"resource_tags.a\" must be a string, not a number");
    CHECK(error_of("{\"driver\": \"../evil\"}").find("\"driver\" must be a driver name") !=
          std::string::npos);
    CHECK(error_of("[]") == "test.json:1:1: the config must be an object, not an array");
}

TEST_CASE("driver parameters are passed verbatim") {
    Config c = parse_config("{\"driver\":\"x\",\"driver_parameters\":{ \"a\" : [1, 2] }}", "f");
    CHECK(c.driver_parameters == "{ \"a\" : [1, 2] }");
    CHECK(error_of("{\"driver_parameters\": 3}") ==
          "test.json:1:23: \"driver_parameters\" must be an object, not a number");
}

TEST_CASE("the embedded default is loopback with a detected localhost type") {
    Config c = default_config();
    CHECK(c.driver == "loopback");
    CHECK(c.instance_set_id == "zzzzz-zzzzz-zzzzzzcloudhost");
    const InstanceType &t = c.cheapest_instance_type();
    CHECK(t.name == "localhost");
    CHECK(t.vcpus >= 1);
    CHECK(t.ram > 0);
    CHECK(c.effective_instance_secret_path() == "instance-secret");
    CHECK_THROWS_WITH_AS(c.instance_type("huge"),
                         "unknown instance type \"huge\" (configured: localhost)", ConfigError);
}

TEST_CASE("durations and byte sizes") {
    CHECK(parse_duration("1m30s") == std::chrono::seconds(90));
    CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
    CHECK(parse_duration("2h") == std::chrono::hours(2));
    CHECK(parse_duration("1.5") == std::chrono::milliseconds(1500));
    CHECK_THROWS_AS(parse_duration("5 minutes"), ConfigError);
    CHECK_THROWS_AS(parse_duration(""), ConfigError);
    CHECK(parse_byte_size("4GiB") == 4ull << 30);
    CHECK(parse_byte_size("512MB") == 512'000'000ull);
    CHECK(parse_byte_size("1000") == 1000);
    CHECK_THROWS_AS(parse_byte_size("4 gigs"), ConfigError);
    CHECK_THROWS_AS(parse_byte_size("99999999999PiB"), ConfigError);
}
