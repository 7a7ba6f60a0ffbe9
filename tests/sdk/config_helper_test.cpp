// The SDK's config helper: a driver's declared keys give a parsed struct or
// one InvalidConfigError naming the key, line and column, for every way a
// config can be wrong.
#include "sample_schema.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using cloudhost::sdk::InvalidConfigError;
using cloudhost::test::sample_schema;
using cloudhost::test::SampleConfig;

namespace {

// The message of the error parsing `json` raises ("" if none).
std::string error_of(const std::string &json) {
    try {
        sample_schema().parse(json);
    } catch (const InvalidConfigError &e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("declared keys are parsed, defaults kept for the rest") {
    const SampleConfig c = sample_schema().parse(R"({
        "region": "eu-west",
        "max_instances": 5,
        "offset": -3,
        "boot_delay_ms": 1500,
        "zones": [{"name": "a", "weight": 7}, {"name": "b"}],
        "quota": 12
    })");
    CHECK(c.region == "eu-west");
    CHECK(c.max_instances == 5);
    CHECK(c.offset == -3);
    CHECK(c.verify_host_key); // default
    CHECK(c.error_rate == 0);
    CHECK(c.boot_delay == std::chrono::milliseconds(1500));
    CHECK(c.state_dir == "/var/lib/sample");
    REQUIRE(c.zones.size() == 2);
    CHECK(c.zones[0].weight == 7);
    CHECK(c.zones[1].weight == 1);
    CHECK(c.quota == 12u);
}

TEST_CASE("an empty config or null means {}: required keys are then missing") {
    for (const char *text : {"", "  \n", "null"})
        CHECK(error_of(text) == "sample config:1:1: the config lacks the required key \"region\"");
}

TEST_CASE("errors name the key, line and column") {
    CHECK(error_of("{\"region\": \"eu\",\n \"max_instances\": 0}") ==
          "sample config:2:19: \"max_instances\" must be an integer from 1 to 100000");
    CHECK(error_of("{\"region\": 5}") == "sample config:1:12: \"region\" must be a string");
    CHECK(error_of("{\"region\": \"eu\",\n\n   \"verify_host_key\": \"yes\"}") ==
          "sample config:3:23: \"verify_host_key\" must be true or false");
    CHECK(error_of("{\"region\": \"eu\", \"error_rate\": 1.5}") ==
          "sample config:1:32: \"error_rate\" must be a number from 0 to 1");
    CHECK(error_of("{\"region\": \"eu\", \"offset\": -11}") ==
          "sample config:1:28: \"offset\" must be an integer from -10 to 10");
    CHECK(error_of("{\"region\": \"eu\", \"state_dir\": \"rel\"}") ==
          "sample config:1:31: \"state_dir\" must be an absolute path");
    CHECK(error_of("{\"region\": \"eu\", \"boot_delay_ms\": 1.5}")
              .find("sample config:1:35: \"boot_delay_ms\" must be an integer") == 0);
}

TEST_CASE("nested values are named by their path") {
    CHECK(error_of("{\"region\": \"eu\", \"zones\": [{\"name\": \"a\"},\n {\"name\": \"b\", "
                   "\"weight\": 101}]}") ==
          "sample config:2:26: \"zones[1].weight\" must be an integer from 1 to 100");
    CHECK(error_of("{\"region\": \"eu\", \"zones\": [{\"weight\": 2}]}") ==
          "sample config:1:28: \"zones[0]\" lacks the required key \"name\"");
    CHECK(error_of("{\"region\": \"eu\", \"zones\": {}}") ==
          "sample config:1:27: \"zones\" must be an array");
}

TEST_CASE("unknown keys are refused, listing the known ones") {
    CHECK(error_of("{\"region\": \"eu\", \"regoin\": \"us\"}") ==
          "sample config:1:18: unknown key \"regoin\" (known: region, max_instances, "
          "offset, verify_host_key, error_rate, boot_delay_ms, state_dir, zones, quota, "
          "subnets, groups, labels)");
    // A key with control bytes stays on one line.
    const std::string e = error_of("{\"region\": \"eu\", \"a\\nb\": 1}");
    CHECK(e.find("unknown key \"a\\x0ab\"") != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("duplicate keys are refused at the second one") {
    CHECK(error_of("{\"region\": \"eu\",\n \"region\": \"us\"}") ==
          "sample config:2:2: duplicate key \"region\"");
    CHECK(error_of("{\"region\": \"eu\", \"zones\": [{\"name\": \"a\", \"name\": \"b\"}]}") ==
          "sample config:1:42: duplicate key \"zones[0].name\"");
}

TEST_CASE("invalid JSON and UTF-8 are refused with line and column") {
    CHECK(error_of("{\"region\": \"eu\",\n}").find("sample config:2:1: invalid JSON: ") == 0);
    CHECK(error_of("{\"region\": \"eu\"} x").find("sample config:1:18: invalid JSON") == 0);
    CHECK(error_of("{\"region\": \"\xff\"}").find("invalid JSON: Invalid encoding") !=
          std::string::npos);
    CHECK(error_of("[1, 2]") == "sample config:1:1: the config must be an object");
}

TEST_CASE("a NUL byte is refused, wherever it is") {
    const std::string text("{\"region\": \"e\0u\"}", 17);
    CHECK(error_of(text) == "sample config:1:14: NUL byte in the config");
}

TEST_CASE("deep nesting is an error, not a stack overflow") {
    for (std::size_t depth : {33u, 1000u, 200000u}) {
        const std::string arrays(depth, '[');
        CHECK(error_of(arrays) == "sample config:1:33: nested deeper than 32 levels");
        std::string objects;
        for (std::size_t i = 0; i < depth; ++i)
            objects += "{\"a\":";
        CHECK(error_of(objects).find("nested deeper than 32 levels") != std::string::npos);
    }
    // Exactly at the limit: parsed (and refused for its content, not depth).
    std::string ok =
        "{\"region\": \"eu\", \"zones\": " + std::string(31, '[') + std::string(31, ']') + "}";
    CHECK(error_of(ok).find("nested") == std::string::npos);
}

TEST_CASE("the size is bounded") {
    const std::string big = "{\"region\": \"" + std::string(2 * 1024 * 1024, 'a') + "\"}";
    CHECK(error_of(big).find("sample config: larger than 1048576 bytes") == 0);
}

TEST_CASE("lists of strings: one string or an array, distinct, bounded, each item checked") {
    const SampleConfig both = sample_schema().parse(
        R"({"region": "r", "subnets": ["a", "b"], "groups": ["g"], "labels": {"k": "v"}})");
    CHECK(both.subnets == std::vector<std::string>{"a", "b"});
    CHECK(both.groups == std::vector<std::string>{"g"});
    CHECK(both.labels == std::map<std::string, std::string>{{"k", "v"}});
    CHECK(sample_schema().parse(R"({"region": "r", "subnets": "a"})").subnets ==
          std::vector<std::string>{"a"});
    CHECK(sample_schema().parse(R"({"region": "r", "subnets": ""})").subnets.empty());
    CHECK(sample_schema().parse(R"({"region": "r", "subnets": []})").subnets.empty());
    CHECK(sample_schema().parse(R"({"region": "r", "labels": {}})").labels.empty());

    struct Case {
        std::string json;
        std::string error;
    };
    for (const Case &c : {
             Case{R"({"region": "r",
 "subnets": 3})",
                  "sample config:2:13: \"subnets\" must be a string or an array of strings"},
             Case{R"({"region": "r", "groups": "g"})",
                  "sample config:1:27: \"groups\" must be an array of strings"},
             Case{R"({"region": "r", "subnets": ["a", "b a"]})",
                  "sample config:1:34: \"subnets[1]\" must be a word without spaces"},
             Case{R"({"region": "r", "subnets": "b a"})",
                  "sample config:1:28: \"subnets\" must be a word without spaces"},
             Case{R"({"region": "r", "subnets": ["a", 1]})",
                  "sample config:1:34: \"subnets[1]\" must be a string"},
             Case{R"({"region": "r", "subnets": ["a", "a"]})",
                  "sample config:1:28: \"subnets\" lists \"a\" twice"},
             Case{R"({"region": "r", "subnets": ["a", "b", "c", "d"]})",
                  "sample config:1:28: \"subnets\" has more than 3 items"},
             Case{R"({"region": "r", "labels": []})",
                  "sample config:1:27: \"labels\" must be an object"},
             Case{R"({"region": "r", "labels": {"a b": "v"}})",
                  "sample config:1:28: \"labels.a b\" must be a word without spaces"},
             Case{R"({"region": "r", "labels": {"k": "v w"}})",
                  "sample config:1:33: \"labels.k\" must be a word without spaces"},
             Case{R"({"region": "r", "labels": {"k": 2}})",
                  "sample config:1:33: \"labels.k\" must be a string"},
             Case{R"({"region": "r", "labels": {"k": "v", "k": "w"}})",
                  "sample config:1:38: duplicate key \"labels.k\""},
         }) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
    }
}
