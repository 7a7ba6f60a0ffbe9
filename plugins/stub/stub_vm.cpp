#include "stub_vm.hpp"

#include <utility>

namespace cloudhost::stub {

StubVm::StubVm(uint64_t serial, std::string provider_type, sdk::Tags tags, TimePoint created_at,
               VmBehaviour behaviour)
    : serial_(serial), id_("inst" + std::to_string(serial) + "," + provider_type),
      provider_type_(std::move(provider_type)), created_at_(created_at),
      behaviour_(std::move(behaviour)), tags_(std::make_shared<const sdk::Tags>(std::move(tags))) {}

StubVm::StubVm(uint64_t serial, std::string provider_type, TimePoint created_at,
               VmBehaviour behaviour, std::shared_ptr<const sdk::Tags> tags,
               std::shared_ptr<const sdk::Tags> previous_tags, TimePoint tags_set_at)
    : serial_(serial), id_("inst" + std::to_string(serial) + "," + provider_type),
      provider_type_(std::move(provider_type)), created_at_(created_at),
      behaviour_(std::move(behaviour)), tags_(std::move(tags)),
      previous_tags_(std::move(previous_tags)), tags_set_at_(tags_set_at) {}

std::shared_ptr<const sdk::Tags> StubVm::visible_tags(TimePoint now) const {
    std::lock_guard lock(tags_mutex_);
    if (previous_visible(previous_tags_ != nullptr, tags_set_at_, behaviour_.stale_tags, now))
        return previous_tags_;
    return tags_;
}

void StubVm::set_tags(sdk::Tags tags, TimePoint now) {
    auto fresh = std::make_shared<const sdk::Tags>(std::move(tags));
    // Declared before the lock so that old tags are freed after unlocking.
    std::shared_ptr<const sdk::Tags> replaced_previous;
    std::shared_ptr<const sdk::Tags> replaced_current;
    std::lock_guard lock(tags_mutex_);
    if (behaviour_.stale_tags.count() > 0) {
        // What a reader saw just before this call stays visible while stale.
        const bool stale =
            previous_visible(previous_tags_ != nullptr, tags_set_at_, behaviour_.stale_tags, now);
        if (!stale)
            replaced_previous = std::exchange(previous_tags_, tags_);
    }
    tags_set_at_ = now;
    replaced_current = std::exchange(tags_, std::move(fresh));
}

} // namespace cloudhost::stub
