// The stub's InstanceSet: Create/Instances/InstanceQuotaGroup/Stop with the
// faults its config asks for, over the VMs of its cloud.
#pragma once

#include "fault_schedule.hpp"
#include "set_context.hpp"
#include "stub_instance.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace cloudhost::stub {

class StubInstanceSet final : public sdk::InstanceSet {
  public:
    // Throws InvalidConfigError for a bad config.
    explicit StubInstanceSet(const sdk::InstanceSetArgs &args);

    std::shared_ptr<sdk::Instance> create(const sdk::InstanceType &type,
                                          const std::string &image_id, const sdk::Tags &tags,
                                          const std::string &init_command,
                                          const std::optional<std::string> &public_key) override;
    std::vector<std::shared_ptr<sdk::Instance>> instances(const sdk::Tags &filter) override;
    std::string instance_quota_group(const sdk::InstanceType &type) override;
    void stop() override;

  private:
    void check_create_allowed(const sdk::InstanceType &type, sdk::Clock::time_point now);
    void populate_for_bench(sdk::Clock::time_point now);
    // The one handle of `vm` this set hands out, made on first use.
    // Requires views_mutex_.
    std::shared_ptr<StubInstance> view_of_locked(const std::shared_ptr<StubVm> &vm);
    void forget_destroyed_views_locked(const std::vector<std::shared_ptr<StubVm>> &live);

    const std::shared_ptr<SetContext> context_;
    const VmBehaviour vm_behaviour_;
    const sdk::Clock::time_point started_at_;

    std::mutex create_mutex_; // orders the Create checks (as Arvados's single lock)
    CallSpacing create_spacing_;
    CallSpacing instances_spacing_;

    // Handles are reused across Instances() calls: listing 100,000 in-memory
    // VMs makes no per-call allocation for them.
    std::mutex views_mutex_;
    std::unordered_map<uint64_t, std::shared_ptr<StubInstance>> views_;
};

} // namespace cloudhost::stub
