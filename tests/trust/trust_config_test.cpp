// The "trust" key of the config file.
#include "trust_support.hpp"

#include "cloudhost/config.hpp"

#include <doctest/doctest.h>

using cloudhost::ConfigError;
using cloudhost::parse_config;
using cloudhost::PermissionMode;
using cloudhost::TrustMode;

namespace {

const std::string sha = std::string(63, 'a') + "B";
// A real ssh-ed25519 public key (from ssh-keygen).
const std::string key =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqrKjdSAwJvn6ljLTTFY+RLTcLJnpkfl5ldnzxSXoTa vendor";

std::string with_trust(const std::string &trust) {
    return "{\"driver\": \"stub\",\n \"trust\": " + trust + "}";
}

} // namespace

TEST_CASE("trust defaults to allow-all with strict permissions") {
    const auto c = parse_config("{\"driver\": \"stub\"}", "c.json");
    CHECK(c.trust.mode == TrustMode::allow_all);
    CHECK(c.trust.permissions == PermissionMode::strict);
}

TEST_CASE("trust policies are read and validated") {
    auto c = parse_config(with_trust("{\"policy\": \"digest\", \"digests\": [\"" + sha + "\"]}"),
                          "c.json");
    CHECK(c.trust.mode == TrustMode::digest);
    CHECK(c.trust.digests == std::vector<std::string>{std::string(63, 'a') + "b"});

    c = parse_config(with_trust("{\"policy\": \"signed\", \"public_keys\": [\"" + key +
                                "\"], \"permissions\": \"off\"}"),
                     "c.json");
    CHECK(c.trust.mode == TrustMode::signature);
    REQUIRE(c.trust.public_keys.size() == 1);
    CHECK(c.trust.public_keys[0].comment == "vendor");
    CHECK(c.trust.permissions == PermissionMode::off);
}

TEST_CASE("bad trust settings name file, line, column and the key") {
    const auto error = [](const std::string &trust) {
        try {
            parse_config(with_trust(trust), "c.json");
        } catch (const ConfigError &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error("{\"policy\": \"maybe\"}") ==
          "c.json:2:22: \"trust.policy\" policy must be \"allow-all\", \"digest\" or \"signed\"");
    CHECK(error("{\"policy\": \"digest\", \"digests\": [\"abc\"]}") ==
          "c.json:2:44: \"trust.digests\" items must be SHA-256 digests (64 hex digits)");
    CHECK(error("{\"policy\": \"digest\"}") ==
          "c.json:2:11: \"trust\": policy \"digest\" needs a non-empty \"digests\" list");
    CHECK(error("{\"policy\": \"signed\"}") ==
          "c.json:2:11: \"trust\": policy \"signed\" needs a non-empty \"public_keys\" list");
    CHECK(error("{\"policy\": \"signed\", \"public_keys\": [\"ssh-rsa AAAA\"]}") ==
          "c.json:2:48: \"trust.public_keys\": only ssh-ed25519 keys are accepted, not "
          "\"ssh-rsa\"");
    CHECK(error("{\"digests\": [\"" + sha + "\"]}") ==
          "c.json:2:23: \"trust.digests\" is used only by policy \"digest\"");
    CHECK(error("{\"permissions\": \"lax\"}") ==
          "c.json:2:27: \"trust.permissions\" must be \"strict\" or \"off\"");
    CHECK(error("{\"keys\": []}").find("c.json:2:12: unknown key \"trust.keys\" in \"trust\"") ==
          0);
}
