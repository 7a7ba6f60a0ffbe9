// What an Instance handle refers to. Deliberately small (a listing may hold
// 100,000 of these): the id, the provider type, the driver reference and the
// binding it belongs to. Tags are fetched live from the driver.
#pragma once

#include "binding.hpp"
#include "bound_instance.hpp"
#include "guarded_shared_ptr.hpp"
#include "instance_set_core.hpp"

#include <memory>
#include <string>

namespace cloudhost::detail {

// The (binding, handle) one driver call on an instance uses, held for the
// call's duration.
// `bound` stays alive while the call is counted: a handle re-bound away from
// is retired, and freed only once its binding has no call in flight
// (InstanceSetCore::retire).
class InstanceUse {
  public:
    InstanceUse(const BoundInstance &bound, InFlightCall call) noexcept
        : bound_(&bound), call_(std::move(call)) {}

    DriverEndpoint &endpoint() const noexcept { return bound_->binding->endpoint(); }
    InstanceRef ref() const noexcept { return bound_->ref; }

  private:
    const BoundInstance *bound_;
    InFlightCall call_;
};

struct InstanceCore {
    // Takes over the host's reference `ref` (driver.h rule 4).
    InstanceCore(std::string_view id, std::shared_ptr<const std::string> provider_type,
                 std::shared_ptr<InstanceSetCore> set, std::shared_ptr<Binding> binding,
                 InstanceRef ref);
    InstanceCore(const InstanceCore &) = delete;
    InstanceCore &operator=(const InstanceCore &) = delete;

    // The binding to call through: the set's current one. After a hot swap
    // the handle re-binds by id (InstanceSetCore::rebind) and lets go of the
    // old binding's handle, so the old library can unload; throws
    // DriverError when the current driver version does not list the id.
    InstanceUse use() const;

    const std::string id;
    // Shared by the instances of one listing that have the same type (a
    // 100,000-instance listing usually has a handful of types).
    const std::shared_ptr<const std::string> provider_type;
    const std::shared_ptr<InstanceSetCore> set; // wrappers shared with the set
    // The handle it was created with, then the one of each newer binding.
    mutable GuardedSharedPtr<const BoundInstance> bound;
};

} // namespace cloudhost::detail
