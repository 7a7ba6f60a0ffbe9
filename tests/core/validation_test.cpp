// Validation at the boundary: InstanceSetID, config JSON, tag keys. None of
// these reach the driver.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"

#include <doctest/doctest.h>

using namespace cloudhost;
using namespace core_test;

namespace {

std::string open_error(const std::string &config, const std::string &id = set_id) {
    auto opts = options(config);
    opts.instance_set_id = id;
    try {
        InstanceSet::open(open_stub(), opts);
    } catch (const InvalidConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST_CASE("validate_instance_set_id accepts the documented form only") {
    CHECK_NOTHROW(validate_instance_set_id("zzzzz-zzzzz-zzzzzzcloudtest"));
    CHECK_NOTHROW(validate_instance_set_id("A1b2C-00000-abcdefABCDEF019"));
    for (const std::string bad :
         {"", "zzzzz-zzzzz-zzzzzzzzzzzzzz", "zzzzz-zzzzz-zzzzzzzzzzzzzzzz",
          "zzzzz_zzzzz-zzzzzzzzzzzzzzz", "zzzz-zzzzzz-zzzzzzzzzzzzzzz",
          "zzzzz-zzzzz-zzzzzzzzzzzzz\xc3\xa9", "0123456789abcdef0123456789abcdef",
          "zzzzz-zzzzz-zzzzzzzzzzzzz z"}) {
        CAPTURE(bad);
        try {
            validate_instance_set_id(bad);
            FAIL("accepted");
        } catch (const InvalidConfigError &e) {
            const std::string message = e.what();
            CHECK(message.find("xxxxx-xxxxx-xxxxxxxxxxxxxxx") != std::string::npos);
            CHECK(message.find("InstanceSetID") != std::string::npos);
            if (bad.find('\xc3') == std::string::npos)
                CHECK(message.find("\"" + bad + "\"") != std::string::npos);
            CHECK(message.find('\n') == std::string::npos);
        }
    }
    CHECK(open_error("{}", "short").find("\"short\"") != std::string::npos);
}

TEST_CASE("malformed config JSON is reported with line and column") {
    CHECK(open_error("{\n  \"seed\": 1,\n  \"cloud\" \"x\"\n}") ==
          "config: line 3, column 11: Missing a colon after a name of object member.");
    CHECK(open_error("{\"seed\": 1 // comment\n}").rfind("config: line 1, column 12: ", 0) == 0);
    CHECK(open_error("{} {}").rfind("config: line 1, column 4: ", 0) == 0);
    CHECK(open_error("").rfind("config: line 1, column 1: ", 0) == 0);
    CHECK(open_error("{\"seed\": 1,}").rfind("config: line 1, column 12: ", 0) == 0);
    const std::string truncated = open_error("{\n\n  \"cloud\": \"abc");
    CHECK(truncated.rfind("config: line 3, column ", 0) == 0);
}

TEST_CASE("tag keys must not be empty") {
    auto opts = options(R"({"cloud": ")" + unique_cloud("tags") + "\"}");
    opts.shared_resource_tags = {{"", "v"}};
    CHECK_THROWS_WITH_AS(InstanceSet::open(open_stub(), opts),
                         doctest::Contains("shared_resource_tags: tag with an empty key"),
                         InvalidConfigError);

    opts.shared_resource_tags = {};
    LogCapture log;
    opts.logger = log.logger();
    auto set = InstanceSet::open(open_stub(), opts);
    CHECK_THROWS_AS(set.create(type("t1"), "img", {{"", "x"}}, "", std::nullopt),
                    InvalidConfigError);
    auto instance = set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
    CHECK_THROWS_AS(instance.set_tags({{"", "x"}}), InvalidConfigError);
    CHECK(log.stub_calls("create") == 1);
    CHECK(log.stub_calls("set_tags") == 0);
    CHECK(instance.tags() == Tags{{"k", "v"}});
}
