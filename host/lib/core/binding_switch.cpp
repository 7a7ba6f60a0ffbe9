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

std::shared_ptr<const BoundInstance> InstanceSetCore::rebind(const std::string &id) {
    // Counted and current while it lists: a swap cannot stop `target` under
    // the listing (it waits for in_flight() to drain).
    const BindingUse use = enter();
    const std::shared_ptr<Binding> &target = use.get();
    const std::lock_guard lock(rebind_mutex_);
    if (rebind_for_.lock() != target) {
        rebind_for_ = target;
        rebind_table_.clear();
    }
    auto found = rebind_table_.find(id);
    if (found == rebind_table_.end()) {
        // Created on the old binding while the swap was under way, or
        // listed after the health check: one listing serves every such id.
        rebind_table_ = list_bound_instances(target);
        found = rebind_table_.find(id);
        if (found == rebind_table_.end())
            throw DriverError("instance " + id + " is not listed by " +
                              target->library().info().name + " " +
                              target->library().info().version + " after a driver swap");
    }
    return found->second;
}

InstanceCore::InstanceCore(std::string_view id_in,
                           std::shared_ptr<const std::string> provider_type_in,
                           std::shared_ptr<InstanceSetCore> set_in,
                           std::shared_ptr<Binding> binding, ch_instance *handle)
    : id(id_in), provider_type(std::move(provider_type_in)), set(std::move(set_in)),
      bound(std::make_shared<const BoundInstance>(std::move(binding), handle)) {}

InstanceUse InstanceCore::use() const {
    for (;;) {
        auto current = bound.load();
        if (!set->is_current(current->binding.get())) {
            // Swapped away from: re-bind, and drop the old handle now rather
            // than at the next call, so an idle handle does not pin the old
            // library longer than needed.
            bound.store(set->rebind(id));
            continue;
        }
        InstanceUse use(std::move(current));
        // Counted first, checked after (as in InstanceSetCore::enter).
        if (set->is_current(&use.binding()))
            return use;
    }
}

} // namespace cloudhost::detail
