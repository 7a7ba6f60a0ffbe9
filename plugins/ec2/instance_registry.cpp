#include "instance_registry.hpp"

namespace cloudhost::ec2 {

void InstanceState::update(InstanceData data) {
    std::lock_guard lock(mutex_);
    if (data.private_ip.empty())
        data.private_ip = data_.private_ip;
    if (data.availability_zone.empty())
        data.availability_zone = data_.availability_zone;
    data.spot = data.spot || data_.spot;
    data_ = std::move(data);
}

void InstanceState::merge_tags(const sdk::Tags &tags) {
    std::lock_guard lock(mutex_);
    auto merged = std::make_shared<sdk::Tags>(*data_.tags);
    for (const auto &[key, value] : tags)
        (*merged)[key] = value;
    data_.tags = std::move(merged);
}

bool InstanceState::claim_refresh(std::chrono::steady_clock::duration interval) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (now - last_refresh_ < interval)
        return false;
    last_refresh_ = now;
    return true;
}

std::shared_ptr<InstanceState> InstanceRegistry::record(InstanceData data) {
    std::lock_guard lock(mutex_);
    // Drop entries of instances nobody holds any more, now and then.
    if (++records_since_sweep_ > 2 * states_.size() + 1024) {
        std::erase_if(states_, [](const auto &entry) { return entry.second.expired(); });
        records_since_sweep_ = 0;
    }
    auto &slot = states_[data.id];
    if (auto existing = slot.lock()) {
        existing->update(std::move(data));
        return existing;
    }
    auto state = std::make_shared<InstanceState>(std::move(data));
    slot = state;
    return state;
}

std::shared_ptr<InstanceState> InstanceRegistry::record_created(InstanceData data) {
    const std::string id = data.id;
    auto state = record(std::move(data));
    std::lock_guard lock(mutex_);
    created_[id] = Created{state, std::chrono::steady_clock::now()};
    return state;
}

std::vector<std::shared_ptr<InstanceState>>
InstanceRegistry::unlisted_creates(const std::set<std::string> &listed_ids,
                                   const sdk::Tags &filter) {
    std::vector<std::shared_ptr<InstanceState>> missing;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    for (auto it = created_.begin(); it != created_.end();) {
        if (listed_ids.count(it->first) || now - it->second.when > create_grace) {
            it = created_.erase(it);
            continue;
        }
        const InstanceData data = it->second.state->get();
        bool matches = true;
        for (const auto &[key, value] : filter) {
            const auto tag = data.tags->find(key);
            matches = matches && tag != data.tags->end() && tag->second == value;
        }
        if (matches)
            missing.push_back(it->second.state);
        ++it;
    }
    return missing;
}

void InstanceRegistry::forget_created(const std::string &id) {
    std::lock_guard lock(mutex_);
    created_.erase(id);
}

} // namespace cloudhost::ec2
