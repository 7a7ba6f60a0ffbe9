// Validation at the boundary: InstanceSetID, config JSON, tags, instance
// types. None of these reach the driver, and a refused call changes nothing.
#include "stub_fixture.hpp"

#include "cloudhost/errors.hpp"
#include "core/validation.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

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

std::string tags_error(const Tags &tags, std::string_view what = "SetTags") {
    try {
        validate_tags(tags, what);
    } catch (const InvalidConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

// n distinct tags k00=v, k01=v, ...
Tags many_tags(std::size_t n, const std::string &prefix = "k") {
    Tags tags;
    for (std::size_t i = 0; i < n; ++i)
        tags[prefix + std::to_string(100 + i)] = "v";
    return tags;
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

TEST_CASE("a config nested past the limit is an error at its bracket, at every depth") {
    // Deep enough to overflow a recursive parser or DOM destructor by far.
    for (const size_t depth : {65, 1000, 100000}) {
        for (const char *open : {"[", "{\"a\":"}) {
            std::string json = "{\"driver_parameters\": ";
            for (size_t i = 0; i < depth; ++i)
                json += open;
            CAPTURE(depth);
            CAPTURE(open);
            const std::string message = open_error(json);
            CHECK(message.find("config: line 1, column ") == 0);
            CHECK(message.find("nesting deeper than 64 levels") != std::string::npos);
        }
    }
    // At the limit is fine: 63 levels inside the outer object.
    std::string ok = "{\"p\": ";
    ok += std::string(63, '[') + std::string(63, ']') + "}";
    CHECK(open_error(ok).find("nesting") == std::string::npos);
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

TEST_CASE("tag keys: non-empty, at most 128 bytes, no control characters, valid UTF-8") {
    CHECK(tags_error({{"team", "infra"}}) == "(no error)");
    CHECK(tags_error({{std::string(128, 'k'), ""}}) == "(no error)"); // empty values are fine
    CHECK(tags_error({{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "v"}}) == "(no error)");

    CHECK(tags_error({{"", "v"}}) == "SetTags: tag key \"\" is empty (tag keys must not be empty)");
    CHECK(tags_error({{std::string(129, 'k'), "v"}}, "Create InstanceTags") ==
          "Create InstanceTags: tag key \"" + std::string(80, 'k') +
              "...\" is 129 bytes long (at most 128)");
    CHECK(tags_error({{"a\nb", "v"}}) ==
          "SetTags: tag key \"a\\x0ab\" contains control character \\x0a at byte 2 (control "
          "characters are not allowed)");
    for (const std::string &bad : {std::string("\x01k"), std::string("k\x1f"), std::string("k\x7f"),
                                   std::string("k\0k", 3), std::string("k\xc2\x85")}) {
        CAPTURE(detail::printable(bad));
        const std::string message = tags_error({{bad, "v"}});
        CHECK(message.find("SetTags: tag key \"") == 0);
        CHECK(message.find("control character") != std::string::npos);
        CHECK(message.find('\n') == std::string::npos);
    }
    // Malformed UTF-8: stray continuation, truncated sequence, overlong,
    // surrogate, beyond U+10FFFF, invalid lead bytes.
    for (const std::string bad : {"\x80", "k\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                  "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff"}) {
        CAPTURE(detail::printable(bad));
        CHECK(tags_error({{bad, "v"}}).find("is not valid UTF-8") != std::string::npos);
    }
}

TEST_CASE("tag values: at most 256 bytes, no control characters, valid UTF-8") {
    CHECK(tags_error({{"k", std::string(256, 'v')}}) == "(no error)");
    CHECK(tags_error({{"k", std::string(257, 'v')}}, "SharedResourceTags") ==
          "SharedResourceTags: tag \"k\": value is 257 bytes long (at most 256)");
    CHECK(tags_error({{"k", "line\r\n"}}) ==
          "SetTags: tag \"k\": value contains control character \\x0d at byte 5 (control "
          "characters are not allowed)");
    CHECK(tags_error({{"k", "tab\there"}}).find("control character \\x09") != std::string::npos);
    CHECK(tags_error({{"k", "\xfe"}}) ==
          "SetTags: tag \"k\": value is not valid UTF-8 (byte \\xfe at byte 1)");
}

TEST_CASE("at most 50 tags per set") {
    CHECK(tags_error(many_tags(50)) == "(no error)");
    CHECK(tags_error(many_tags(51), "Instances filter") ==
          "Instances filter: 51 tags (at most 50 per instance)");
    CHECK(tag_count_problem(50) == std::nullopt);
}

TEST_CASE("InstanceSet::open refuses bad SharedResourceTags") {
    auto opts = options(R"({"cloud": ")" + unique_cloud("tags") + "\"}");
    opts.shared_resource_tags = {{"", "v"}};
    CHECK_THROWS_WITH_AS(InstanceSet::open(open_stub(), opts),
                         "SharedResourceTags: tag key \"\" is empty (tag keys must not be empty)",
                         InvalidConfigError);
    opts.shared_resource_tags = {{"team", "a\x1b[31m"}};
    CHECK_THROWS_WITH_AS(InstanceSet::open(open_stub(), opts),
                         doctest::Contains("SharedResourceTags: tag \"team\": value contains "
                                           "control character \\x1b"),
                         InvalidConfigError);
    opts.shared_resource_tags = many_tags(51);
    CHECK_THROWS_AS(InstanceSet::open(open_stub(), opts), InvalidConfigError);
}

TEST_CASE("a refused Create makes no driver call") {
    LogCapture log;
    auto opts = options(R"({"cloud": ")" + unique_cloud("create") + "\"}", log.logger());
    opts.shared_resource_tags = many_tags(10, "shared");
    auto set = InstanceSet::open(open_stub(), opts);

    CHECK_THROWS_WITH_AS(set.create(type("t1"), "img", {{"", "x"}}, "", std::nullopt),
                         "Create InstanceTags: tag key \"\" is empty (tag keys must not be empty)",
                         InvalidConfigError);
    CHECK_THROWS_WITH_AS(
        set.create(type("t1"), "img", {{"k", std::string(300, 'v')}}, "", std::nullopt),
        "Create InstanceTags: tag \"k\": value is 300 bytes long (at most 256)",
        InvalidConfigError);
    // 45 of the caller's own plus 10 shared: each set fits, together not.
    CHECK_THROWS_WITH_AS(
        set.create(type("t1"), "img", many_tags(45), "", std::nullopt),
        "Create InstanceTags with SharedResourceTags: 55 tags (at most 50 per instance)",
        InvalidConfigError);

    // ProviderType empty (and Name, its default, too): nothing to ask for.
    InstanceType nameless;
    CHECK_THROWS_WITH_AS(set.create(nameless, "img", {}, "", std::nullopt),
                         "Create: InstanceType \"\": ProviderType is empty (and so is Name, its "
                         "default)",
                         InvalidConfigError);
    InstanceType bad_price = type("t1");
    bad_price.price = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(set.create(bad_price, "img", {}, "", std::nullopt),
                         doctest::Contains("Price nan must be a finite number >= 0"),
                         InvalidConfigError);
    bad_price.price = -1;
    CHECK_THROWS_AS(set.create(bad_price, "img", {}, "", std::nullopt), InvalidConfigError);
    InstanceType bad_provider = type("t1\n");
    bad_provider.name = "t1";
    CHECK_THROWS_WITH_AS(set.create(bad_provider, "img", {}, "", std::nullopt),
                         doctest::Contains("ProviderType \"t1\\x0a\" contains control character"),
                         InvalidConfigError);

    CHECK(log.stub_calls("create") == 0);
    CHECK(set.instances({}).empty());

    // The same set still creates when the input is good; a type with only a
    // Name gets it as ProviderType (Arvados's default).
    InstanceType name_only;
    name_only.name = "m1";
    auto instance = set.create(name_only, "img", many_tags(40), "", std::nullopt);
    CHECK(instance.provider_type() == "m1");
    CHECK(log.stub_calls("create") == 1);
}

TEST_CASE("a refused SetTags changes no tag") {
    LogCapture log;
    auto set = InstanceSet::open(
        open_stub(), options(R"({"cloud": ")" + unique_cloud("set-tags") + "\"}", log.logger()));
    auto instance = set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
    // One good tag and one bad: neither is applied.
    CHECK_THROWS_WITH_AS(instance.set_tags({{"k", "new"}, {"bad\x7f", "x"}}),
                         doctest::Contains("SetTags: tag key \"bad\\x7f\" contains control"),
                         InvalidConfigError);
    CHECK_THROWS_AS(instance.set_tags({{"k", "new"}, {"", "x"}}), InvalidConfigError);
    CHECK_THROWS_AS(instance.set_tags({{"k", std::string(257, 'v')}}), InvalidConfigError);
    CHECK_THROWS_AS(instance.set_tags(many_tags(51)), InvalidConfigError);
    CHECK(log.stub_calls("set_tags") == 0);
    CHECK(instance.tags() == Tags{{"k", "v"}});
}

TEST_CASE("a refused Instances filter makes no driver call") {
    LogCapture log;
    auto set = InstanceSet::open(
        open_stub(), options(R"({"cloud": ")" + unique_cloud("filter") + "\"}", log.logger()));
    set.create(type("t1"), "img", {{"k", "v"}}, "", std::nullopt);
    CHECK_THROWS_WITH_AS(set.instances({{"k", "v\n"}}),
                         doctest::Contains("Instances filter: tag \"k\": value contains control"),
                         InvalidConfigError);
    CHECK_THROWS_AS(set.instances({{std::string(129, 'k'), "v"}}), InvalidConfigError);
    CHECK(log.stub_calls("instances") == 0);
    CHECK(set.instances({{"k", "v"}}).size() == 1);
}
