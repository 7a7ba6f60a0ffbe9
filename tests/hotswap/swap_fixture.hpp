// Shared by the hot swap tests: a temporary driver directory, cache and
// cloud state; installing swapcloud builds the two ways operators do (cp
// over the path, mv into the directory); and an event recorder.
#pragma once

#include "cloudhost/catalog.hpp"
#include "cloudhost/hot_swap.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;

// A driver build made by tests/hotswap/meson.build ("swapcloud_v1", "loopback_v2", ...).
inline fs::path swapcloud_build(const std::string &name) {
    const char *dir = std::getenv("SWAPCLOUD_DIR");
    REQUIRE(dir != nullptr);
    return fs::path(dir) / (name + ".so");
}

struct EventLog {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<cloudhost::SwapEvent> events;

    std::function<void(const cloudhost::SwapEvent &)> callback() {
        return [this](const cloudhost::SwapEvent &e) {
            const std::lock_guard lock(mutex);
            events.push_back(e);
            changed.notify_all();
        };
    }
    std::size_t count(cloudhost::SwapEventKind kind) {
        const std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto &e : events)
            n += e.kind == kind;
        return n;
    }
    // Bounded wait for the n-th event of `kind`.
    bool wait_for(cloudhost::SwapEventKind kind, std::size_t n,
                  std::chrono::seconds limit = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, limit, [&] {
            std::size_t seen = 0;
            for (const auto &e : events)
                seen += e.kind == kind;
            return seen >= n;
        });
    }
    cloudhost::SwapEvent last(cloudhost::SwapEventKind kind) {
        const std::lock_guard lock(mutex);
        for (auto it = events.rbegin(); it != events.rend(); ++it)
            if (it->kind == kind)
                return *it;
        FAIL("no event of that kind");
        return {};
    }
};

struct SwapFixture {
    // "swapcloud", "stub" or "loopback": each keeps its VMs under "state_dir".
    const std::string driver;
    fs::path root;
    fs::path driver_dir;
    EventLog log;

    explicit SwapFixture(std::string driver_name = "swapcloud") : driver(std::move(driver_name)) {
        root = fs::temp_directory_path() / ("cloudhost-hotswap-" + std::to_string(::getpid()) +
                                            "-" + std::to_string(counter()++));
        fs::remove_all(root);
        driver_dir = root / "drivers";
        fs::create_directories(driver_dir);
        fs::create_directories(root / "staging");
    }
    ~SwapFixture() {
        std::error_code ignored;
        fs::remove_all(root, ignored);
    }

    cloudhost::Catalog catalog() const {
        cloudhost::CatalogOptions options;
        options.dirs = {driver_dir};
        options.cache_dir = root / "cache";
        return cloudhost::Catalog(options);
    }

    cloudhost::InstanceSetOptions set_options() const {
        cloudhost::InstanceSetOptions o;
        o.config_json = R"({"state_dir": ")" + (root / "cloud").string() + R"("})";
        o.instance_set_id = "zzzzz-zzzzz-hotswaptest0001";
        o.shared_resource_tags = {{"cluster", "hotswap"}};
        // In process: these tests watch old versions unmap. Hot swap of
        // isolated versions is tested in tests/cli/cli_signals_test.cpp.
        o.isolation.mode = cloudhost::IsolationMode::none;
        return o;
    }

    cloudhost::HotSwapOptions swap_options(std::string constraint = {}) {
        cloudhost::HotSwapOptions o;
        o.driver_name = driver;
        o.version_constraint = std::move(constraint);
        o.on_event = log.callback();
        return o;
    }

    // cp over the path: truncate and write the same inode.
    void install_by_copy(const std::string &build, std::string as = {}) {
        if (as.empty())
            as = driver + ".so";
        fs::copy_file(swapcloud_build(build), driver_dir / as,
                      fs::copy_options::overwrite_existing);
    }
    // Write elsewhere, then rename into the directory.
    void install_by_rename(const std::string &build, std::string as = {}) {
        if (as.empty())
            as = driver + ".so";
        const fs::path staged = root / "staging" / as;
        fs::copy_file(swapcloud_build(build), staged, fs::copy_options::overwrite_existing);
        fs::rename(staged, driver_dir / as);
    }

    // Loopback instance directories ("lo-*") left in the cloud state: each
    // is a live instance (its server runs there) until Destroy removes it.
    std::size_t loopback_instance_dirs() const {
        std::error_code ec;
        std::size_t left = 0;
        for (const auto &entry : fs::directory_iterator(root / "cloud", ec))
            left += entry.path().filename().string().rfind("lo-", 0) == 0;
        return left;
    }

  private:
    static int &counter() {
        static int n = 0;
        return n;
    }
};
