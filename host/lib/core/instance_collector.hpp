// The ch_instance_sink the host passes to create and instances: wraps each
// handle the driver hands over in an InstanceCore (taking over its
// reference), or releases it at once when it does not match the filter.
#pragma once

#include "instance_core.hpp"

#include "cloudhost/instance.hpp"

#include <memory>
#include <vector>

namespace cloudhost::detail {

class InstanceCollector {
  public:
    // `filter` null: keep everything.
    InstanceCollector(std::shared_ptr<InstanceSetCore> set, std::shared_ptr<Binding> binding,
                      const Tags *filter)
        : set_(std::move(set)), binding_(std::move(binding)), filter_(filter) {}

    ch_instance_sink sink() noexcept { return {this, &put}; }

    std::vector<Instance> &instances() noexcept { return instances_; }
    std::size_t skipped() const noexcept { return skipped_; }
    // Throws DriverError if copying a handed-over instance failed.
    void check(std::string_view operation) const;

  private:
    static void put(void *ctx, ch_instance *handle, const ch_instance_desc *desc) noexcept;
    void adopt(ch_instance *handle, const ch_instance_desc *desc) noexcept;

    std::shared_ptr<InstanceSetCore> set_;
    std::shared_ptr<Binding> binding_;
    const Tags *filter_;
    std::shared_ptr<const std::string> provider_type_; // the last one seen, shared
    std::vector<Instance> instances_;
    std::size_t skipped_ = 0;
    bool failed_ = false;
};

// True when `tags` holds every key=value pair of `filter`.
bool matches_filter(const ch_tags &tags, const Tags &filter) noexcept;

} // namespace cloudhost::detail
