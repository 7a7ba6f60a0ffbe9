#include "stub_cloud.hpp"

#include <utility>

namespace cloudhost::stub {

std::shared_ptr<StubVm> MemoryCloud::add(std::string provider_type, sdk::Tags tags,
                                         TimePoint created_at, const VmBehaviour &behaviour,
                                         std::optional<uint64_t> quota) {
    std::lock_guard lock(mutex_);
    if (quota && vms_.size() >= *quota)
        throw sdk::QuotaError("stub: quota of " + std::to_string(*quota) + " instances reached");
    const uint64_t serial = ++last_serial_;
    auto vm = std::make_shared<StubVm>(serial, std::move(provider_type), std::move(tags),
                                       created_at, behaviour);
    vms_.emplace(serial, vm);
    return vm;
}

void MemoryCloud::top_up(const std::string &provider_type, uint64_t target,
                         const std::function<sdk::Tags(uint64_t)> &tags_of, TimePoint created_at,
                         const VmBehaviour &behaviour) {
    std::lock_guard lock(mutex_);
    uint64_t have = 0;
    for (const auto &[serial, vm] : vms_)
        have += vm->provider_type() == provider_type ? 1 : 0;
    for (uint64_t i = have; i < target; ++i) {
        const uint64_t serial = ++last_serial_;
        vms_.emplace(serial, std::make_shared<StubVm>(serial, provider_type, tags_of(i), created_at,
                                                      behaviour));
    }
}

void MemoryCloud::remove(uint64_t serial) {
    std::shared_ptr<StubVm> removed; // freed after unlocking
    std::lock_guard lock(mutex_);
    if (auto it = vms_.find(serial); it != vms_.end()) {
        removed = std::move(it->second);
        vms_.erase(it);
    }
}

std::size_t MemoryCloud::size() const {
    std::lock_guard lock(mutex_);
    return vms_.size();
}

std::vector<std::shared_ptr<StubVm>> MemoryCloud::snapshot(const VmBehaviour &) const {
    std::vector<std::shared_ptr<StubVm>> out;
    std::lock_guard lock(mutex_);
    out.reserve(vms_.size());
    for (const auto &[serial, vm] : vms_)
        out.push_back(vm);
    return out;
}

std::shared_ptr<const sdk::Tags> MemoryCloud::current_tags(const StubVm &vm, TimePoint now) const {
    return vm.visible_tags(now);
}

void MemoryCloud::set_tags(StubVm &vm, sdk::Tags tags, TimePoint now) {
    vm.set_tags(std::move(tags), now);
}

} // namespace cloudhost::stub
