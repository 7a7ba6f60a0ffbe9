// The driver catalog: judges every `*.so` file in the driver directories
// without running any of its code, and loads drivers from private copies.
#pragma once

#include "cloudhost/driver_info.hpp"
#include "cloudhost/driver_library.hpp"

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost {

// $XDG_RUNTIME_DIR/cloudhost/drivers, or /tmp/cloudhost-<uid>/drivers.
std::filesystem::path default_driver_cache_dir();

struct CatalogOptions {
    // Scanned in this order; a directory that does not exist is skipped
    // silently (installed and build-tree dirs are often both configured).
    std::vector<std::filesystem::path> dirs;
    // Where load() keeps the private copies <sha256>.so. Created with mode
    // 0700; must be owned by us and not writable by others.
    std::filesystem::path cache_dir = default_driver_cache_dir();
};

// The verdict on one file.
struct DriverFile {
    std::filesystem::path path;
    std::optional<DriverInfo> info; // set whenever the metadata could be read
    std::string sha256;             // hex of the file bytes; empty if unreadable
    bool ok = false;
    std::string reason;  // why it was rejected; empty when ok
    bool active = false; // the file load(name) would pick (highest ok version)
};

class Catalog {
  public:
    explicit Catalog(CatalogOptions options);

    const CatalogOptions &options() const noexcept { return options_; }

    // Judges every regular `*.so` file: directories in the given order,
    // files in each sorted by name. Rejections, in the order checked:
    // unreadable / not a regular file, ELF format and metadata problems,
    // entry point not defined by the driver, ABI range, missing dependency,
    // duplicate name+version (the later file loses). A directory that exists
    // but cannot be listed gets a rejected entry of its own. Never throws
    // for a bad file. Thread-safe.
    std::vector<DriverFile> scan() const;

    // Scans, picks the highest ok version of `name` satisfying
    // `version_constraint` (see VersionConstraint; "" = any), reads that file
    // once, judges those bytes again, stores them as
    // <cache_dir>/<sha256>.so and dlopens that copy. Throws LoadError ("no
    // driver named X", "no version of X satisfies >=2", or the load failure)
    // and InvalidConfigError for a malformed constraint. Thread-safe.
    std::shared_ptr<DriverLibrary> load(const std::string &name,
                                        const std::string &version_constraint = "") const;

  private:
    CatalogOptions options_;
    mutable std::mutex cache_mutex_; // one writer of private copies at a time
};

} // namespace cloudhost
