// A loaded driver shared object.
//
// A DriverLibrary is always opened from a private, host-owned copy of the
// driver file (see Catalog), with RTLD_LOCAL | RTLD_NOW. It is shared by
// every InstanceSet, Instance and in-flight call that uses it; the library
// is dlclose()d when the last std::shared_ptr goes away, except while the
// process exits (a driver thread that was never joined may still run its
// code then) and with CLOUDHOST_KEEP_LOADED=1.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/driver_info.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cloudhost {

namespace detail {
struct InternalAccess;
}

class CLOUDHOST_API DriverLibrary {
  public:
    // Loads `path`, checks that the entry point is defined by that file
    // itself (not resolved from one of its dependencies), negotiates the ABI
    // version and fetches the function table. Throws LoadError naming the
    // path, the stage and the reason. `sha256`: the digest of the bytes at
    // `path` as the loader (Catalog) verified them, carried by the handle;
    // empty when the caller did not compute one.
    static std::shared_ptr<DriverLibrary> open(const std::filesystem::path &path, DriverInfo info,
                                               std::string sha256 = {});
    // The same verified private copy, not mapped in this process: an
    // isolated driver, which only its helper process loads (so not even its
    // constructors run in the host). Its function table is all NULL, abi_version() 0
    // (the helper negotiates); an in-process endpoint refuses it.
    static std::shared_ptr<DriverLibrary> unmapped(const std::filesystem::path &path,
                                                   DriverInfo info, std::string sha256 = {});

    ~DriverLibrary();
    DriverLibrary(const DriverLibrary &) = delete;
    DriverLibrary &operator=(const DriverLibrary &) = delete;

    const DriverInfo &info() const noexcept { return info_; }
    const std::filesystem::path &path() const noexcept { return path_; }
    // Lower-case hex SHA-256 of the loaded bytes, or "" (see open()).
    const std::string &sha256() const noexcept { return sha256_; }
    uint32_t abi_version() const noexcept { return abi_version_; }
    // False for unmapped(): no code of this driver runs in this process.
    bool mapped() const noexcept { return handle_ != nullptr; }

    // What the driver did that the host survived, counted for this library
    // (shared with the objects that outlive it while its code stays mapped).
    struct Misbehaviour {
        // C++ exceptions thrown across the C ABI where no result could carry
        // them (instance_release, instance_set_stop, instance_set_free).
        std::atomic<std::uint64_t> exceptions_swallowed{0};
        // Log records a driver sent after instance_set_free had returned.
        std::atomic<std::uint64_t> log_records_after_free{0};
    };
    const std::shared_ptr<Misbehaviour> &misbehaviour() const noexcept { return misbehaviour_; }

    // Keeps `object` alive for as long as this library's code stays mapped:
    // freed with the dlclose, never if the library stays loaded (what a
    // driver thread may still reach after instance_set_free, such as the
    // ch_logger's context). For an unmapped library, freed with it.
    void keep_while_mapped(std::shared_ptr<const void> object);

    // Keep libraries mapped after the last reference (for leak checkers that
    // need symbols of unloaded code): CLOUDHOST_KEEP_LOADED=1 sets it too.
    static void set_keep_loaded(bool keep) noexcept;

  private:
    friend struct detail::InternalAccess; // the function table: cloudhost/internal/access.hpp
    DriverLibrary() = default;
    std::filesystem::path path_;
    std::string sha256_;
    DriverInfo info_;
    void *handle_ = nullptr;
    uint32_t abi_version_ = 0;
    // Slots past the driver's struct_size read as NULL: the host copies its
    // table into a full-size zeroed one at load.
    ch_driver_v1 table_{};
    std::shared_ptr<Misbehaviour> misbehaviour_ = std::make_shared<Misbehaviour>();
    std::mutex kept_mutex_;
    std::vector<std::shared_ptr<const void>> kept_;
};

// True while the shared object at `path` is mapped in this process
// (dlopen with RTLD_NOLOAD): how tests check that a driver unloaded.
CLOUDHOST_API bool is_library_loaded(const std::filesystem::path &path);

// True once the process has begun to exit (std::exit, or main returned)
// after a driver was loaded: libraries are no longer unloaded and records a
// driver logs are dropped.
CLOUDHOST_API bool process_exit_began() noexcept;

} // namespace cloudhost
