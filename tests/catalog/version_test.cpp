#include "cloudhost/version.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using cloudhost::Version;
using cloudhost::VersionConstraint;

namespace {

std::string parse_error(const std::string &text) {
    try {
        Version::parse(text);
    } catch (const std::invalid_argument &e) {
        return e.what();
    }
    return "";
}

std::string constraint_error(const std::string &text) {
    try {
        VersionConstraint::parse(text);
    } catch (const std::invalid_argument &e) {
        return e.what();
    }
    return "";
}

bool satisfies(const std::string &version, const std::string &constraint) {
    return VersionConstraint::parse(constraint).matches(Version::parse(version));
}

} // namespace

TEST_CASE("versions parse and print") {
    const Version v = Version::parse("1.22.333-rc.1");
    CHECK(v.major() == 1);
    CHECK(v.minor() == 22);
    CHECK(v.patch() == 333);
    CHECK(v.is_prerelease());
    CHECK(v.str() == "1.22.333-rc.1");
    CHECK(Version::parse("0.0.0").str() == "0.0.0");
}

TEST_CASE("malformed versions name what is wrong") {
    CHECK(parse_error("1.2").find("expected MAJOR.MINOR.PATCH") != std::string::npos);
    CHECK(parse_error("01.2.3").find("major part \"01\"") != std::string::npos);
    CHECK(parse_error("1.x.3").find("minor part \"x\"") != std::string::npos);
    CHECK(parse_error("1.2.3-").find("prerelease identifier") != std::string::npos);
    CHECK(parse_error("1.2.3-rc.01").find("leading zero") != std::string::npos);
    CHECK(parse_error("1.2.3+build").find("1.2.3+build") != std::string::npos);
    CHECK(parse_error("1.2.3.4").find("more than three") != std::string::npos);
    CHECK(parse_error("99999999999999999999.0.0").find("major part") != std::string::npos);
    CHECK(parse_error("").find("invalid version") != std::string::npos);
}

TEST_CASE("semver precedence") {
    // The chain from semver.org §11.
    const char *chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                           "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                           "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                           "1.1.0",       "2.0.0",         "10.0.0"};
    for (size_t i = 0; i + 1 < std::size(chain); ++i) {
        CAPTURE(chain[i]);
        CHECK(Version::parse(chain[i]) < Version::parse(chain[i + 1]));
        CHECK(Version::parse(chain[i + 1]) > Version::parse(chain[i]));
    }
    CHECK(Version::parse("1.2.3") == Version::parse("1.2.3"));
}

TEST_CASE("constraints") {
    CHECK(satisfies("1.2.0", ">=1.2 <2"));
    CHECK(satisfies("1.9.9", ">=1.2 <2"));
    CHECK_FALSE(satisfies("2.0.0", ">=1.2 <2"));
    CHECK_FALSE(satisfies("1.1.9", ">=1.2 <2"));
    CHECK(satisfies("1.4.0", "=1.4.0"));
    CHECK(satisfies("1.4.0", "1.4.0"));
    CHECK_FALSE(satisfies("1.4.1", "1.4.0"));
    CHECK(satisfies("1.4.7", "1.4"));
    CHECK_FALSE(satisfies("1.5.0", "1.4"));
    CHECK(satisfies("1.9.0", "^1.2"));
    CHECK_FALSE(satisfies("2.0.0", "^1.2"));
    CHECK_FALSE(satisfies("1.1.0", "^1.2"));
    CHECK(satisfies("0.2.9", "^0.2.3"));
    CHECK_FALSE(satisfies("0.3.0", "^0.2.3"));
    CHECK_FALSE(satisfies("0.0.4", "^0.0.3"));
    CHECK(satisfies("1.2.9", "~1.2"));
    CHECK_FALSE(satisfies("1.3.0", "~1.2"));
    CHECK(satisfies("1.3.0", "~1"));
    CHECK(satisfies("1.3.0", ">1.2"));
    CHECK_FALSE(satisfies("1.2.5", ">1.2"));
    CHECK(satisfies("1.2.5", "<=1.2"));
    CHECK_FALSE(satisfies("1.3.0", "<=1.2"));
    CHECK(satisfies("5.0.0", ""));
    CHECK(satisfies("5.0.0", "   "));
}

TEST_CASE("prereleases satisfy only constraints that name one of the same version") {
    CHECK_FALSE(satisfies("2.0.0-rc.1", ">=1.0.0"));
    CHECK(satisfies("2.0.0-rc.2", ">=2.0.0-rc.1"));
    CHECK_FALSE(satisfies("2.0.1-rc.1", ">=2.0.0-rc.1"));
    CHECK(satisfies("2.0.0-rc.1", ""));
}

TEST_CASE("malformed constraints name the offending token") {
    CHECK(constraint_error(">=1.2 <2.x").find("\"<2.x\"") != std::string::npos);
    CHECK(constraint_error("!1.0.0").find("unknown operator \"!\"") != std::string::npos);
    CHECK(constraint_error(">=").find("\">=\"") != std::string::npos);
    CHECK(constraint_error("=>1.0").find("\"=>1.0\"") != std::string::npos);
    CHECK(VersionConstraint::parse("  >=1.2   <2 ").str() == ">=1.2 <2");
}
