// The library's way into public classes: what a dispatcher must not touch
// (the core behind an Instance or InstanceSet handle, a driver's raw C
// function table) but the library's areas, the driver host helper, tests
// and benchmarks need. Public classes name detail::InternalAccess as their
// friend; nothing here is exported from libcloudhost.so.
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/driver_library.hpp"
#include "cloudhost/instance.hpp"
#include "cloudhost/instance_set.hpp"

#include <memory>

namespace cloudhost::detail {

struct InternalAccess {
    static const std::shared_ptr<InstanceSetCore> &core(const InstanceSet &set) noexcept {
        return set.core_;
    }
    static const std::shared_ptr<InstanceCore> &core(const Instance &instance) noexcept {
        return instance.core_;
    }
    static const ch_driver_v1 &table(const DriverLibrary &library) noexcept {
        return library.table_;
    }
};

// The core serving `set` (null for an empty handle).
inline const std::shared_ptr<InstanceSetCore> &core_of(const InstanceSet &set) noexcept {
    return InternalAccess::core(set);
}

// The core behind `instance` (null for an empty handle).
inline const std::shared_ptr<InstanceCore> &core_of(const Instance &instance) noexcept {
    return InternalAccess::core(instance);
}

// The driver's function table, valid while `library` lives.
inline const ch_driver_v1 &driver_table(const DriverLibrary &library) noexcept {
    return InternalAccess::table(library);
}

} // namespace cloudhost::detail
