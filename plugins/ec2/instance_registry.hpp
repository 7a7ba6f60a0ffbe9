// What the driver knows about each instance, shared by every handle of the
// same id: the host keeps early handles (an SSH executor made while the
// instance booted) and expects them to see the address once a later listing
// has it. Also remembers fresh creates, so that the very next Instances()
// answer holds them even while DescribeInstances lags (it is eventually
// consistent).
#pragma once

#include "cloudhost/driver_sdk.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace cloudhost::ec2 {

// One instance as a listing (or RunInstances) described it.
struct InstanceData {
    std::string id;
    std::string instance_type;
    std::string private_ip;
    std::string state;
    std::string availability_zone;
    bool spot = false;
    std::shared_ptr<const sdk::Tags> tags = std::make_shared<const sdk::Tags>();
};

class InstanceState {
  public:
    explicit InstanceState(InstanceData data) : data_(std::move(data)) {}
    InstanceData get() const {
        std::lock_guard lock(mutex_);
        return data_;
    }
    // A newer listing; keeps what it lacks (an address not known yet).
    void update(InstanceData data);
    // After SetTags: the listing would show them merged.
    void merge_tags(const sdk::Tags &tags);
    // True at most once per `interval`: whether this caller may ask the
    // cloud for the instance again (its address is not known yet).
    bool claim_refresh(std::chrono::steady_clock::duration interval);

  private:
    mutable std::mutex mutex_;
    InstanceData data_;
    std::chrono::steady_clock::time_point last_refresh_{};
};

class InstanceRegistry {
  public:
    static constexpr std::chrono::minutes create_grace{5};

    // The state of data.id, updated with `data` (or new).
    std::shared_ptr<InstanceState> record(InstanceData data);
    // A successful RunInstances: listed until a listing shows it (or grace ends).
    std::shared_ptr<InstanceState> record_created(InstanceData data);
    // Fresh creates missing from a complete listing that saw `listed_ids`,
    // whose tags match `filter`.
    std::vector<std::shared_ptr<InstanceState>>
    unlisted_creates(const std::set<std::string> &listed_ids, const sdk::Tags &filter);
    void forget_created(const std::string &id);

  private:
    std::mutex mutex_;
    std::unordered_map<std::string, std::weak_ptr<InstanceState>> states_;
    struct Created {
        std::shared_ptr<InstanceState> state;
        std::chrono::steady_clock::time_point when;
    };
    std::map<std::string, Created> created_;
    std::size_t records_since_sweep_ = 0;
};

} // namespace cloudhost::ec2
