// Switching an InstanceSetCore to another binding (hot swap) and re-binding
// instance handles to it by id.
#include "instance_core.hpp"
#include "instance_set_core.hpp"

#include "cloudhost/errors.hpp"

#include <spdlog/spdlog.h>

namespace cloudhost::detail {

BindingUse InstanceSetCore::enter() const {
    // Counted first, checked after: a swap that read in_flight() == 0 after
    // making another binding current makes this check fail, so no call can
    // slip onto a binding the swap is about to stop.
    for (;;) {
        BindingUse use(binding_.load());
        if (is_current(use.get().get()))
            return use;
    }
}

std::shared_ptr<Binding> InstanceSetCore::swap_binding(std::shared_ptr<Binding> next,
                                                       BoundInstances listed) {
    const std::lock_guard swap_lock(swap_mutex_);
    {
        const std::lock_guard lock(rebind_mutex_);
        rebind_for_ = next;
        rebind_table_ = std::move(listed);
    }
    const Binding *next_raw = next.get();
    auto previous = binding_.exchange(std::move(next));
    current_.store(next_raw);
    return previous;
}

std::shared_ptr<const BoundInstance>
InstanceSetCore::rebind(const std::string &id, const std::shared_ptr<Binding> &target) {
    const std::lock_guard lock(rebind_mutex_);
    if (rebind_for_.lock() != target) {
        rebind_for_ = target;
        rebind_table_.clear();
    }
    auto found = rebind_table_.find(id);
    if (found == rebind_table_.end()) {
        // Created on the old binding while the swap was under way, or
        // listed after the health check: one listing serves every such id.
        BindingUse use(target);
        rebind_table_ = list_bound_instances(target);
        found = rebind_table_.find(id);
        if (found == rebind_table_.end())
            throw DriverError("instance " + id + " is not listed by " +
                              target->library().info().name + " " +
                              target->library().info().version + " after a driver swap");
    }
    return found->second;
}

InstanceUse InstanceCore::use() const {
    for (;;) {
        if (set->is_current(first.binding.get())) {
            // Never swapped away from (the common case): no extra refcount.
            BindingUse guard(first.binding);
            if (set->is_current(first.binding.get()))
                return {nullptr, first, std::move(guard)};
            continue;
        }
        auto bound = rebound.load();
        if (!bound || !set->is_current(bound->binding.get())) {
            bound = set->rebind(id, set->snapshot());
            rebound.store(bound);
        }
        BindingUse guard(bound->binding);
        if (set->is_current(bound->binding.get())) {
            const BoundInstance &ref = *bound;
            return {std::move(bound), ref, std::move(guard)};
        }
    }
}

} // namespace cloudhost::detail
