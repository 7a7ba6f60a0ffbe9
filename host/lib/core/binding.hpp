// One driver InstanceSet as the host holds it: the library it lives in, the
// logger it was given and the driver's handle. InstanceSetCore holds the
// current Binding through an atomically swappable shared_ptr and every call
// works on a snapshot, so a later hot swap can bind the set to a new driver
// version while calls in flight finish on the old one. Each InstanceCore
// keeps the Binding it was created under, so the driver's set is freed only
// after its last instance handle is released, and the library unloaded after
// that (members are destroyed after the destructor body runs).
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/driver_library.hpp"
#include "cloudhost/logging.hpp"
#include "cloudhost/types.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace cloudhost::detail {

struct BindingArgs {
    std::string config_json;
    std::string instance_set_id;
    Tags shared_resource_tags;
    std::shared_ptr<spdlog::logger> logger;
};

class Binding {
  public:
    // Calls the driver's instance_set_new; throws the mapped DriverError.
    static std::shared_ptr<Binding> open(std::shared_ptr<DriverLibrary> library,
                                         const BindingArgs &args);
    ~Binding();
    Binding(const Binding &) = delete;
    Binding &operator=(const Binding &) = delete;

    const ch_driver_v1 &table() const noexcept { return table_; }
    ch_instance_set *set() const noexcept { return set_; }
    const DriverLibrary &library() const noexcept { return *library_; }
    const DriverLogger &logger() const noexcept { return logger_; }

    // instance_set_stop, at most once per binding.
    void stop() noexcept;

    Binding(std::shared_ptr<DriverLibrary> library, std::shared_ptr<spdlog::logger> logger);

  private:
    std::shared_ptr<DriverLibrary> library_; // first member: destroyed last
    const ch_driver_v1 &table_;
    DriverLogger logger_; // must outlive instance_set_free (driver.h rule 5)
    ch_instance_set *set_ = nullptr;
    std::atomic<bool> stopped_{false};
};

} // namespace cloudhost::detail
