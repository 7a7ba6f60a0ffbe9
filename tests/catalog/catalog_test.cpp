#include "catalog/library_search.hpp" // internal: ld.so.conf parsing
#include "catalog/private_copy.hpp"   // internal: ensure_private_dir, the collector
#include "cloudhost/catalog.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/internal/drivers_report.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <elf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace catalog_test;
using cloudhost::Catalog;
using cloudhost::CatalogOptions;
using cloudhost::DriverFile;
using cloudhost::LoadError;
namespace fs = std::filesystem;

namespace {

// Drivers' constructors append to this file (see fixtures/fixture_driver.c).
// Set once, before any test starts threads.
const fs::path &constructor_marker() {
    static const fs::path marker = [] {
        static TempDir dir;
        fs::path path = dir / "constructed";
        ::setenv("CLOUDHOST_FIXTURE_MARKER", path.c_str(), 1);
        return path;
    }();
    return marker;
}

bool driver_code_ran() {
    return fs::exists(constructor_marker());
}

void forget_driver_code_runs() {
    fs::remove(constructor_marker());
}

std::map<std::string, DriverFile> by_file_name(const std::vector<DriverFile> &files) {
    std::map<std::string, DriverFile> out;
    for (const auto &file : files)
        out[file.path.filename().string()] = file;
    return out;
}

// A driver directory with every kind of bad file plus the good drivers.
struct BadFilesDir {
    TempDir drivers;
    TempDir cache;

    BadFilesDir() {
        write_text(drivers / "empty.so", "");
        write_text(drivers / "x.so", "just some text, not a shared object\n");
        auto good = read_bytes(fixture("fixture-1.0.0"));
        write_bytes(drivers / "truncated.so",
                    std::vector<std::byte>(good.begin(), good.begin() + 100));
        auto arm = good;
        const uint16_t aarch64 = EM_AARCH64;
        std::memcpy(arm.data() + offsetof(Elf64_Ehdr, e_machine), &aarch64, sizeof aarch64);
        write_bytes(drivers / "arm64.so", arm);
        for (const char *stem : {"fixture-1.0.0", "fixture-1.1.0", "no-metadata", "abi-99",
                                 "missing-dep", "entry-from-dep"})
            fs::copy_file(fixture(stem), drivers / (std::string(stem) + ".so"));
        // Same name and version as fixture-1.1.0.so; sorts after it.
        fs::copy_file(fixture("fixture-1.1.0"), drivers / "zz-copy.so");
        fs::create_directory(drivers / "subdir.so");
        ::mkfifo((drivers / "pipe.so").c_str(), 0600);
        write_text(drivers / "README.txt", "not scanned");
    }

    CatalogOptions options() const { return {{drivers.path()}, cache.path(), {}}; }
};

} // namespace

TEST_CASE("every bad file gets its own reason and the good drivers stay ok") {
    forget_driver_code_runs();
    BadFilesDir dir;
    const auto files = Catalog(dir.options()).scan();
    CHECK_FALSE(driver_code_ran());

    // Sorted by file name, README.txt skipped.
    std::vector<std::string> names;
    for (const auto &file : files)
        names.push_back(file.path.filename().string());
    CHECK(names == std::vector<std::string>{
                       "abi-99.so", "arm64.so", "empty.so", "entry-from-dep.so", "fixture-1.0.0.so",
                       "fixture-1.1.0.so", "missing-dep.so", "no-metadata.so", "pipe.so",
                       "subdir.so", "truncated.so", "x.so", "zz-copy.so"});

    auto v = by_file_name(files);
    const auto rejected_because = [&](const std::string &file, const std::string &reason) {
        CAPTURE(file);
        CAPTURE(v[file].reason);
        CHECK_FALSE(v[file].ok);
        CHECK_FALSE(v[file].active);
        CHECK(v[file].reason.find(reason) != std::string::npos);
    };
    rejected_because("empty.so", "empty file");
    rejected_because("x.so", "not an ELF file");
    rejected_because("truncated.so", "truncated ELF");
    rejected_because("arm64.so", "ELF for machine AArch64, host is x86-64");
    rejected_because("no-metadata.so", "no cloudhost_driver_info symbol");
    rejected_because("abi-99.so", "ABI versions 99..100 not supported (host speaks 1..1)");
    rejected_because("missing-dep.so", "missing dependency libchfixture_missing.so");
    rejected_because("entry-from-dep.so",
                     "entry point cloudhost_driver_entry not defined by the driver");
    rejected_because("zz-copy.so", "duplicate of " + (dir.drivers / "fixture-1.1.0.so").string() +
                                       " (fixture 1.1.0)");
    rejected_because("subdir.so", "not a regular file (directory)");
    rejected_because("pipe.so", "not a regular file (fifo)");

    CHECK(v["fixture-1.0.0.so"].ok);
    CHECK(v["fixture-1.1.0.so"].ok);
    CHECK(v["fixture-1.1.0.so"].active); // highest version
    CHECK_FALSE(v["fixture-1.0.0.so"].active);
    CHECK(v["fixture-1.0.0.so"].reason.empty());
    CHECK(v["fixture-1.0.0.so"].sha256 == file_sha256(dir.drivers / "fixture-1.0.0.so"));
    CHECK(v["abi-99.so"].info->name == "abi-future"); // metadata known even when rejected
    CHECK(v["subdir.so"].sha256.empty());
}

TEST_CASE("a missing driver directory yields no verdicts and no error") {
    TempDir cache;
    Catalog catalog({{cache / "does-not-exist"}, cache.path(), {}});
    CHECK(catalog.scan().empty());
    CHECK_THROWS_WITH_AS(catalog.load("fixture"), "no driver named fixture", LoadError);
}

TEST_CASE("a directory listed twice is scanned once; dirs keep their order") {
    TempDir a, b, cache;
    fs::copy_file(fixture("fixture-1.0.0"), a / "z.so");
    fs::copy_file(fixture("fixture-1.0.0"), b / "a.so");
    const auto files = Catalog({{a.path(), b.path(), a.path()}, cache.path(), {}}).scan();
    REQUIRE(files.size() == 2);
    CHECK(files[0].path == a / "z.so");
    CHECK(files[0].ok);
    CHECK(files[1].reason == "duplicate of " + (a / "z.so").string() + " (fixture 1.0.0)");
}

TEST_CASE("load runs the highest version from a private copy and unloads after") {
    forget_driver_code_runs();
    BadFilesDir dir;
    Catalog catalog(dir.options());
    const auto files = catalog.scan();
    CHECK_FALSE(driver_code_ran());

    auto library = catalog.load("fixture");
    CHECK(driver_code_ran()); // loading runs the constructor; scanning did not
    REQUIRE(library);
    CHECK(library->info().version == "1.1.0");
    CHECK(library->abi_version() == 1);
    const fs::path copy = library->path();
    CHECK(copy.parent_path() == dir.cache.path());
    const std::string original_sha = file_sha256(dir.drivers / "fixture-1.1.0.so");
    CHECK(copy.filename() == original_sha + ".so");
    CHECK(file_sha256(copy) == original_sha);
    CHECK((fs::status(copy).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_exec));
    CHECK((fs::status(dir.cache.path()).permissions() &
           (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
    CHECK(cloudhost::is_library_loaded(copy));
    CHECK_FALSE(cloudhost::is_library_loaded(dir.drivers / "fixture-1.1.0.so"));

    // The same content reuses the same copy.
    auto again = catalog.load("fixture", "1.1.0");
    CHECK(again->path() == copy);
    library.reset();
    CHECK(cloudhost::is_library_loaded(copy)); // `again` still holds it
    again.reset();
    CHECK_FALSE(cloudhost::is_library_loaded(copy));
}

TEST_CASE("load honours version constraints and names what is missing") {
    BadFilesDir dir;
    Catalog catalog(dir.options());
    auto old = catalog.load("fixture", "<1.1");
    CHECK(old->info().version == "1.0.0");
    CHECK_THROWS_WITH_AS(catalog.load("fixture", ">=2"),
                         "no version of fixture satisfies >=2 (available: 1.0.0, 1.1.0)",
                         LoadError);
    CHECK_THROWS_WITH_AS(catalog.load("nope"), "no driver named nope", LoadError);
    CHECK_THROWS_WITH_AS(catalog.load("abi-future"),
                         doctest::Contains("no driver named abi-future (rejected: "), LoadError);
    CHECK_THROWS_AS(catalog.load("fixture", ">=x"), cloudhost::InvalidConfigError);
}

TEST_CASE("a corrupted private copy is replaced, not trusted") {
    BadFilesDir dir;
    Catalog catalog(dir.options());
    const std::string sha = file_sha256(dir.drivers / "fixture-1.0.0.so");
    fs::create_directories(dir.cache.path());
    write_text(dir.cache / (sha + ".so"), "tampered");
    auto library = catalog.load("fixture", "=1.0.0");
    CHECK(file_sha256(library->path()) == sha);
}

TEST_CASE("a cache dir others can write to is refused") {
    BadFilesDir dir;
    fs::create_directories(dir.cache / "shared");
    fs::permissions(dir.cache / "shared", fs::perms::all);
    Catalog catalog({{dir.drivers.path()}, dir.cache / "shared", {}});
    CHECK_THROWS_WITH_AS(catalog.load("fixture"), doctest::Contains("writable by other users"),
                         LoadError);
}

TEST_CASE("drivers JSON and table output") {
    BadFilesDir dir;
    const auto files = Catalog(dir.options()).scan();
    std::ostringstream json;
    cloudhost::write_drivers_json(json, files);
    rapidjson::Document doc;
    doc.Parse(json.str().c_str());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    REQUIRE(doc["drivers"].IsArray());
    const auto &drivers = doc["drivers"].GetArray();
    REQUIRE(drivers.Size() == files.size());
    int ok = 0, active = 0;
    for (const auto &d : drivers) {
        for (const char *key :
             {"path", "name", "version", "abi", "sha256", "status", "reason", "trust", "active"})
            CHECK(d.HasMember(key));
        const std::string status = d["status"].GetString();
        CHECK((status == "ok" || status == "rejected"));
        ok += status == "ok";
        active += d["active"].GetBool();
        if (std::string(d["path"].GetString()).ends_with("/fixture-1.1.0.so")) {
            CHECK(std::string(d["name"].GetString()) == "fixture");
            CHECK(std::string(d["version"].GetString()) == "1.1.0");
            CHECK(std::string(d["abi"].GetString()) == "1..1");
            CHECK(std::string(d["sha256"].GetString()).size() == 64);
            CHECK(std::string(d["reason"].GetString()).empty());
            CHECK(std::string(d["trust"].GetString()) == "allow-all");
            CHECK(d["active"].GetBool());
        }
        if (std::string(d["path"].GetString()).ends_with("/x.so")) {
            CHECK(d["name"].IsNull());
            CHECK(d["abi"].IsNull());
            CHECK(std::string(d["reason"].GetString()) == "not an ELF file");
        }
    }
    CHECK(ok == 2);
    CHECK(active == 1);

    std::ostringstream table;
    cloudhost::write_drivers_table(table, files);
    const std::string text = table.str();
    CHECK(text.rfind("STATUS    NAME", 0) == 0);
    CHECK(text.find("ok*       fixture") != std::string::npos);
    CHECK(text.find("TRUST") != std::string::npos);
    CHECK(text.find("allow-all") != std::string::npos);
    CHECK(text.find("rejected") != std::string::npos);
    // Issue 11: "ok*" came without a legend.
    CHECK(text.ends_with(
        "\nok* = the file loaded for that driver name (its highest good version)\n"));
    CHECK(std::count(text.begin(), text.end(), '\n') == static_cast<long>(files.size() + 2));
}

TEST_CASE("scan and load from 8 threads at once") {
    BadFilesDir dir;
    Catalog catalog(dir.options());
    std::atomic<int> loads{0}, failures{0};
    std::vector<std::thread> threads;
    std::vector<fs::path> copies(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 4; ++round) {
                try {
                    if ((t + round) % 2 == 0) {
                        const auto files = catalog.scan();
                        if (files.size() != 13)
                            ++failures;
                    } else {
                        auto library = catalog.load("fixture", t % 4 == 1 ? "1.0.0" : "");
                        copies[static_cast<size_t>(t)] = library->path();
                        ++loads;
                    }
                } catch (const std::exception &) {
                    ++failures;
                }
            }
        });
    }
    for (auto &thread : threads)
        thread.join();
    CHECK(failures == 0);
    CHECK(loads == 16);
    for (const auto &copy : copies) {
        if (!copy.empty())
            CHECK_FALSE(cloudhost::is_library_loaded(copy));
    }
}

TEST_CASE("a dependency found only through $ORIGIN is refused at scan, saying why") {
    // Drivers load from a private copy in the cache dir, where $ORIGIN would
    // name the cache: the library would be missing at load time.
    TempDir drivers, cache;
    fs::copy_file(fixture("origin-dep"), drivers / "origin-dep.so");
    Catalog catalog({{drivers.path()}, cache.path(), {}});
    CHECK(catalog.scan().at(0).reason == "missing dependency libchfixture_missing.so");

    fs::copy_file(fixture("missing-dep").parent_path() / "unavailable" / "libchfixture_missing.so",
                  drivers / "libchfixture_missing.so");
    auto files = by_file_name(catalog.scan());
    const auto &verdict = files["origin-dep.so"];
    CAPTURE(verdict.reason);
    CHECK_FALSE(verdict.ok);
    CHECK(verdict.reason.find("dependency libchfixture_missing.so is found only through $ORIGIN") !=
          std::string::npos);
    CHECK(verdict.reason.find("install it in a system library directory or link it statically") !=
          std::string::npos);
    CHECK_THROWS_WITH_AS(catalog.load("origin-dep"), doctest::Contains("only through $ORIGIN"),
                         cloudhost::LoadError);
}

TEST_CASE("a dependency is found through LD_LIBRARY_PATH, as ld.so would") {
    TempDir drivers, cache;
    fs::copy_file(fixture("missing-dep"), drivers / "missing-dep.so");
    Catalog catalog({{drivers.path()}, cache.path(), {}});
    REQUIRE(catalog.scan().at(0).reason == "missing dependency libchfixture_missing.so");

    const char *saved = std::getenv("LD_LIBRARY_PATH");
    const std::string saved_value = saved ? saved : "";
    const fs::path unavailable = fixture("missing-dep").parent_path() / "unavailable";
    ::setenv("LD_LIBRARY_PATH", ("/nonexistent:" + unavailable.string()).c_str(), 1);
    const auto files = catalog.scan();
    if (saved)
        ::setenv("LD_LIBRARY_PATH", saved_value.c_str(), 1);
    else
        ::unsetenv("LD_LIBRARY_PATH");
    CHECK(files.at(0).ok);
    CHECK(files.at(0).reason.empty());
}

TEST_CASE("ld.so.conf directories follow include globs and skip comments") {
    TempDir etc;
    fs::create_directory(etc / "ld.so.conf.d");
    write_text(etc / "ld.so.conf", "# comment\ninclude ld.so.conf.d/*.conf\n/opt/first\n");
    write_text(etc / "ld.so.conf.d" / "b.conf", "/opt/b1:/opt/b2 # trailing\n");
    write_text(etc / "ld.so.conf.d" / "a.conf",
               "/opt/a\n\ninclude " + (etc / "ld.so.conf").string() + "\n");
    const auto dirs = cloudhost::detail::read_ld_so_conf(etc / "ld.so.conf");
    // a.conf includes ld.so.conf again: the depth limit ends the loop.
    REQUIRE(dirs.size() >= 4);
    CHECK(dirs[0] == "/opt/a");
    CHECK(std::count(dirs.begin(), dirs.end(), fs::path("/opt/b1")) >= 1);
    CHECK(std::count(dirs.begin(), dirs.end(), fs::path("/opt/b2")) >= 1);
    CHECK(dirs.back() == "/opt/first");
    CHECK(cloudhost::detail::read_ld_so_conf(etc / "missing.conf").empty());
}

namespace {

// default_driver_cache_dir() with XDG_RUNTIME_DIR unset (as over plain ssh
// or in cron), in a child running as `uid`; "" when the child failed.
std::string cache_dir_without_runtime_dir(uid_t uid, const char *xdg_cache_home) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(pipe_fds[0]);
        ::unsetenv("XDG_RUNTIME_DIR");
        if (xdg_cache_home)
            ::setenv("XDG_CACHE_HOME", xdg_cache_home, 1);
        else
            ::unsetenv("XDG_CACHE_HOME");
        if (::setgid(uid) != 0 || ::setuid(uid) != 0)
            ::_exit(1);
        const std::string dir = cloudhost::default_driver_cache_dir().string();
        ::_exit(::write(pipe_fds[1], dir.data(), dir.size()) == static_cast<ssize_t>(dir.size())
                    ? 0
                    : 1);
    }
    ::close(pipe_fds[1]);
    std::string out;
    char buffer[512];
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
        out.append(buffer, static_cast<std::size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? out : "";
}

} // namespace

// Issue 10 #8: another user could create /tmp/cloudhost-<uid> first (mode
// 777) and make every load fail for that uid.
TEST_CASE("without XDG_RUNTIME_DIR, driver copies go where no other user can create the dir") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: switching to root and nobody needs root");
        return;
    }
    constexpr uid_t nobody = 65534;
    SUBCASE("root: /var/cache/cloudhost, even when /tmp/cloudhost-0 was planted") {
        const fs::path planted = "/tmp/cloudhost-0";
        const bool existed = fs::exists(planted);
        if (!existed) {
            REQUIRE(::mkdir(planted.c_str(), 0777) == 0);
            REQUIRE(::chown(planted.c_str(), nobody, nobody) == 0);
        }
        const std::string dir = cache_dir_without_runtime_dir(0, nullptr);
        CHECK(dir == "/var/cache/cloudhost/drivers");
        if (!existed)
            fs::remove(planted);
        // And it is usable: a private copy can be made there.
        REQUIRE_NOTHROW(cloudhost::detail::ensure_private_dir(dir));
    }
    SUBCASE("nobody: its own cache dir, not the planted /tmp/cloudhost-65534") {
        char cache_template[] = "/tmp/cloudhost-nobody-cache-XXXXXX";
        REQUIRE(::mkdtemp(cache_template) != nullptr);
        REQUIRE(::chown(cache_template, nobody, nobody) == 0);
        const std::string dir = cache_dir_without_runtime_dir(nobody, cache_template);
        CHECK(dir == std::string(cache_template) + "/cloudhost/drivers");
        CHECK(dir.find("/tmp/cloudhost-65534") == std::string::npos);
        fs::remove_all(cache_template);
    }
}

TEST_CASE("a driver loaded for a helper process is copied and verified but never mapped here") {
    forget_driver_code_runs();
    BadFilesDir dir;
    Catalog catalog(dir.options());
    auto library = catalog.load("fixture", "", cloudhost::IsolationMode::process);
    REQUIRE(library);
    CHECK_FALSE(library->mapped());
    CHECK_FALSE(driver_code_ran()); // not even its constructors ran in this process
    CHECK(library->info().version == "1.1.0");
    CHECK(fs::exists(library->path()));
    CHECK_FALSE(cloudhost::is_library_loaded(library->path()));
    // "auto" without a digest or signature verdict: the same.
    auto automatic = catalog.load("fixture", "", cloudhost::IsolationMode::automatic);
    CHECK_FALSE(automatic->mapped());
    CHECK_FALSE(driver_code_ran());
    // In process: mapped, and its code ran.
    auto in_process = catalog.load("fixture", "", cloudhost::IsolationMode::none);
    CHECK(in_process->mapped());
    CHECK(driver_code_ran());
}

TEST_CASE("a loaded library carries the SHA-256 the catalog verified, mapped or not") {
    BadFilesDir dir;
    Catalog catalog(dir.options());
    std::string scanned;
    for (const auto &file : catalog.scan())
        if (file.ok && file.info && file.info->name == "fixture" && file.info->version == "1.1.0")
            scanned = file.sha256;
    REQUIRE(scanned.size() == 64);
    for (const auto mode : {cloudhost::IsolationMode::none, cloudhost::IsolationMode::process}) {
        auto library = catalog.load("fixture", "", mode);
        CHECK(library->sha256() == scanned);
        CHECK(library->path().filename() == scanned + ".so"); // the private copy's name agrees
    }
}

TEST_CASE("one rule chooses the version: highest ok match of the name, eligible") {
    auto file = [](std::string name, std::string version, bool ok = true) {
        DriverFile f;
        f.path = name + "-" + version + ".so";
        f.info = cloudhost::DriverInfo{};
        f.info->name = std::move(name);
        f.info->version = std::move(version);
        f.ok = ok;
        f.sha256 = f.path.string();
        return f;
    };
    const std::vector<DriverFile> files = {
        file("a", "1.0.0"), file("a", "2.1.0"),      file("a", "3.0.0", false),  file("a", "2.0.0"),
        file("b", "9.0.0"), file("a", "2.2.0-rc.1"), file("a", "not-a-version"),
    };
    auto chosen = [&](const std::string &constraint,
                      std::function<bool(const DriverFile &)> eligible = {}) -> std::string {
        const DriverFile *f = cloudhost::choose_driver_version(
            files, "a", cloudhost::VersionConstraint::parse(constraint), eligible);
        return f ? f->info->version : "none";
    };
    CHECK(chosen("") == "2.2.0-rc.1"); // the empty constraint accepts prereleases
    CHECK(chosen(">=1") == "2.1.0");   // a rejected 3.0.0 never counts
    CHECK(chosen("<2") == "1.0.0");
    CHECK(chosen(">=4") == "none");
    CHECK(chosen(">=2.2.0-rc.1") == "2.2.0-rc.1");
    // Not eligible (hot swap: failed before, or still being written): the
    // next highest, not nothing.
    CHECK(chosen(">=1", [](const DriverFile &f) { return f.info->version != "2.1.0"; }) == "2.0.0");
    CHECK(cloudhost::choose_driver_version(files, "c") == nullptr);
}

namespace {

// A driver file whose content (and so private copy) differs per `variant`:
// bytes appended past the end of an ELF file change its hash, not its meaning.
void write_variant(const fs::path &file, int variant) {
    auto bytes = read_bytes(fixture("fixture-1.0.0"));
    bytes.resize(bytes.size() + static_cast<size_t>(variant) + 1, std::byte{0});
    fs::remove(file);
    write_bytes(file, bytes);
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
}

std::set<std::string> cached_copies(const fs::path &cache) {
    std::set<std::string> names;
    for (const auto &entry : fs::directory_iterator(cache))
        if (entry.path().extension() == ".so")
            names.insert(entry.path().filename().string());
    return names;
}

} // namespace

TEST_CASE("the private-copy cache keeps every copy in use and a bounded number of unused ones") {
    TempDir drivers, cache;
    CatalogOptions options{{drivers.path()}, cache.path(), {}};
    options.cache_keep_unused = 2;
    Catalog catalog(options);

    std::vector<std::shared_ptr<cloudhost::DriverLibrary>> held;
    std::vector<std::string> names;
    for (int variant = 0; variant < 5; ++variant) {
        write_variant(drivers / "fixture.so", variant);
        held.push_back(catalog.load("fixture"));
        names.push_back(held.back()->path().filename().string());
    }
    CHECK(cached_copies(cache.path()).size() == 5); // all in use: none collected
    held.clear();

    write_variant(drivers / "fixture.so", 5);
    auto newest = catalog.load("fixture");
    // The copy in use, and the two most recently used of the five unused.
    CHECK(cached_copies(cache.path()) ==
          std::set<std::string>{newest->path().filename().string(), names[3], names[4]});
    CHECK(newest->abi_version() == 1);

    // A rebuilt driver loaded again and again leaves a bounded cache.
    for (int variant = 6; variant < 20; ++variant) {
        write_variant(drivers / "fixture.so", variant);
        CHECK(catalog.load("fixture")->info().version == "1.0.0");
    }
    CHECK(cached_copies(cache.path()).size() <= 2 + 2); // `newest`, the last load, 2 unused
    CHECK(fs::exists(newest->path()));
}

TEST_CASE("a copy another process has loaded is never collected") {
    TempDir drivers, cache;
    CatalogOptions options{{drivers.path()}, cache.path(), {}};
    options.cache_keep_unused = 0;
    Catalog catalog(options);
    write_variant(drivers / "fixture.so", 0);
    const fs::path copy = catalog.load("fixture")->path(); // released at once

    // Another process takes the lease a loader holds (a shared flock).
    int ready[2], release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(release[1]);
        ::close(ready[0]);
        const int fd = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
        const bool locked = fd >= 0 && ::flock(fd, LOCK_SH) == 0;
        char byte = locked ? 'y' : 'n';
        (void)!::write(ready[1], &byte, 1);
        (void)!::read(release[0], &byte, 1); // until the parent closes it
        ::_exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    char answer = 0;
    REQUIRE(::read(ready[0], &answer, 1) == 1);
    REQUIRE(answer == 'y');

    CHECK(cloudhost::detail::collect_private_copies(cache.path(), 0) == 0);
    CHECK(fs::exists(copy));
    write_variant(drivers / "fixture.so", 1);
    auto other = catalog.load("fixture"); // collects after its own write
    CHECK(fs::exists(copy));

    ::close(release[1]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(ready[0]);
    CHECK(cloudhost::detail::collect_private_copies(cache.path(), 0) == 1);
    CHECK_FALSE(fs::exists(copy));
    CHECK(fs::exists(other->path())); // ours, still leased
}

TEST_CASE("a dead writer's temp file is collected after an hour, a live one is not") {
    TempDir cache;
    const std::string sha(64, 'a');
    const fs::path stale = cache / ("." + sha + ".tmp.999999.0");
    const fs::path fresh = cache / ("." + sha + ".tmp.999999.1");
    write_text(stale, "partial");
    write_text(fresh, "partial");
    const struct timespec two_hours_ago[2] = {{::time(nullptr) - 7200, 0},
                                              {::time(nullptr) - 7200, 0}};
    REQUIRE(::utimensat(AT_FDCWD, stale.c_str(), two_hours_ago, 0) == 0);
    write_text(cache / "notes.txt", "not ours to judge");
    cloudhost::detail::collect_private_copies(cache.path(), 0);
    CHECK_FALSE(fs::exists(stale));
    CHECK(fs::exists(fresh));
    CHECK(fs::exists(cache / "notes.txt"));
}

TEST_CASE("loads racing a collector that keeps nothing all succeed") {
    TempDir drivers, cache;
    CatalogOptions options{{drivers.path()}, cache.path(), {}};
    Catalog catalog(options);
    write_variant(drivers / "fixture.so", 0);
    catalog.load("fixture"); // creates the cache dir
    std::atomic<bool> done{false};
    std::atomic<int> collected{0};
    std::thread collector([&] {
        while (!done)
            collected +=
                static_cast<int>(cloudhost::detail::collect_private_copies(cache.path(), 0));
    });
    int loaded = 0;
    std::string failure;
    for (int i = 0; i < 200 && failure.empty(); ++i) {
        try {
            auto library = catalog.load("fixture");
            // The copy exists while the library holds it, whatever the collector does.
            CHECK(fs::exists(library->path()));
            loaded += library->abi_version() == 1;
        } catch (const std::exception &e) {
            failure = e.what();
        }
    }
    done = true;
    collector.join();
    CHECK(failure == "");
    CHECK(loaded == 200);
    MESSAGE("copies collected while loading: " << collected.load());
}
