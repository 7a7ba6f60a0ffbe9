// What an Instance handle refers to. Deliberately small (a listing may hold
// 100,000 of these): the id, the provider type, the driver handle and the
// binding it belongs to. Tags are fetched live from the driver.
#pragma once

#include "binding.hpp"
#include "bound_instance.hpp"
#include "instance_set_core.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace cloudhost::detail {

// The (binding, handle) one driver call on an instance uses, held for the
// call's duration.
class InstanceUse {
  public:
    InstanceUse(std::shared_ptr<const BoundInstance> keep, const BoundInstance &bound,
                BindingUse guard) noexcept
        : keep_(std::move(keep)), bound_(&bound), guard_(std::move(guard)) {}

    const ch_driver_v1 &table() const noexcept { return bound_->binding->table(); }
    ch_instance *handle() const noexcept { return bound_->handle; }

  private:
    std::shared_ptr<const BoundInstance> keep_; // set when re-bound after a swap
    const BoundInstance *bound_;
    BindingUse guard_;
};

struct InstanceCore {
    // Takes over the host's reference to `handle` (driver.h rule 4).
    InstanceCore(std::string_view id, std::string_view provider_type,
                 std::shared_ptr<InstanceSetCore> set, std::shared_ptr<Binding> binding,
                 ch_instance *handle)
        : id(id), provider_type(provider_type), set(std::move(set)),
          first(std::move(binding), handle) {}
    InstanceCore(const InstanceCore &) = delete;
    InstanceCore &operator=(const InstanceCore &) = delete;

    // The binding to call through: the set's current one. After a hot swap
    // the handle re-binds by id (InstanceSetCore::rebind); throws
    // DriverError when the current driver version does not list the id.
    InstanceUse use() const;

    const std::string id;
    const std::string provider_type;
    const std::shared_ptr<InstanceSetCore> set; // wrappers shared with the set
    const BoundInstance first;                  // the handle it was created with
    // Null until a hot swap re-binds it; then the handle of a newer binding.
    mutable std::atomic<std::shared_ptr<const BoundInstance>> rebound;
};

} // namespace cloudhost::detail
