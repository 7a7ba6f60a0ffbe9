// (c) scanning a directory of 100 driver files without running driver code,
//     against dlopen()ing each file (what a host without ELF metadata does).
#include "bench_registry.hpp"

#include "cloudhost/catalog.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>

namespace cloudhost::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::vector<Result> scan_100_drivers() {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("cloudhost-bench-scan-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const fs::path example = build_root() + "/plugins/example/example.so";
    for (int i = 0; i < 100; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "driver-%03d.so", i);
        fs::copy_file(example, dir / name, fs::copy_options::overwrite_existing);
    }
    CatalogOptions options;
    options.dirs = {dir};
    options.cache_dir = dir / "cache";
    Catalog catalog(options);

    std::vector<double> scan_ms, dlopen_ms;
    std::size_t judged = 0;
    for (int r = 0; r < 5; ++r) {
        auto t0 = SteadyClock::now();
        judged = catalog.scan().size();
        scan_ms.push_back(
            std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());

        t0 = SteadyClock::now();
        for (const auto &entry : fs::directory_iterator(dir)) {
            if (entry.path().extension() != ".so")
                continue;
            if (void *h = dlopen(entry.path().c_str(), RTLD_NOW | RTLD_LOCAL))
                dlclose(h);
        }
        dlopen_ms.push_back(
            std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
    }
    fs::remove_all(dir);
    if (judged != 100)
        throw std::runtime_error("scan judged " + std::to_string(judged) + " files, want 100");
    Result r;
    r.name = "catalog_scan_100_files";
    r.value = median(scan_ms);
    r.unit = "ms";
    r.baseline = "dlopen+dlclose of each file";
    r.baseline_value = median(dlopen_ms);
    r.note =
        "median of 5; includes SHA-256 and dependency resolution of every file; target < 50 ms";
    return {r};
}

Register c("catalog_scan", "scan a directory of 100 driver files (no driver code runs)",
           scan_100_drivers);

} // namespace
} // namespace cloudhost::bench
