// Hot swapping driver versions under a live InstanceSet.
//
// A HotSwappableInstanceSet keeps one InstanceSet handle valid while the
// driver behind it moves between versions. The active version is the
// highest one in the catalog allowed by the version constraint; when that
// choice changes (sync(), or the inotify watcher), the new version is loaded
// from its own private copy, initialised with the current config (the one
// opened with, or the last reload's), InstanceSetID, SharedResourceTags and
// logger, and health-checked: it must list the
// instances the active version lists. Then new calls go to it, calls in
// flight finish on the old version, the old set is stopped and its library
// unloaded when nothing refers to it any more. Instance handles re-bind by
// id on their next call; rate-limit state carries over. Any failure keeps
// the old version serving and says why in an event.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/catalog.hpp"
#include "cloudhost/instance_set.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace cloudhost {

enum class SwapEventKind {
    found,               // a driver file appeared (or changed)
    rejected,            // the catalog refused a file (reason)
    loaded,              // a version was loaded and is about to be checked
    load_failed,         // loading or initialising a version failed (reason)
    health_check_failed, // the new version failed Instances or listed other ids
    swapped,             // new calls now go to `version` (was `from_version`)
    kept,                // the active file is gone and nothing may replace it
    unloaded,            // a retired version's library is no longer mapped
    unload_failed,       // ... it is still mapped although nothing refers to it
    reloaded,            // new calls now go to `version` with the new config
    reload_failed,       // a new config was refused; the running one serves (reason)
    // Isolated drivers (host/lib/isolation): the helper process died (reason:
    // signal or exit status), a new one serves calls, or crashes came so fast
    // that restarts stopped until the back-off expires.
    driver_crashed,
    driver_restarted,
    driver_down,
};
CLOUDHOST_API const char *swap_event_name(SwapEventKind kind) noexcept;

struct CLOUDHOST_API SwapEvent {
    SwapEventKind kind;
    std::string driver;
    std::string version;
    std::string from_version;      // swapped
    std::filesystem::path file;    // the file in the driver directory
    std::filesystem::path library; // the private copy that is (was) loaded
    std::string reason;            // why, for refusals and warnings
};

struct CLOUDHOST_API HotSwapOptions {
    std::string driver_name;
    std::string version_constraint; // the config's driver_version; "" = any
    // Called for every event: swap events one at a time from the thread
    // that syncs (the caller of sync() or the watcher); an isolated
    // driver's driver_crashed/driver_restarted/driver_down from the thread
    // that saw its helper end, possibly at the same time. Must not call
    // sync().
    std::function<void(const SwapEvent &)> on_event;
    // How long a swap waits for calls in flight on the old version before
    // stopping it anyway.
    std::chrono::milliseconds drain_timeout{std::chrono::seconds(60)};
};

class CLOUDHOST_API HotSwappableInstanceSet {
  public:
    // Loads the highest allowed version (Catalog::load) and opens the set
    // (InstanceSet::open); throws as they do. Uses its own Catalog over
    // `catalog`'s options.
    HotSwappableInstanceSet(const Catalog &catalog, InstanceSetOptions set_options,
                            HotSwapOptions options);
    ~HotSwappableInstanceSet();
    HotSwappableInstanceSet(const HotSwappableInstanceSet &) = delete;
    HotSwappableInstanceSet &operator=(const HotSwappableInstanceSet &) = delete;

    // The handle callers use; valid across swaps, and after this object.
    InstanceSet instance_set() const;
    DriverInfo active() const;

    // Rescans the catalog and swaps if the active choice changed; also
    // reports retired versions that have unloaded. True if it swapped.
    bool sync();
    // Swaps to `library` if it initialises and passes the health check.
    bool swap_to(std::shared_ptr<DriverLibrary> library);
    // Re-initialises the active version with new options (new driver
    // parameters, SharedResourceTags, ops per second) through the swap's
    // path: init, health check, switch, drain. A config that fails
    // validation, init or the health check leaves the running one serving;
    // the `reload_failed` event says why. InstanceSetID cannot change (the
    // instances tagged with the old one would be orphaned) and the logger is
    // kept (set its level through spdlog). Later swaps to other versions use
    // the new options. True if reloaded.
    bool reload(InstanceSetOptions set_options);

    // Syncs on every complete change in the catalog's directories.
    void start_watching();
    void stop_watching();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace cloudhost
