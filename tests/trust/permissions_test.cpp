// The permission policy: who may write a driver file and the directories
// above it, and where symlinks may lead.
#include "trust_support.hpp"

#include "cloudhost/errors.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

using namespace trust_test;
using cloudhost::Catalog;
using cloudhost::LoadError;

namespace {

constexpr uid_t nobody = 65534;

std::string refusal(const std::map<std::string, cloudhost::DriverFile> &files,
                    const std::string &name) {
    const auto it = files.find(name);
    REQUIRE_MESSAGE(it != files.end(), name << " not scanned");
    CHECK_FALSE(it->second.ok);
    CHECK_FALSE(it->second.trusted);
    CHECK(it->second.sha256.empty()); // refused before a byte was read
    return it->second.reason;
}

} // namespace

TEST_CASE("the build tree's drivers meet the default permission policy") {
    cloudhost::CatalogOptions options;
    std::string dirs = BUILT_DRIVER_DIRS;
    for (size_t start = 0; start < dirs.size();) {
        const size_t colon = std::min(dirs.find(':', start), dirs.size());
        options.dirs.emplace_back(dirs.substr(start, colon - start));
        start = colon + 1;
    }
    const auto files = Catalog(options).scan();
    REQUIRE(files.size() >= 3);
    for (const auto &file : files) {
        CAPTURE(file.path);
        CAPTURE(file.reason);
        CHECK(file.ok);
        CHECK(file.trust == "allow-all");
    }
}

TEST_CASE("group- or world-writable driver files are refused; the good one still loads") {
    DriverTree tree;
    tree.add("fixture-1.0.0", "good.so");
    tree.add("fixture-1.1.0", "group.so", fs::perms(0775));
    tree.add("fixture-1.1.0", "world.so", fs::perms(0757));
    const auto files = scan(tree.options());
    CHECK(files.at("good.so").ok);
    CHECK(refusal(files, "group.so") == "permissions: " + (tree.drivers / "group.so").string() +
                                            " is group-writable (driver files and every directory "
                                            "above them must be writable only by their owner)");
    CHECK(refusal(files, "world.so")
              .find((tree.drivers / "world.so").string() + " is world-writable") !=
          std::string::npos);
    CHECK(files.at("group.so").trust == files.at("group.so").reason);

    // The refused 1.1.0 files would otherwise win; the catalog loads 1.0.0.
    auto library = Catalog(tree.options()).load("fixture");
    CHECK(library->info().version == "1.0.0");
}

TEST_CASE("a writable driver directory or ancestor is refused, naming it") {
    DriverTree tree;
    tree.add("fixture-1.0.0", "a.so");
    fs::permissions(tree.drivers, fs::perms(0775));
    CHECK(refusal(scan(tree.options()), "a.so") ==
          "permissions: " + tree.drivers.string() +
              " is group-writable (driver files and every directory above them must be "
              "writable only by their owner)");
    CHECK_THROWS_WITH_AS(Catalog(tree.options()).load("fixture"),
                         doctest::Contains("is group-writable"), LoadError);

    // Writable (not sticky) two levels up.
    fs::permissions(tree.drivers, fs::perms(0755));
    fs::create_directories(tree.root / "outer" / "inner");
    fs::permissions(tree.root / "outer", fs::perms(0777));
    fs::permissions(tree.root / "outer" / "inner", fs::perms(0755));
    fs::copy_file(tree.drivers / "a.so", tree.root / "outer" / "inner" / "a.so");
    auto options = tree.options();
    options.dirs = {tree.root / "outer" / "inner"};
    CHECK(refusal(scan(options), "a.so")
              .find("permissions: " + (tree.root / "outer").string() + " is world-writable") !=
          std::string::npos);
}

TEST_CASE("a sticky world-writable ancestor is accepted, but not as the driver's directory") {
    DriverTree tree;
    const fs::path shared = tree.root / "shared";
    fs::create_directories(shared / "drivers");
    fs::permissions(shared, fs::perms(01777));
    fs::permissions(shared / "drivers", fs::perms(0755));
    fs::copy_file(catalog_test::fixture("fixture-1.0.0"), shared / "drivers" / "a.so");
    fs::permissions(shared / "drivers" / "a.so", fs::perms(0644));
    auto options = tree.options();
    options.dirs = {shared / "drivers"};
    const auto below = scan(options);
    CHECK_MESSAGE(below.at("a.so").ok, below.at("a.so").reason);

    fs::copy_file(catalog_test::fixture("fixture-1.0.0"), shared / "b.so");
    fs::permissions(shared / "b.so", fs::perms(0644));
    options.dirs = {shared};
    CHECK(refusal(scan(options), "b.so")
              .find("a sticky directory is accepted above the driver's "
                    "directory, not as the driver's directory") != std::string::npos);
}

TEST_CASE("files and directories owned by another user are refused") {
    if (::geteuid() != 0) {
        MESSAGE("needs root to chown; skipped");
        return;
    }
    DriverTree tree;
    const fs::path file = tree.add("fixture-1.0.0", "theirs.so");
    tree.add("fixture-1.1.0", "ours.so");
    REQUIRE(::chown(file.c_str(), nobody, nobody) == 0);
    const auto files = scan(tree.options());
    CHECK(files.at("ours.so").ok);
    CHECK(refusal(files, "theirs.so") ==
          "permissions: " + file.string() +
              " is owned by uid 65534 (must be owned by root or by uid 0, which runs the host)");

    REQUIRE(::chown(tree.drivers.c_str(), nobody, nobody) == 0);
    CHECK(refusal(scan(tree.options()), "ours.so") ==
          "permissions: " + tree.drivers.string() +
              " is owned by uid 65534 (must be owned by root or by uid 0, which runs the host)");
}

TEST_CASE("symlinks are followed only within the driver directories") {
    DriverTree tree;
    tree.add("fixture-1.0.0", "fixture-1.0.0.so");
    fs::create_symlink("fixture-1.0.0.so", tree.drivers / "current.so");
    // Same content as fixture-1.0.0.so, which becomes its duplicate.
    const auto inside = scan(tree.options());
    CHECK(inside.at("current.so").ok);
    CHECK(inside.at("fixture-1.0.0.so").reason.find("duplicate of") == 0);

    const fs::path elsewhere = tree.root / "elsewhere";
    fs::create_directory(elsewhere);
    fs::permissions(elsewhere, fs::perms(0755));
    fs::copy_file(catalog_test::fixture("fixture-1.1.0"), elsewhere / "evil.so");
    fs::create_symlink(elsewhere / "evil.so", tree.drivers / "out.so");
    fs::create_symlink("../elsewhere/evil.so", tree.drivers / "relative-out.so");
    const auto files = scan(tree.options());
    CHECK(refusal(files, "out.so") == "permissions: " + (tree.drivers / "out.so").string() +
                                          " resolves to " + (elsewhere / "evil.so").string() +
                                          ", outside the driver directories (symlinks are "
                                          "followed only within them)");
    CHECK(refusal(files, "relative-out.so").find("outside the driver directories") !=
          std::string::npos);
    // The link out does not make 1.1.0 available.
    CHECK(Catalog(tree.options()).load("fixture")->info().version == "1.0.0");

    // A symlinked driver directory is fine: its target is checked instead.
    fs::create_directory_symlink(tree.drivers, tree.root / "alias");
    auto options = tree.options();
    options.dirs = {tree.root / "alias"};
    CHECK(scan(options).at("current.so").ok);
}

TEST_CASE("a symlink into a writable directory is refused at the writable directory") {
    DriverTree tree;
    const fs::path open_dir = tree.drivers / "incoming";
    fs::create_directory(open_dir);
    fs::permissions(open_dir, fs::perms(0777));
    fs::copy_file(catalog_test::fixture("fixture-1.0.0"), open_dir / "x.so");
    fs::create_symlink("incoming/x.so", tree.drivers / "x.so");
    CHECK(refusal(scan(tree.options()), "x.so").find(open_dir.string() + " is world-writable") !=
          std::string::npos);
}

TEST_CASE("permissions \"off\" skips the checks (development trees)") {
    DriverTree tree;
    tree.add("fixture-1.0.0", "a.so", fs::perms(0777));
    cloudhost::TrustPolicy trust;
    trust.permissions = cloudhost::PermissionMode::off;
    const auto files = scan(tree.options(trust));
    CHECK(files.at("a.so").ok);
}
