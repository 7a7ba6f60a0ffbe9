// Shared by the isolation tests: drivers loaded through the catalog from the
// build tree, an isolated endpoint over them, a visitor that keeps what it
// is handed, and a /proc check that no helper process is left.
#pragma once

#include "helper_processes.hpp"
#include "isolation/isolated_endpoint.hpp"
#include "temp_dir.hpp"

#include "cloudhost/catalog.hpp"
#include "cloudhost/errors.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

namespace iso_test {

namespace fs = std::filesystem;
using cloudhost::detail::InstanceDescView;
using cloudhost::detail::InstanceRef;

inline fs::path build_root() {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE_MESSAGE(root != nullptr, "CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    return root;
}

// A driver of the build tree, loaded through the catalog (private copy).
inline std::shared_ptr<cloudhost::DriverLibrary> load_driver(const std::string &name,
                                                             const fs::path &cache) {
    cloudhost::CatalogOptions options;
    options.dirs = {build_root() / "tests" / "isolation", build_root() / "plugins" / name};
    options.cache_dir = cache;
    return cloudhost::Catalog(options).load(name);
}

using test_support::helper_children;

// Keeps every reference it is handed (the caller releases them).
struct Keep final : cloudhost::detail::InstanceVisitor {
    std::vector<std::pair<InstanceRef, std::string>> got;
    bool take(InstanceRef ref, const InstanceDescView &desc) noexcept override {
        got.emplace_back(ref, std::string(desc.id));
        return true;
    }
    void release_all(cloudhost::detail::DriverEndpoint &ep) {
        for (auto &[ref, id] : got)
            ep.release(ref);
        got.clear();
    }
};

// Records what reaches the host's log.
struct CaptureSink final : spdlog::sinks::base_sink<std::mutex> {
    std::vector<std::string> lines;
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return lines.size();
    }
    std::vector<std::string> copy() {
        std::lock_guard lock(mutex_);
        return lines;
    }

  protected:
    void sink_it_(const spdlog::details::log_msg &msg) override {
        lines.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}
};

inline cloudhost::InstanceType small_type() {
    cloudhost::InstanceType t;
    t.name = "small";
    t.provider_type = "small";
    t.vcpus = 1;
    t.ram = 1 << 30;
    t.price = 0.1;
    return t;
}

struct Fixture {
    cloudhost::test::TempDir dir{"cloudhost-iso"};
    std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
    std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>("iso", sink);
    std::mutex events_mutex;
    std::vector<cloudhost::SwapEvent> events;

    Fixture() { logger->set_level(spdlog::level::info); }
    ~Fixture() { CHECK(helper_children().empty()); }

    cloudhost::isolation::IsolationOptions options() {
        cloudhost::isolation::IsolationOptions o;
        o.on_event = [this](const cloudhost::SwapEvent &e) {
            std::lock_guard lock(events_mutex);
            events.push_back(e);
        };
        return o;
    }
    std::size_t count(cloudhost::SwapEventKind kind) {
        std::lock_guard lock(events_mutex);
        std::size_t n = 0;
        for (const auto &e : events)
            n += e.kind == kind;
        return n;
    }

    std::unique_ptr<cloudhost::isolation::IsolatedEndpoint>
    open(const std::string &driver, const std::string &config,
         std::optional<cloudhost::isolation::IsolationOptions> opts = std::nullopt) {
        cloudhost::isolation::IsolatedArgs args;
        args.config_json = config;
        args.instance_set_id = "zzzzz-zzzzz-isolationtest01";
        args.logger = logger;
        return cloudhost::isolation::IsolatedEndpoint::open(load_driver(driver, dir / "cache"),
                                                            args, opts ? *opts : options());
    }
};

} // namespace iso_test
