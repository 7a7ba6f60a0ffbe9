// The `state_dir` backend: a stub cloud kept in a directory, one file per VM,
// so that every loaded copy of the stub (two versions side by side during a
// hot swap) and every process sees the same cloud, as a real cloud's API
// does.
//
// Layout of `<state_dir>/<cloud>/`:
//   <serial>.json   one VM: {"id", "serial", "provider_type",
//                   "created_at_unix_ns", "tags", "tags_set_at_unix_ns",
//                   "previous_tags" (only after a SetTags)}
//   .lock           flock()ed exclusively around every change, so serials,
//                   the quota and SetTags-versus-Destroy are atomic across
//                   threads, copies and processes
//   .last_serial    the last serial handed out (serials are never reused)
// Every file is written to a temporary name and renamed into place, so a
// reader (Instances, Tags: no lock) never sees a partial file.
#pragma once

#include "stub_cloud.hpp"

#include <filesystem>

namespace cloudhost::stub {

class FileCloud final : public StubCloud {
  public:
    // Creates `dir` (and its parents) and its lock file. Throws
    // InvalidConfigError naming "state_dir" when it cannot.
    explicit FileCloud(std::filesystem::path dir);

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

    struct Record {
        uint64_t serial = 0;
        std::string provider_type;
        TimePoint created_at{};
        std::shared_ptr<const sdk::Tags> tags;
        std::shared_ptr<const sdk::Tags> previous_tags; // null until the first SetTags
        TimePoint tags_set_at{};
    };

  private:
    std::filesystem::path vm_path(uint64_t serial) const;
    // Serials of the VMs on disk, ascending.
    std::vector<uint64_t> serials() const;
    // Null when the VM is gone (destroyed, possibly just now).
    std::optional<Record> read_record(uint64_t serial) const;
    // Callers hold the lock.
    void write_record_locked(const Record &record) const;
    uint64_t allocate_serial_locked() const;

    const std::filesystem::path dir_;
};

} // namespace cloudhost::stub
