// The hot path of every Instance call: which binding and driver handle to
// call through, re-binding by id after a hot swap.
#include "instance_core.hpp"

#include <optional>

namespace cloudhost::detail {

InstanceCore::InstanceCore(std::string_view id_in,
                           std::shared_ptr<const std::string> provider_type_in,
                           std::shared_ptr<InstanceSetCore> set_in,
                           std::shared_ptr<Binding> binding, InstanceRef ref)
    : id(id_in), provider_type(std::move(provider_type_in)), set(std::move(set_in)),
      bound(std::make_shared<const BoundInstance>(std::move(binding), ref)) {}

InstanceUse InstanceCore::use() const {
    for (;;) {
        // The hot path: one short lock, no reference counting. Counted
        // first, checked after (as in InstanceSetCore::enter).
        std::optional<InFlightCall> call;
        const BoundInstance *current = bound.visit([&](const auto &b) -> const BoundInstance * {
            call.emplace(*b->binding);
            return set->is_current(b->binding.get()) ? b.get() : nullptr;
        });
        if (current)
            return {*current, std::move(*call)};
        call.reset();
        // Swapped away from: re-bind, and hand the old handle to the set,
        // which releases it once no call uses its binding.
        set->retire(bound.exchange(set->rebind(id)));
    }
}

} // namespace cloudhost::detail
