// What an Instance handle refers to. Deliberately small (a listing may hold
// 100,000 of these): the id, the provider type, the driver handle and the
// binding it belongs to. Tags are fetched live from the driver.
#pragma once

#include "binding.hpp"
#include "instance_set_core.hpp"

#include <memory>
#include <string>

namespace cloudhost::detail {

struct InstanceCore {
    // Takes over the host's reference to `handle` (driver.h rule 4).
    InstanceCore(std::string_view id, std::string_view provider_type,
                 std::shared_ptr<InstanceSetCore> set, std::shared_ptr<Binding> binding,
                 ch_instance *handle)
        : id(id), provider_type(provider_type), set(std::move(set)), binding(std::move(binding)),
          handle(handle) {}
    ~InstanceCore() { binding->table().instance_release(handle); }
    InstanceCore(const InstanceCore &) = delete;
    InstanceCore &operator=(const InstanceCore &) = delete;

    const std::string id;
    const std::string provider_type;
    const std::shared_ptr<InstanceSetCore> set; // wrappers shared with the set
    // The binding the handle was created under. A hot swap re-binds by id:
    // it will replace (binding, handle) together under a lock; today both are
    // fixed for the core's life, so calls read them without one.
    std::shared_ptr<Binding> binding;
    ch_instance *handle;
};

} // namespace cloudhost::detail
