// The seam (core/driver_endpoint.hpp) served by a cloudhost-driver-host
// helper process: every driver call becomes a message to the helper
// (protocol.hpp), so a driver that crashes, hangs or scribbles over memory
// takes down only its helper.
//
// Supervision: when the helper dies (signal, exit, EOF, malformed message)
// every call in flight fails at once with DriverCrashedError naming how it
// ended and the driver version. The next call starts a new helper (the first
// restart at once, then back-off doubling from 0.1 s to 10 s) and opens the
// set again with the same config, InstanceSetID, SharedResourceTags and
// logger; instance references of the dead helper re-bind by instance id on
// their next call (the cloud kept the instances). Five crashes within 60 s:
// calls fail fast with the last crash reason until the back-off expires.
// A call past its deadline fails with DriverTimeoutError and the helper is
// killed and restarted: only a process boundary makes a stuck driver call
// cancellable. One helper per instance set: a crash of one set's driver
// never touches another set.
#pragma once

#include "core/driver_endpoint.hpp"
#include "helper_process.hpp"

#include "cloudhost/hot_swap.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/metrics.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>

namespace cloudhost {
class DriverLibrary;
}

namespace cloudhost::isolation {

struct CallTimeouts {
    std::chrono::milliseconds driver_call{std::chrono::seconds(60)};
    std::chrono::milliseconds create{std::chrono::minutes(10)};
    // Per operation, by the names of protocol.cpp's op_name ("Instances").
    std::map<std::string, std::chrono::milliseconds, std::less<>> per_operation;
};

struct IsolationOptions {
    std::filesystem::path driver_host; // empty: default_driver_host_path()
    HelperLimits limits;
    CallTimeouts timeouts;
    // Host side: poll this long for a reply before sleeping. 0 by default:
    // measured on 2 shared vCPUs, spinning doubled p50 (bench_isolation).
    std::chrono::microseconds spin{0};
    std::size_t max_frame = 16u << 20;
    std::chrono::milliseconds first_backoff{100};
    std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
    std::size_t crash_loop_crashes = 5;
    std::chrono::milliseconds crash_loop_window{std::chrono::seconds(60)};
    // driver_crashed / driver_restarted / driver_down, also logged.
    std::function<void(const SwapEvent &)> on_event;
};

struct IsolatedArgs {
    std::string config_json;
    std::string instance_set_id;
    Tags shared_resource_tags;
    std::shared_ptr<spdlog::logger> logger; // null: spdlog's default logger
    // Where the driver's metrics (pulled from the helper when this registry
    // renders) and the helper's crashes and restarts are counted; null: the
    // process-wide default registry.
    std::shared_ptr<MetricsRegistry> metrics_registry;
};

// The factory InstanceSetOptions::endpoint_factory takes: every set (and
// every hot-swapped version) it opens runs in its own helper.
detail::EndpointFactory isolated_endpoint_factory(const IsolationSettings &settings,
                                                  std::function<void(const SwapEvent &)> on_event);

// What InstanceSet::open uses when no factory is given: null for "none" (in
// process); isolated_endpoint_factory for "process"; for "auto", a factory
// that isolates each library the catalog left unmapped (its trust verdict
// did not vouch for it) and runs a mapped one in process.
detail::EndpointFactory endpoint_factory_for(const IsolationSettings &settings,
                                             std::function<void(const SwapEvent &)> on_event);

class IsolatedEndpoint final : public detail::DriverEndpoint {
  public:
    // Starts the helper and opens the set in it; throws the driver's error
    // (InvalidConfigError, ...) or DriverCrashedError.
    static std::unique_ptr<IsolatedEndpoint> open(std::shared_ptr<DriverLibrary> library,
                                                  const IsolatedArgs &args,
                                                  IsolationOptions options);
    ~IsolatedEndpoint() override; // ends the helper
    IsolatedEndpoint(const IsolatedEndpoint &) = delete;
    IsolatedEndpoint &operator=(const IsolatedEndpoint &) = delete;

    void create(const InstanceType &type, std::string_view image_id, const Tags &tags,
                std::string_view init_command, const std::optional<std::string> &public_key,
                detail::InstanceVisitor &visitor) override;
    void instances(const Tags &filter, detail::InstanceVisitor &visitor) override;
    std::string instance_quota_group(const InstanceType &type) override;
    void stop() noexcept override;

    void release(detail::InstanceRef ref) noexcept override;
    std::optional<std::string> instance_string(detail::InstanceRef ref) override;
    Tags instance_tags(detail::InstanceRef ref) override;
    void instance_set_tags(detail::InstanceRef ref, const Tags &tags) override;
    void instance_destroy(detail::InstanceRef ref) override;
    std::string instance_address(detail::InstanceRef ref) override;
    std::string instance_remote_user(detail::InstanceRef ref) override;
    void instance_verify_host_key(detail::InstanceRef ref, std::string_view public_key,
                                  CommandRunner *runner) override;
    std::vector<InstancePrice> instance_price_history(detail::InstanceRef ref,
                                                      const InstanceType &type) override;

    // The helper serving calls now (-1 if none): for tests and benchmarks.
    pid_t helper_pid() const;
    // Helpers started so far (1 + restarts).
    std::uint64_t helpers_started() const;

    struct State;

  private:
    explicit IsolatedEndpoint(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

} // namespace cloudhost::isolation
