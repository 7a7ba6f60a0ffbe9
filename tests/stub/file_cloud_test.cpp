// The stub's "state_dir" backend: two separately loaded copies of stub.so
// (as two versions are during a hot swap) share one file-backed cloud.
#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using cloudhost::Instance;
using cloudhost::InstanceSet;

namespace {

fs::path built_stub() {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    if (!root)
        throw std::runtime_error("CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    return fs::path(root) / "plugins" / "stub" / "stub.so";
}

// A temporary directory holding two copies of stub.so (two inodes: dlopen
// loads each separately) and the cloud state; removed at the end.
struct TwoCopies {
    fs::path root;
    fs::path state_dir;
    std::shared_ptr<cloudhost::DriverLibrary> first, second;

    TwoCopies() {
        static std::atomic<int> counter{0};
        root = fs::temp_directory_path() / ("cloudhost-stub-files-" + std::to_string(::getpid()) +
                                            "-" + std::to_string(counter++));
        fs::remove_all(root);
        fs::create_directories(root);
        state_dir = root / "state";
        first = load_copy("first.so");
        second = load_copy("second.so");
        REQUIRE(first.get() != second.get());
    }
    ~TwoCopies() {
        std::error_code ignored;
        fs::remove_all(root, ignored);
    }

    std::shared_ptr<cloudhost::DriverLibrary> load_copy(const std::string &name) const {
        const fs::path copy = root / name;
        fs::copy_file(built_stub(), copy);
        cloudhost::DriverInfo info;
        info.name = "stub";
        info.version = "1.0.0";
        info.abi_min = info.abi_max = 1;
        return cloudhost::DriverLibrary::open(copy, info);
    }

    InstanceSet open(const std::shared_ptr<cloudhost::DriverLibrary> &library,
                     const std::string &knobs = "") const {
        cloudhost::InstanceSetOptions o;
        o.config_json = R"({"state_dir": ")" + state_dir.string() + "\"" +
                        (knobs.empty() ? "" : ", " + knobs) + "}";
        o.instance_set_id = "zzzzz-zzzzz-zzzzzzzstubfile";
        return InstanceSet::open(library, o);
    }

    // Files of the default cloud other than the lock and the serial counter.
    std::vector<std::string> vm_files() const {
        std::vector<std::string> names;
        for (const auto &entry : fs::directory_iterator(state_dir / "default")) {
            const std::string name = entry.path().filename().string();
            if (name != ".lock" && name != ".last_serial")
                names.push_back(name);
        }
        return names;
    }
};

cloudhost::InstanceType small() {
    cloudhost::InstanceType t;
    t.name = t.provider_type = "small";
    t.price = 0.5;
    return t;
}

std::set<std::string> ids_of(std::vector<Instance> instances) {
    std::set<std::string> ids;
    for (const auto &i : instances)
        ids.insert(i.id());
    return ids;
}

Instance find(InstanceSet &set, const std::string &id) {
    for (auto &i : set.instances())
        if (i.id() == id)
            return i;
    FAIL("instance " << id << " not listed");
    return {};
}

} // namespace

TEST_CASE("stub state_dir: two loaded copies see each other's Create, SetTags and Destroy") {
    TwoCopies copies;
    auto a = copies.open(copies.first);
    auto b = copies.open(copies.second);

    auto created = a.create(small(), "img", {{"role", "worker"}}, "", std::nullopt);
    CHECK(created.id() == "inst1,small");
    CHECK(ids_of(b.instances()) == std::set<std::string>{created.id()});

    // Serials come from the shared counter: the second copy continues it.
    auto other = b.create(small(), "img", {{"role", "other"}}, "", std::nullopt);
    CHECK(other.id() == "inst2,small");
    CHECK(ids_of(a.instances()) == std::set<std::string>{created.id(), other.id()});

    auto seen_by_b = find(b, created.id());
    CHECK(seen_by_b.tags() == cloudhost::Tags{{"role", "worker"}});
    seen_by_b.set_tags({{"role", "retagged"}});
    CHECK(created.tags() == cloudhost::Tags{{"role", "retagged"}}); // a's handle from Create
    CHECK(find(a, created.id()).tags() == cloudhost::Tags{{"role", "retagged"}});
    CHECK(ids_of(a.instances({{"role", "retagged"}})) == std::set<std::string>{created.id()});

    created.destroy();
    CHECK(ids_of(b.instances()) == std::set<std::string>{other.id()});
    CHECK_NOTHROW(seen_by_b.destroy());      // idempotent, from the other copy too
    seen_by_b.set_tags({{"role", "ghost"}}); // a destroyed VM is not written back
    CHECK(ids_of(a.instances()) == std::set<std::string>{other.id()});

    other.destroy();
    CHECK(a.instances().empty());
    CHECK(b.instances().empty());
}

TEST_CASE("stub state_dir: sets from two copies racing Creates never exceed the quota") {
    TwoCopies copies;
    constexpr int quota = 12;
    const std::string knobs = R"("quota_max_instances": )" + std::to_string(quota);
    auto a = copies.open(copies.first, knobs);
    auto b = copies.open(copies.second, knobs);

    std::atomic<int> created{0}, refused{0}, over_quota{0};
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            InstanceSet &set = t % 2 ? a : b;
            for (int attempt = 0; attempt < 6; ++attempt) {
                try {
                    set.create(small(), "img", {{"thread", std::to_string(t)}}, "", std::nullopt);
                    ++created;
                    if (set.instances().size() > quota)
                        ++over_quota;
                } catch (const cloudhost::QuotaError &) {
                    ++refused;
                } catch (const std::exception &e) {
                    const std::lock_guard lock(failures_mutex);
                    failures.push_back(e.what());
                }
            }
        });
    for (auto &thread : threads)
        thread.join();

    for (const auto &failure : failures)
        MESSAGE("failed call: " << failure);
    CHECK(failures.empty());
    CHECK(created == quota);
    CHECK(refused == 8 * 6 - quota);
    CHECK(over_quota == 0);
    const auto listed = ids_of(a.instances());
    CHECK(listed.size() == quota); // distinct ids: no serial handed out twice
    CHECK(ids_of(b.instances()) == listed);
    CHECK_THROWS_AS(b.create(small(), "img", {}, "", std::nullopt), cloudhost::QuotaError);

    for (auto &vm : a.instances())
        vm.destroy();
    CHECK_NOTHROW(b.create(small(), "img", {}, "", std::nullopt)); // room again
    for (auto &vm : b.instances())
        vm.destroy();
}

TEST_CASE("stub state_dir: destroyed VMs leave no files") {
    TwoCopies copies;
    auto a = copies.open(copies.first);
    auto b = copies.open(copies.second);
    std::vector<Instance> vms;
    for (int i = 0; i < 5; ++i) {
        vms.push_back(
            (i % 2 ? a : b).create(small(), "img", {{"i", std::to_string(i)}}, "", std::nullopt));
        vms.back().set_tags({{"i", std::to_string(i)}, {"tagged", "yes"}});
    }
    CHECK(copies.vm_files().size() == 5);
    for (auto &vm : vms)
        vm.destroy();
    CHECK(copies.vm_files().empty()); // no VM file, no temporary file
    CHECK(a.instances().empty());
}

TEST_CASE("stub state_dir: VM behaviour knobs come from the set that reads the VM") {
    TwoCopies copies;
    auto slow = copies.open(copies.first, R"("boot_delay_ms": 3600000, "ssh_port": 2222)");
    auto fast = copies.open(copies.second, R"("ssh_port": 2200)");
    auto vm = slow.create(small(), "img", {}, "", std::nullopt);
    CHECK(vm.address().empty()); // booting for its creator
    CHECK(find(fast, vm.id()).address() == "127.0.0.1:2200");
    CHECK(find(slow, vm.id()).address().empty());
    vm.destroy();
}

TEST_CASE("stub state_dir: stale tags are the reading set's knob") {
    TwoCopies copies;
    auto writer = copies.open(copies.first);
    auto stale = copies.open(copies.second, R"("stale_tags_ms": 3600000)");
    auto vm = writer.create(small(), "img", {{"v", "1"}}, "", std::nullopt);
    vm.set_tags({{"v", "2"}});
    CHECK(vm.tags() == cloudhost::Tags{{"v", "2"}});
    CHECK(find(writer, vm.id()).tags() == cloudhost::Tags{{"v", "2"}});
    CHECK(find(stale, vm.id()).tags() == cloudhost::Tags{{"v", "1"}});
    vm.destroy();
}

TEST_CASE("stub state_dir: a bad state_dir or cloud is refused naming the key") {
    TwoCopies copies;
    auto refusal = [&](const std::string &config) -> std::string {
        cloudhost::InstanceSetOptions o;
        o.config_json = config;
        o.instance_set_id = "zzzzz-zzzzz-zzzzzzzstubfile";
        try {
            InstanceSet::open(copies.first, o);
        } catch (const cloudhost::InvalidConfigError &e) {
            return e.what();
        }
        return "accepted";
    };
    const std::string relative = refusal(R"({"state_dir": "relative/dir"})");
    CHECK(relative.find("\"state_dir\" must be an absolute path") != std::string::npos);
    const std::string empty = refusal(R"({"state_dir": ""})");
    CHECK(empty.find("\"state_dir\"") != std::string::npos);

    // Not creatable: a regular file where a directory should be.
    const fs::path file = copies.root / "first.so";
    const std::string blocked = refusal(R"({"state_dir": ")" + (file / "below").string() + "\"}");
    CHECK(blocked.find("\"state_dir\": cannot create") != std::string::npos);
    CHECK(blocked.find((file / "below").string()) != std::string::npos);

    const std::string escaping =
        refusal(R"({"state_dir": ")" + copies.state_dir.string() + R"(", "cloud": "../x"})");
    CHECK(escaping.find("\"cloud\" must be a file name") != std::string::npos);
    CHECK_FALSE(fs::exists(copies.root / "x"));
}

TEST_CASE("stub state_dir: an oversized, endless, deep or non-regular VM file is a clear error") {
    TwoCopies copies;
    auto set = copies.open(copies.first);
    set.create(small(), "img", {{"Name", "kept"}}, "", std::nullopt);
    const auto names = copies.vm_files();
    REQUIRE(names.size() == 1);
    const fs::path vm = copies.state_dir / "default" / names[0];
    const std::string good = [&] {
        std::ifstream in(vm);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }();
    auto listing_error = [&]() -> std::string {
        try {
            set.instances();
        } catch (const cloudhost::DriverError &e) {
            return e.what();
        }
        return "listed";
    };
    struct Case {
        std::string what;
        std::function<void()> plant;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"over 64 KiB", [&] { std::ofstream(vm) << good << std::string(64 * 1024, ' '); },
         "is larger than 65536 bytes"},
        {"deep nesting", [&] { std::ofstream(vm) << std::string(60000, '['); },
         "nesting deeper than 64 levels"},
        {"a FIFO",
         [&] {
             fs::remove(vm);
             REQUIRE(::mkfifo(vm.c_str(), 0600) == 0);
         },
         "is not a regular file"},
        {"a symlink to /dev/zero",
         [&] {
             fs::remove(vm);
             fs::create_symlink("/dev/zero", vm);
         },
         "is not a regular file"},
    };
    for (const auto &c : cases) {
        CAPTURE(c.what);
        c.plant();
        const std::string message = listing_error();
        CHECK(message.find(vm.string()) != std::string::npos);
        CHECK(message.find(c.message) != std::string::npos);
        fs::remove(vm);
        std::ofstream(vm) << good; // restored: listed again
        CHECK(set.instances().size() == 1);
    }
}

TEST_CASE("stub state_dir: both copies unload once their sets are gone") {
    fs::path first, second;
    {
        TwoCopies copies;
        first = copies.first->path();
        second = copies.second->path();
        {
            auto a = copies.open(copies.first);
            auto b = copies.open(copies.second);
            auto vm = a.create(small(), "img", {}, "", std::nullopt);
            CHECK(b.instances().size() == 1);
            vm.destroy();
        }
        copies.first.reset();
        copies.second.reset();
        CHECK_FALSE(cloudhost::is_library_loaded(first));
        CHECK_FALSE(cloudhost::is_library_loaded(second));
    }
}
