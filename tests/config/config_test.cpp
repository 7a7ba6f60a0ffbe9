// The config file: every error names file, line and column; nothing
// half-applies.
#include "cloudhost/config.hpp"
#include "cloudhost/json_depth_limit.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
    // Above 2^63 (where llround would overflow) and up to 2^64.
    CHECK(parse_byte_size("10000000TB") == 10'000'000'000'000'000'000ull);
    CHECK(parse_byte_size("18446744073709549568") == 18446744073709549568ull);
    CHECK_THROWS_AS(parse_byte_size("18446744073709551616"), ConfigError);
    CHECK_THROWS_AS(parse_byte_size("18500000TB"), ConfigError);
    // Bare seconds have the same ceiling as unit durations.
    CHECK(parse_duration("1000000000000") == std::chrono::seconds(1'000'000'000'000));
    CHECK_THROWS_AS(parse_duration("1e300"), ConfigError);
    CHECK_THROWS_AS(parse_duration(std::string(400, '9')), ConfigError);
}

TEST_CASE("resource_tags obey the tag rules, with file, line and column") {
    CHECK(error_of("{\"resource_tags\": {\"\": \"v\"}}") ==
          "test.json:1:20: \"resource_tags\": tag key \"\" is empty (tag keys must not be empty)");
    CHECK(error_of("{\"resource_tags\": {\n  \"" + std::string(129, 'k') + "\": \"v\"}}") ==
          "test.json:2:3: \"resource_tags\": tag key \"" + std::string(80, 'k') +
              "...\" is 129 bytes long (at most 128)");
    CHECK(error_of("{\"resource_tags\": {\"team\": \"a\\u0007b\"}}") ==
          "test.json:1:28: \"resource_tags\": tag \"team\": value contains control character "
          "\\x07 at byte 2 (control characters are not allowed)");
    CHECK(error_of("{\"resource_tags\": {\"k\\u007f\": \"v\"}}")
              .find("test.json:1:20: \"resource_tags\": tag key \"k\\x7f\" contains control") == 0);
    CHECK(error_of("{\"resource_tags\": {\"team\": \"" + std::string(257, 'v') + "\"}}") ==
          "test.json:1:28: \"resource_tags\": tag \"team\": value is 257 bytes long (at most 256)");
    // Room for the 4 tags the host adds: 46 fit, 47 do not.
    auto tags_object = [](int n) {
        std::string text = "{";
        for (int i = 0; i < n; ++i)
            text += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": \"v\"";
        return text + "}";
    };
    CHECK(parse_config("{\"resource_tags\": " + tags_object(46) + "}", "f").resource_tags.size() ==
          46);
    CHECK(error_of("{\"resource_tags\": " + tags_object(47) + "}") ==
          "test.json:1:19: \"resource_tags\" has 47 tags; at most 46 (the host adds 4 of its own, "
          "50 in all)");
    // Non-ASCII UTF-8 is fine.
    CHECK(parse_config("{\"resource_tags\": {\"caf\xc3\xa9\": \"\xe2\x82\xac\"}}", "f")
              .resource_tags.at("caf\xc3\xa9") == "\xe2\x82\xac");
}

TEST_CASE("tag_key_prefix must leave valid tag keys") {
    CHECK(parse_config("{\"tag_key_prefix\": \"\"}", "f").tag_key_prefix.empty());
    CHECK(parse_config("{\"tag_key_prefix\": \"" + std::string(114, 'p') + "\"}", "f")
              .tag_key_prefix.size() == 114);
    CHECK(error_of("{\"tag_key_prefix\": \"" + std::string(115, 'p') + "\"}") ==
          "test.json:1:20: \"tag_key_prefix\" makes the tag key \"" + std::string(80, 'p') +
              "...\", which is 129 bytes long (at most 128)");
    CHECK(
        error_of("{\"tag_key_prefix\": \"a\\tb\"}")
            .find("test.json:1:20: \"tag_key_prefix\" makes the tag key \"a\\x09bInstanceSecret\", "
                  "which contains control character \\x09") == 0);
}

TEST_CASE("instance types: every field is checked and named") {
    auto type_error = [](const std::string &fields) {
        return error_of("{\"instance_types\": {\"a\": {" + fields + "}}}");
    };
    // Column 27 is where the value of the first field starts.
    CHECK(type_error("\"provider_type\": \"\"") ==
          "test.json:1:44: \"instance_types.a.provider_type\" must not be empty (omit it for the "
          "default)");
    CHECK(type_error("\"provider_type\": \"t3\\nsmall\"") ==
          "test.json:1:44: \"instance_types.a.provider_type\" contains control character \\x0a "
          "at byte 3 (control characters are not allowed)");
    CHECK(type_error("\"provider_type\": 3") ==
          "test.json:1:44: \"instance_types.a.provider_type\" must be a string, not a number");
    CHECK(type_error("\"vcpus\": 1048577") ==
          "test.json:1:36: \"instance_types.a.vcpus\" must be an integer between 0 and 1048576");
    CHECK(type_error("\"vcpus\": 1.5") ==
          "test.json:1:36: \"instance_types.a.vcpus\" must be an integer between 0 and 1048576");
    CHECK(type_error("\"ram\": -1").find("test.json:1:34: \"instance_types.a.ram\" must be") == 0);
    CHECK(type_error("\"ram\": \"2 parsecs\"")
              .find("test.json:1:34: \"instance_types.a.ram\": bad byte size") == 0);
    CHECK(type_error("\"price\": -0.01") ==
          "test.json:1:36: \"instance_types.a.price\" must be between 0 and 1e+09");
    CHECK(type_error("\"price\": 1e10") ==
          "test.json:1:36: \"instance_types.a.price\" must be between 0 and 1e+09");
    CHECK(type_error("\"price\": \"cheap\"") ==
          "test.json:1:36: \"instance_types.a.price\" must be a number, not a string");
    CHECK(type_error("\"preemptible\": 1") ==
          "test.json:1:42: \"instance_types.a.preemptible\" must be a boolean, not a number");
    CHECK(type_error("\"included_scratch\": \"16EiB\"")
              .find("\"instance_types.a.included_scratch\": bad byte size") != std::string::npos);
    CHECK(type_error("\"included_scratch\": 18446744073709551615, \"added_scratch\": 1") ==
          "test.json:1:86: \"instance_types.a.added_scratch\" plus included_scratch overflows "
          "2^64 bytes");
    CHECK(type_error("\"scratch\": 1") ==
          "test.json:1:38: \"instance_types.a.scratch\" is computed (included_scratch + "
          "added_scratch); remove it");
    CHECK(type_error("\"gpu\": {\"stack\": \"opencl\", \"device_count\": 1}") ==
          "test.json:1:44: \"instance_types.a.gpu.stack\" must be \"cuda\" or \"rocm\"");
    CHECK(type_error("\"gpu\": {\"device_count\": 2}") ==
          "test.json:1:51: \"instance_types.a.gpu.device_count\" needs \"stack\" (\"cuda\" or "
          "\"rocm\")");
    CHECK(type_error("\"gpu\": {\"stack\": \"cuda\"}") ==
          "test.json:1:44: \"instance_types.a.gpu.stack\" needs \"device_count\" of at least 1");
    CHECK(type_error("\"gpu\": {\"stack\": \"cuda\", \"device_count\": 1, \"cores\": 9}")
              .find("test.json:1:71: unknown key \"instance_types.a.gpu.cores\"") == 0);
    CHECK(
        type_error("\"sizee\": 1").find("test.json:1:27: unknown key \"instance_types.a.sizee\"") ==
        0);

    // Names: non-empty, unique, and usable as the InstanceType tag's value.
    CHECK(error_of("{\"instance_types\": {\"\": {}}}") ==
          "test.json:1:21: instance type names must not be empty");
    CHECK(error_of("{\"instance_types\": {\"a\": {}, \"a\": {}}}")
              .find("test.json:1:30: invalid JSON: duplicate key \"a\"") == 0);
    CHECK(error_of("{\"instance_types\": {\"a\\u0000\": {}}}") ==
          "test.json:1:21: instance type name \"a\\x00\" contains control character \\x00 at "
          "byte 2 (control characters are not allowed)");
    CHECK(error_of("{\"instance_types\": {\"" + std::string(257, 'n') + "\": {}}}")
              .find("test.json:1:21: instance type name \"" + std::string(80, 'n') +
                    "...\" is 257 bytes long (at most 256)") == 0);

    // A valid type reads whole; ProviderType defaults to the name.
    Config c = parse_config("{\"instance_types\": {\"gpu1\": {\"gpu\": {\"stack\": \"rocm\", "
                            "\"device_count\": 2, \"vram\": \"16GiB\"}}}}",
                            "f");
    const InstanceType &t = c.instance_type("gpu1");
    CHECK(t.provider_type == "gpu1");
    CHECK(t.gpu_stack == "rocm");
    CHECK(t.gpu_device_count == 2);
    CHECK(t.gpu_vram == 16ull << 30);
}

TEST_CASE("timeouts: negative and zero durations name the key") {
    CHECK(error_of("{\"timeouts\": {\"boot\": -5}}") ==
          "test.json:1:23: \"timeouts.boot\" must not be negative");
    CHECK(error_of("{\"timeouts\": {\"probe_interval\": 0}}") ==
          "test.json:1:33: \"timeouts.probe_interval\" must be at least 1ms");
    CHECK(error_of("{\"timeouts\": {\"sync_interval\": \"0s\"}}") ==
          "test.json:1:32: \"timeouts.sync_interval\" must be at least 1ms");
    CHECK(error_of("{\"timeouts\": {\"connect\": \"-1s\"}}")
              .find("test.json:1:26: \"timeouts.connect\": bad duration \"-1s\"") == 0);
    CHECK(error_of("{\"timeouts\": {\"destroy\": true}}") ==
          "test.json:1:26: \"timeouts.destroy\" must be a duration string like \"90s\" or "
          "seconds, not a boolean");
    // 0 means "no limit" for a command.
    CHECK(parse_config("{\"timeouts\": {\"command\": 0}}", "f").timeouts.command.count() == 0);
}

TEST_CASE("one-line strings refuse control characters") {
    CHECK(error_of("{\"image_id\": \"ami-1\\n\"}") ==
          "test.json:1:14: \"image_id\" contains control character \\x0a at byte 6 (control "
          "characters are not allowed)");
    CHECK(error_of("{\"instance_secret_path\": \"/run/s\\u001b\"}")
              .find("test.json:1:26: \"instance_secret_path\" contains control character \\x1b") ==
          0);
    CHECK(error_of("{\"driver_version\": \">=1\\r\"}")
              .find("test.json:1:20: \"driver_version\" contains control character") == 0);
    CHECK(error_of("{\"ssh_port\": \"ssh\\n\"}") ==
          "test.json:1:14: \"ssh_port\" must be a port number 1-65535 or a service name");
    CHECK(error_of("{\"ssh_port\": 0}") ==
          "test.json:1:14: \"ssh_port\" must be a port number 1-65535 or a service name");
    CHECK(error_of("{\"max_cloud_ops_per_second\": -1}") ==
          "test.json:1:30: \"max_cloud_ops_per_second\" must be between 0 and 1e+06");
    // Multi-line commands stay allowed: they are shell scripts.
    CHECK(parse_config("{\"instance_init_command\": \"a\\nb\"}", "f").instance_init_command ==
          "a\nb");
}

// Issue 10: parsers must not crash on any input, and every bound is named.
TEST_CASE("nesting deeper than the limit is refused with file, line and column, anywhere") {
    const std::string deep = std::string(30000, '[') + std::string(30000, ']');
    // 30,000 levels used to overflow the stack (SIGSEGV) in every command.
    const std::string in_parameters =
        error_of("{\"driver\": \"stub\",\n \"driver_parameters\": {\"x\": " + deep + "}}");
    CHECK(in_parameters.find("test.json:2:") == 0);
    CHECK(in_parameters.find("nesting deeper than 64 levels") != std::string::npos);
    CHECK(error_of(deep).find("test.json:1:65: invalid JSON: nesting deeper than 64 levels") == 0);
    std::string objects;
    for (int i = 0; i < 5000; ++i)
        objects += "{\"a\":";
    CHECK(error_of("{\"instance_types\": " + objects + "1" + std::string(5000, '}') + "}")
              .find("nesting deeper than 64 levels") != std::string::npos);
    CHECK(error_of("{\"trust\": {\"digests\": " + deep + "}}").find("nesting deeper") !=
          std::string::npos);
    // The limit itself: the root object is level 1.
    const auto nested = [](int levels) {
        return "{\"driver\": \"stub\", \"driver_parameters\": {\"x\": " +
               std::string(static_cast<std::size_t>(levels), '[') +
               std::string(static_cast<std::size_t>(levels), ']') + "}}";
    };
    CHECK(parse_config(nested(62), "f").driver_parameters.size() > 62);
    CHECK(error_of(nested(63)).find("nesting deeper than 64 levels") != std::string::npos);
}

TEST_CASE("a NUL byte in the config is refused, not a silent end of file") {
    const std::string text("{\"driver\": \"stub\"}\n\0{\"image_id\": 1}", 35);
    CHECK(error_of(text) ==
          "test.json:2:1: invalid JSON: contains a NUL byte (a config file is text)");
    CHECK(error_of(std::string("{\"image_id\": \"a\0b\"}", 19)).find("test.json:1:16:") == 0);
}

TEST_CASE("config files: only regular files, at most max_config_file_bytes") {
    CHECK_THROWS_WITH_AS(load_config("/dev/zero"),
                         "/dev/zero: cannot read config file: not a regular file "
                         "(character device)",
                         ConfigError);
    char dir_template[] = "/tmp/cloudhost-config-test-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::filesystem::path dir = dir_template;
    const auto big = dir / "big.json";
    {
        std::ofstream out(big);
        out << "{\"driver_parameters\": {\"x\": \"" << std::string(max_config_file_bytes, 'a')
            << "\"}}";
    }
    const std::string message = [&] {
        try {
            load_config(big);
        } catch (const ConfigError &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    }();
    CHECK(message.find(big.string() + ": cannot read config file: file too large") == 0);
    const auto fifo = dir / "fifo.json";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_AS(load_config(fifo), ConfigError); // refused, does not block
    std::filesystem::remove_all(dir);
}

TEST_CASE("max_cloud_ops_per_second: 0 = no limit, else 0.001 to 1e6") {
    CHECK(parse_config("{\"max_cloud_ops_per_second\": 0}", "f").max_cloud_ops_per_second == 0);
    CHECK(parse_config("{\"max_cloud_ops_per_second\": 0.001}", "f").max_cloud_ops_per_second ==
          0.001);
    CHECK(parse_config("{\"max_cloud_ops_per_second\": 1e6}", "f").max_cloud_ops_per_second == 1e6);
    // 1e-9 slept for decades; 1e-300 overflowed into "no limit".
    for (const char *tiny : {"1e-9", "1e-300", "0.0009", "5e-324"})
        CHECK(error_of(std::string("{\"max_cloud_ops_per_second\": ") + tiny + "}") ==
              "test.json:1:30: \"max_cloud_ops_per_second\" must be 0 (no limit) or between 0.001 "
              "and 1e+06");
    CHECK(error_of("{\"max_cloud_ops_per_second\": 1e7}") ==
          "test.json:1:30: \"max_cloud_ops_per_second\" must be between 0 and 1e+06");
}

TEST_CASE("ssh_port: service names are resolved when the config is read") {
    CHECK(parse_config("{\"ssh_port\": \"ssh\"}", "f").ssh_port == "22");
    CHECK(parse_config("{\"ssh_port\": \"2222\"}", "f").ssh_port == "2222");
    CHECK(error_of("{\"ssh_port\": \"no-such-service\"}") ==
          "test.json:1:14: \"ssh_port\": \"no-such-service\" is not a port number 1-65535 nor a "
          "TCP service name known to this system (/etc/services)");
    CHECK(error_of("{\"ssh_port\": \"65536\"}").find("is not a port number") != std::string::npos);
    CHECK(error_of("{\"ssh_port\": \"0\"}").find("is not a port number") != std::string::npos);
}

TEST_CASE("image ids: one rule for the config and create --image") {
    CHECK(image_id_problem("ami-123") == std::nullopt);
    CHECK(image_id_problem("caf\xc3\xa9") == std::nullopt);
    CHECK(image_id_problem("a\xff").has_value()); // the JSON reader refuses it before
    for (const std::string bad : {"a\x1b[2J", "a\nb", "a\x7f", "a\xc2\x9b"}) {
        REQUIRE(image_id_problem(bad).has_value());
        std::string json = "{\"image_id\": \"";
        for (unsigned char c : bad) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, c < 0x20 ? "\\u%04x" : "%c", c);
            json += escaped;
        }
        json += "\"}";
        CHECK(error_of(json) == "test.json:1:14: \"image_id\" " + *image_id_problem(bad));
    }
}

TEST_CASE("the shared depth limit works on a RapidJSON document (stub and loopback state)") {
    rapidjson::Document doc;
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const auto refused = json::parse_document_with_depth_limit(doc, deep);
    CHECK_FALSE(refused);
    CHECK(refused.too_deep);
    CHECK(refused.message() == "nesting deeper than 64 levels (arrays and objects)");
    CHECK(doc.IsNull());
    const auto accepted =
        json::parse_document_with_depth_limit(doc, R"({"a": [[1, 2], {"b": null}]})");
    CHECK(accepted);
    CHECK(doc["a"][0][1].GetInt() == 2);
    const auto malformed = json::parse_document_with_depth_limit(doc, "{\"a\": }");
    CHECK_FALSE(malformed);
    CHECK_FALSE(malformed.too_deep);
    CHECK(malformed.offset() == 6);
}
