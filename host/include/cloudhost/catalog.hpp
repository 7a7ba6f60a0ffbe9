// The driver catalog: judges every `*.so` file in the driver directories
// without running any of its code, and loads drivers from private copies.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/driver_info.hpp"
#include "cloudhost/driver_library.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/trust.hpp"
#include "cloudhost/version.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost {

// Where private copies go: $XDG_RUNTIME_DIR/cloudhost/drivers, else
// $XDG_CACHE_HOME/cloudhost/drivers, else /var/cache/cloudhost/drivers for
// root, else ~/.cache/cloudhost/drivers (home from the password database),
// else (no home) /tmp/cloudhost-<uid>/drivers.
CLOUDHOST_API std::filesystem::path default_driver_cache_dir();

struct CLOUDHOST_API CatalogOptions {
    // Scanned in this order; a directory that does not exist is skipped
    // silently (installed and build-tree dirs are often both configured).
    std::vector<std::filesystem::path> dirs;
    // Where load() keeps the private copies <sha256>.so. Created with mode
    // 0700; must be owned by us and not writable by others.
    std::filesystem::path cache_dir = default_driver_cache_dir();
    // Which files may be loaded: the permission policy (strict by default)
    // and the content policy (allow-all by default). See trust.hpp.
    TrustPolicy trust;
    // Bounds the cache: after each load, copies no process has loaded are
    // deleted except this many most recently used (kept so that the next
    // command or restart does not write them again). A copy any process
    // still uses is never deleted.
    size_t cache_keep_unused = 8;
};

// The verdict on one file.
struct CLOUDHOST_API DriverFile {
    std::filesystem::path path;
    std::optional<DriverInfo> info; // set whenever the metadata could be read
    std::string sha256;             // hex of the file bytes; empty if unreadable
    bool ok = false;
    std::string reason;   // why it was rejected; empty when ok
    bool active = false;  // the file load(name) would pick (highest ok version)
    bool trusted = false; // passed the permission and trust policies
    // The trust verdict: "allow-all", "digest listed", "signed by SHA256:...
    // (comment)", or why not ("permissions: ...", "untrusted: ..."); empty
    // when the file could not be read at all.
    std::string trust;
};

// The one rule for which version of a driver runs, used by Catalog::load,
// by scan()'s `active` mark and by hot swap: among `files`, the ok file named
// `name` with the highest version satisfying `constraint` that `eligible`
// (when given) accepts. nullptr when none does.
CLOUDHOST_API const DriverFile *
choose_driver_version(const std::vector<DriverFile> &files, const std::string &name,
                      const VersionConstraint &constraint = {},
                      const std::function<bool(const DriverFile &)> &eligible = {});

class CLOUDHOST_API Catalog {
  public:
    explicit Catalog(CatalogOptions options);

    const CatalogOptions &options() const noexcept { return options_; }

    // Judges every regular `*.so` file: directories in the given order,
    // files in each sorted by name. Rejections, in the order checked:
    // permission policy (owner and write permissions of the file and every
    // directory above it, symlinks leading out of the driver directories),
    // unreadable / not a regular file, ELF format and metadata problems,
    // entry point not defined by the driver, ABI range, missing dependency,
    // trust policy (digest or signature), duplicate name+version (the later
    // file loses). Permission and trust refusals are also logged as
    // warnings. A directory that exists
    // but cannot be listed gets a rejected entry of its own. Never throws
    // for a bad file. Thread-safe.
    std::vector<DriverFile> scan() const;

    // Judges one file (anywhere) by the same rules, e.g. for `cloudhost
    // verify`; its own directory counts as a driver directory.
    DriverFile inspect(const std::filesystem::path &file) const;

    // Scans, picks the highest ok version of `name` satisfying
    // `version_constraint` (see VersionConstraint; "" = any), reads that file
    // once, judges those bytes again (signature and digest included: the
    // bytes verified are the bytes loaded), stores them as
    // <cache_dir>/<sha256>.so and dlopens that copy — unless `isolation`
    // resolves to a helper process for that file (resolve_isolation: always
    // for "process", for "auto" unless its digest is listed or it is signed);
    // then the copy is returned unmapped (DriverLibrary::unmapped), and no
    // code of the driver runs in this process. Throws LoadError ("no driver
    // named X", "no version of X satisfies >=2", or the load failure) and
    // InvalidConfigError for a malformed constraint. Thread-safe.
    std::shared_ptr<DriverLibrary> load(const std::string &name,
                                        const std::string &version_constraint = "",
                                        IsolationMode isolation = IsolationMode::none) const;

  private:
    CatalogOptions options_;
    mutable std::mutex cache_mutex_; // one writer of private copies at a time
};

} // namespace cloudhost
