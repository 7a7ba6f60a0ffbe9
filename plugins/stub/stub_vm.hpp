// One VM of a stub cloud: the cloud-side state that every InstanceSet of
// that cloud sees (tags, boot and break times).
#pragma once

#include "cloudhost/driver_sdk.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace cloudhost::stub {

// Properties a VM takes from a set's config: for an in-memory VM the set that
// created it, for a file-backed one (state_dir) the set that reads it.
struct VmBehaviour {
    std::chrono::milliseconds boot_delay{0};
    std::optional<std::chrono::milliseconds> break_after;
    std::chrono::milliseconds list_lag{0};
    std::chrono::milliseconds stale_tags{0};
    uint16_t ssh_port = 22;
    std::optional<std::string> host_key;
};

class StubVm {
  public:
    using TimePoint = sdk::Clock::time_point;

    StubVm(uint64_t serial, std::string provider_type, sdk::Tags tags, TimePoint created_at,
           VmBehaviour behaviour);
    // A VM read back from storage: its tags, the ones before the last SetTags
    // (null if none) and when they were set.
    StubVm(uint64_t serial, std::string provider_type, TimePoint created_at, VmBehaviour behaviour,
           std::shared_ptr<const sdk::Tags> tags, std::shared_ptr<const sdk::Tags> previous_tags,
           TimePoint tags_set_at);

    uint64_t serial() const noexcept { return serial_; }
    const std::string &id() const noexcept { return id_; }
    const std::string &provider_type() const noexcept { return provider_type_; }
    TimePoint created_at() const noexcept { return created_at_; }
    const VmBehaviour &behaviour() const noexcept { return behaviour_; }

    bool booting(TimePoint now) const noexcept { return now < created_at_ + behaviour_.boot_delay; }
    bool broken(TimePoint now) const noexcept {
        return behaviour_.break_after && now >= created_at_ + *behaviour_.break_after;
    }
    // False during the list lag right after Create.
    bool listed(TimePoint now) const noexcept { return now >= created_at_ + behaviour_.list_lag; }

    // The tags Tags() reports at `now`: the previous ones while stale. Shared,
    // never copied here: callers that list many VMs pay one atomic increment.
    std::shared_ptr<const sdk::Tags> visible_tags(TimePoint now) const;
    void set_tags(sdk::Tags tags, TimePoint now);

    // True while a reader with `stale_tags` still sees the tags from before
    // a SetTags made at `set_at`. Never without stale tags, whatever `now`
    // (tags_snapshot() passes no time then).
    static bool previous_visible(bool has_previous, TimePoint set_at,
                                 std::chrono::milliseconds stale_tags, TimePoint now) noexcept {
        return has_previous && stale_tags.count() > 0 && now < set_at + stale_tags;
    }

  private:
    const uint64_t serial_;
    const std::string id_;
    const std::string provider_type_;
    const TimePoint created_at_;
    const VmBehaviour behaviour_;

    mutable std::mutex tags_mutex_;
    std::shared_ptr<const sdk::Tags> tags_;
    std::shared_ptr<const sdk::Tags> previous_tags_; // visible until tags_set_at_ + stale_tags
    TimePoint tags_set_at_{};
};

} // namespace cloudhost::stub
