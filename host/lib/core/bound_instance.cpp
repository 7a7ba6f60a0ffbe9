#include "bound_instance.hpp"

#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

namespace {

class BoundCollector final : public InstanceVisitor {
  public:
    explicit BoundCollector(const std::shared_ptr<Binding> &binding) : binding_(binding) {}

    bool take(InstanceRef ref, const InstanceDescView &desc) noexcept override {
        try {
            auto [slot, inserted] = instances_.try_emplace(std::string(desc.id));
            if (!inserted)
                return false; // a duplicate id: the endpoint releases it
            try {
                slot->second = std::make_shared<const BoundInstance>(binding_, ref);
            } catch (...) {
                instances_.erase(slot);
                throw;
            }
            return true;
        } catch (...) {
            failed_ = true;
            return false;
        }
    }
    bool needs_tags() const noexcept override { return false; }

    BoundInstances take_all(std::string_view operation) {
        if (failed_)
            throw DriverError(std::string(operation) + ": out of memory while copying instances");
        return std::move(instances_);
    }

  private:
    const std::shared_ptr<Binding> &binding_;
    BoundInstances instances_;
    bool failed_ = false;
};

} // namespace

BoundInstances list_bound_instances(const std::shared_ptr<Binding> &binding) {
    BoundCollector collector(binding);
    binding->endpoint().instances({}, collector);
    return collector.take_all("instances");
}

} // namespace cloudhost::detail
