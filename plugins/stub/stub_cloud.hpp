// The VMs of one stub cloud, shared by every InstanceSet configured with the
// same cloud. Two storage backends sit behind one interface: MemoryCloud
// (the default: the cloud lives inside this loaded copy of the driver) and
// FileCloud (file_cloud.hpp: `state_dir`, one file per VM, shared by every
// loaded copy and process, as a real cloud's API is).
#pragma once

#include "stub_config.hpp"
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
    using TimePoint = StubVm::TimePoint;

    virtual ~StubCloud() = default;

    // Registers a new VM with the next serial. Throws QuotaError when the
    // cloud already holds `quota` VMs (checked and added atomically).
    virtual std::shared_ptr<StubVm> add(std::string provider_type, sdk::Tags tags,
                                        TimePoint created_at, const VmBehaviour &behaviour,
                                        std::optional<uint64_t> quota) = 0;
    // Adds VMs of `provider_type` until the cloud holds `target` of them;
    // `tags_of(i)` gives the tags of the i-th (0-based) one.
    virtual void top_up(const std::string &provider_type, uint64_t target,
                        const std::function<sdk::Tags(uint64_t)> &tags_of, TimePoint created_at,
                        const VmBehaviour &behaviour) = 0;
    // Idempotent: destroying a destroyed VM is not an error (as in Arvados).
    virtual void remove(uint64_t serial) = 0;

    virtual std::size_t size() const = 0;
    // Every VM, oldest first. `reader` is the VM behaviour of the listing
    // set; only FileCloud uses it (a MemoryCloud VM keeps its creator's).
    virtual std::vector<std::shared_ptr<StubVm>> snapshot(const VmBehaviour &reader) const = 0;

    // What the host's Tags call answers for `vm` at `now`.
    virtual std::shared_ptr<const sdk::Tags> current_tags(const StubVm &vm,
                                                          TimePoint now) const = 0;
    // SetTags. Tags of a destroyed VM change only in the caller's handle.
    virtual void set_tags(StubVm &vm, sdk::Tags tags, TimePoint now) = 0;
};

// The default backend: VMs in this copy's memory, each with the behaviour of
// the set that created it. Listing 100,000 VMs copies pointers only.
class MemoryCloud final : public StubCloud {
  public:
    std::shared_ptr<StubVm> add(std::string provider_type, sdk::Tags tags, TimePoint created_at,
                                const VmBehaviour &behaviour,
                                std::optional<uint64_t> quota) override;
    void top_up(const std::string &provider_type, uint64_t target,
                const std::function<sdk::Tags(uint64_t)> &tags_of, TimePoint created_at,
                const VmBehaviour &behaviour) override;
    void remove(uint64_t serial) override;
    std::size_t size() const override;
    std::vector<std::shared_ptr<StubVm>> snapshot(const VmBehaviour &reader) const override;
    std::shared_ptr<const sdk::Tags> current_tags(const StubVm &vm, TimePoint now) const override;
    void set_tags(StubVm &vm, sdk::Tags tags, TimePoint now) override;

  private:
    mutable std::mutex mutex_;
    uint64_t last_serial_ = 0;
    std::map<uint64_t, std::shared_ptr<StubVm>> vms_;
};

// The cloud a set with `config` uses: with `state_dir`, a FileCloud on
// `<state_dir>/<cloud>` (throws InvalidConfigError naming "state_dir" when it
// cannot be created); otherwise the MemoryCloud named `cloud` in this copy of
// the driver, created on first use and living until the driver is unloaded,
// as a real cloud outlives the dispatcher's InstanceSet.
std::shared_ptr<StubCloud> open_cloud(const StubConfig &config);

} // namespace cloudhost::stub
