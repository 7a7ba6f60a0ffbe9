// Switching an InstanceSetCore to another binding (hot swap) and re-binding
// instance handles to it by id.
#include "instance_core.hpp"
#include "instance_set_core.hpp"

#include "cloudhost/errors.hpp"

#include <vector>

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
    metrics.use_version(next_raw->library().info().version);
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

void InstanceSetCore::retire(std::shared_ptr<const BoundInstance> old) {
    std::vector<std::shared_ptr<const BoundInstance>> drained;
    {
        const std::lock_guard lock(retired_mutex_);
        if (old)
            retired_.push_back(std::move(old));
        take_drained(drained);
    }
    // Released outside the lock: the last one may unload a library.
}

void InstanceSetCore::release_drained() {
    retire(nullptr);
}

void InstanceSetCore::take_drained(std::vector<std::shared_ptr<const BoundInstance>> &out) {
    // A retired handle is reachable only by calls counted on its binding
    // before it was retired (it left its InstanceCore under that core's
    // lock), and its binding never becomes current again.
    std::erase_if(retired_, [&](std::shared_ptr<const BoundInstance> &bound) {
        if (is_current(bound->binding.get()) || bound->binding->in_flight() > 0)
            return false;
        out.push_back(std::move(bound));
        return true;
    });
}

} // namespace cloudhost::detail
