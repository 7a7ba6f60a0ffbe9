// A set of cloud VMs managed through one driver (Arvados cloud.InstanceSet),
// with the dispatcher-side wrappers built in: tag filtering even when the
// driver ignores the filter, SharedResourceTags merged into Create tags
// (explicit tags win), an operations-per-second limiter, no driver call
// before a RateLimitError's EarliestRetry, and per-operation counters.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/instance.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/types.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cloudhost {

class DriverLibrary;
class MetricsRegistry;

namespace detail {
struct InstanceSetCore;
struct InternalAccess;
class DriverEndpoint;
struct EndpointArgs;
// Opens the driver's instance set and returns what serves it (see
// host/lib/core/driver_endpoint.hpp).
using EndpointFactory = std::function<std::unique_ptr<DriverEndpoint>(
    std::shared_ptr<DriverLibrary> library, const EndpointArgs &args)>;
} // namespace detail

struct CLOUDHOST_API InstanceSetOptions {
    std::string config_json = "{}"; // driver parameters, passed verbatim
    std::string instance_set_id;    // "xxxxx-xxxxx-xxxxxxxxxxxxxxx"
    Tags shared_resource_tags;
    // Arvados MaxCloudOpsPerSecond: Create, Instances, Destroy and SetTags
    // each wait for a tick of one shared 1/N s ticker. 0 = no limit.
    double max_cloud_ops_per_second = 0;
    // Driver log records go here (with their fields). Null: spdlog default.
    std::shared_ptr<spdlog::logger> logger;
    // In process or in a helper process (cloudhost/isolation.hpp); used
    // when endpoint_factory is null.
    IsolationSettings isolation;
    // Where the driver's code runs: null = in this process, through its C
    // function table. Hot swaps open new versions the same way.
    detail::EndpointFactory endpoint_factory;
    // Where the set's metrics and its driver's go (cloudhost/metrics.hpp).
    // Null: the process-wide default_metrics_registry().
    std::shared_ptr<MetricsRegistry> metrics_registry;
};

enum class Operation : std::size_t { create, instances, destroy, set_tags, count_ };
CLOUDHOST_API const char *operation_name(Operation op) noexcept;

struct CLOUDHOST_API OperationStats {
    uint64_t calls = 0;     // calls that reached the driver
    uint64_t errors = 0;    // of those, failed
    uint64_t throttled = 0; // answered by the host (RateLimitError) without a driver call
    uint64_t ticks = 0;     // ticks of the ops-per-second limiter this operation waited for
    std::chrono::nanoseconds total_latency{0};
    std::chrono::nanoseconds max_latency{0};
};

using OperationCounters = std::array<OperationStats, static_cast<std::size_t>(Operation::count_)>;

// A copyable handle; every method may be called from many threads. The
// driver's set is stopped when the last InstanceSet handle is gone (or by
// stop()), and freed (and the driver library unloaded, if nothing else uses
// it) when the last Instance created from it is gone too.
class CLOUDHOST_API InstanceSet {
  public:
    // Validates the InstanceSetID and the config JSON (InvalidConfigError
    // naming line and column), then asks the driver for an InstanceSet.
    static InstanceSet open(std::shared_ptr<DriverLibrary> library, InstanceSetOptions options);

    InstanceSet() = default;
    bool valid() const noexcept { return core_ != nullptr; }

    Instance create(const InstanceType &type, const std::string &image_id, const Tags &tags,
                    const std::string &init_command, const std::optional<std::string> &public_key);
    // Every instance carrying all of `filter`'s key=value pairs.
    std::vector<Instance> instances(const Tags &filter = {});
    std::string instance_quota_group(const InstanceType &type);
    // Ends the driver's background work. Never destroys instances.
    void stop();

    OperationCounters counters() const;
    // The library serving calls now; after a hot swap, the new one. Shared,
    // so it stays loaded while the caller looks at it.
    std::shared_ptr<const DriverLibrary> library() const;
    const std::string &instance_set_id() const;

  private:
    friend struct detail::InternalAccess; // cloudhost/internal/access.hpp
    std::shared_ptr<detail::InstanceSetCore> core_;
};

// Throws InvalidConfigError unless `id` has the form
// xxxxx-xxxxx-xxxxxxxxxxxxxxx (ASCII letters and digits).
CLOUDHOST_API void validate_instance_set_id(const std::string &id);

} // namespace cloudhost
