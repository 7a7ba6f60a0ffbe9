// One host reference to a driver instance, tied to the binding that handed it
// out. An InstanceCore starts with the one it was created with and, after a
// hot swap, re-binds by id to one handed out by the new binding.
#pragma once

#include "binding.hpp"

#include <memory>
#include <string>
#include <unordered_map>

namespace cloudhost::detail {

struct BoundInstance {
    // Takes over the host's reference `ref` (driver.h rule 4).
    BoundInstance(std::shared_ptr<Binding> binding, InstanceRef ref) noexcept
        : binding(std::move(binding)), ref(ref) {}
    // Released through the endpoint, which defers it while a driver call of
    // that endpoint runs on this thread.
    ~BoundInstance() { binding->endpoint().release(ref); }
    BoundInstance(const BoundInstance &) = delete;
    BoundInstance &operator=(const BoundInstance &) = delete;

    const std::shared_ptr<Binding> binding;
    const InstanceRef ref;
};

// Instance id → reference, as one unfiltered listing of a binding saw them.
using BoundInstances = std::unordered_map<std::string, std::shared_ptr<const BoundInstance>>;

// Lists every instance of `binding` straight from the driver (no wrappers):
// the hot swap's health check and the re-binding table. An id listed twice
// keeps its first reference (the other is released once the listing has
// returned). Throws the mapped DriverError.
BoundInstances list_bound_instances(const std::shared_ptr<Binding> &binding);

} // namespace cloudhost::detail
