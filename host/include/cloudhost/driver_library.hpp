// A loaded driver shared object.
//
// A DriverLibrary is always opened from a private, host-owned copy of the
// driver file (see Catalog), with RTLD_LOCAL | RTLD_NOW. It is shared by
// every InstanceSet, Instance and in-flight call that uses it; the library
// is dlclose()d when the last std::shared_ptr goes away.
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/driver_info.hpp"

#include <filesystem>
#include <memory>

namespace cloudhost {

class DriverLibrary {
  public:
    // Loads `path`, checks that the entry point is defined by that file
    // itself (not resolved from one of its dependencies), negotiates the ABI
    // version and fetches the function table. Throws LoadError naming the
    // path, the stage and the reason.
    static std::shared_ptr<DriverLibrary> open(const std::filesystem::path &path, DriverInfo info);

    ~DriverLibrary();
    DriverLibrary(const DriverLibrary &) = delete;
    DriverLibrary &operator=(const DriverLibrary &) = delete;

    const DriverInfo &info() const noexcept { return info_; }
    const std::filesystem::path &path() const noexcept { return path_; }
    uint32_t abi_version() const noexcept { return abi_version_; }
    // Valid while this object lives. Slots past struct_size read as NULL
    // through table(): the host copies the driver's table into a full-size
    // zeroed one at load.
    const ch_driver_v1 &table() const noexcept { return table_; }

    // Keep libraries mapped after the last reference (for leak checkers that
    // need symbols of unloaded code): CLOUDHOST_KEEP_LOADED=1 sets it too.
    static void set_keep_loaded(bool keep) noexcept;

  private:
    DriverLibrary() = default;
    std::filesystem::path path_;
    DriverInfo info_;
    void *handle_ = nullptr;
    uint32_t abi_version_ = 0;
    ch_driver_v1 table_{};
};

// True while the shared object at `path` is mapped in this process
// (dlopen with RTLD_NOLOAD): how tests check that a driver unloaded.
bool is_library_loaded(const std::filesystem::path &path);

} // namespace cloudhost
