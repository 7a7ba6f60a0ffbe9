#include "bound_instance.hpp"

#include "abi_convert.hpp"
#include "abi_errors.hpp"

#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

namespace {

struct BoundCollector {
    std::shared_ptr<Binding> binding;
    BoundInstances instances;
    bool failed = false;

    static void put(void *ctx, ch_instance *handle, const ch_instance_desc *desc) noexcept {
        if (handle)
            static_cast<BoundCollector *>(ctx)->adopt(handle, desc);
    }

    void adopt(ch_instance *handle, const ch_instance_desc *desc) noexcept {
        std::shared_ptr<const BoundInstance> bound;
        try {
            bound = std::make_shared<const BoundInstance>(binding, handle);
        } catch (...) {
            failed = true;
            binding->table().instance_release(handle); // never taken over
            return;
        }
        if (!desc || !CH_HAS_MEMBER(desc, ch_instance_desc, provider_type))
            return; // no id: cannot be re-bound to; `bound` releases it
        try {
            instances.insert_or_assign(std::string(to_view(desc->id)), std::move(bound));
        } catch (...) {
            failed = true;
        }
    }
};

} // namespace

BoundInstances list_bound_instances(const std::shared_ptr<Binding> &binding) {
    BoundCollector collector{binding, {}, false};
    const ch_instance_sink sink{&collector, &BoundCollector::put};
    ErrorRecord error;
    check(binding->table().instances(binding->set(), ch_tags{}, &sink, error.get()), error.c,
          "instances");
    if (collector.failed)
        throw DriverError("instances: out of memory while copying instances");
    return std::move(collector.instances);
}

} // namespace cloudhost::detail
