// The VMs of one stub cloud, shared by every InstanceSet configured with the
// same `cloud` name in this copy of the driver.
#pragma once

#include "stub_vm.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost::stub {

class StubCloud {
  public:
    // Registers a new VM with the next serial. Throws QuotaError when the
    // cloud already holds `quota` VMs (checked and added atomically).
    std::shared_ptr<StubVm> add(std::string provider_type, sdk::Tags tags,
                                StubVm::TimePoint created_at, const VmBehaviour &behaviour,
                                std::optional<uint64_t> quota);
    // Adds VMs of `provider_type` until the cloud holds `target` of them;
    // `tags_of(i)` gives the tags of the i-th (0-based) one.
    void top_up(const std::string &provider_type, uint64_t target,
                const std::function<sdk::Tags(uint64_t)> &tags_of, StubVm::TimePoint created_at,
                const VmBehaviour &behaviour);
    // Idempotent: destroying a destroyed VM is not an error (as in Arvados).
    void remove(uint64_t serial);

    std::size_t size() const;
    // Every VM, oldest first.
    std::vector<std::shared_ptr<StubVm>> snapshot() const;

  private:
    mutable std::mutex mutex_;
    uint64_t last_serial_ = 0;
    std::map<uint64_t, std::shared_ptr<StubVm>> vms_;
};

// The cloud named `name` in this copy of the driver, created on first use.
// Clouds live until the driver is unloaded, like a real cloud outlives the
// dispatcher's InstanceSet.
std::shared_ptr<StubCloud> cloud_named(const std::string &name);

} // namespace cloudhost::stub
