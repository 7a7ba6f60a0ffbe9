// The visitor the host passes to create and instances: wraps each instance
// the driver hands over in an InstanceCore (taking over its reference), or
// leaves it to the endpoint to release when it does not match the filter.
#pragma once

#include "instance_core.hpp"

#include "cloudhost/instance.hpp"

#include <memory>
#include <vector>

namespace cloudhost::detail {

class InstanceCollector final : public InstanceVisitor {
  public:
    // `filter` null or empty: keep everything.
    InstanceCollector(std::shared_ptr<InstanceSetCore> set, std::shared_ptr<Binding> binding,
                      const Tags *filter)
        : set_(std::move(set)), binding_(std::move(binding)),
          filter_(filter && !filter->empty() ? filter : nullptr) {}

    bool take(InstanceRef ref, const InstanceDescView &desc) noexcept override;
    bool needs_tags() const noexcept override { return filter_ != nullptr; }

    std::vector<Instance> &instances() noexcept { return instances_; }
    std::size_t skipped() const noexcept { return skipped_; }
    // Throws DriverError if copying a handed-over instance failed.
    void check(std::string_view operation) const;

  private:
    std::shared_ptr<InstanceSetCore> set_;
    std::shared_ptr<Binding> binding_;
    const Tags *filter_;
    std::shared_ptr<const std::string> provider_type_; // the last one seen, shared
    std::vector<Instance> instances_;
    std::size_t skipped_ = 0;
    bool failed_ = false;
};

// True when `tags` holds every key=value pair of `filter`.
bool matches_filter(const std::vector<std::pair<std::string_view, std::string_view>> &tags,
                    const Tags &filter) noexcept;

} // namespace cloudhost::detail
