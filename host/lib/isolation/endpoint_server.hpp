// The helper side of the protocol (protocol.hpp): reads calls from the
// socket, runs each on a bounded pool of threads against the DriverEndpoint
// that OPEN created (in the helper: InProcessEndpoint over the driver's C
// table, so NULL-slot defaults, exception containment and deferred releases
// are written once), and writes replies, log records and command-runner
// requests back. Replies may leave in any order; one slow call never blocks
// another until every pool thread is busy.
#pragma once

#include "core/driver_endpoint.hpp"

#include "cloudhost/driver_info.hpp"
#include "cloudhost/metrics.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace cloudhost::isolation {

struct OpenRequest {
    std::string library_path;
    DriverInfo info;
    std::string config_json;
    std::string instance_set_id;
    Tags shared_resource_tags;
    // The helper's own registry, for the driver's metrics service: the host
    // pulls it with METRICS.
    std::shared_ptr<MetricsRegistry> metrics_registry;
};

struct ServerOptions {
    std::size_t max_threads = 64;
    std::size_t max_frame = 16u << 20;
    std::chrono::microseconds spin{0};
    // Driver log records forwarded per second at most; the rest are
    // counted and reported in one record.
    std::size_t max_log_records_per_second = 20000;
};

using EndpointOpener = std::function<std::unique_ptr<detail::DriverEndpoint>(
    const OpenRequest &request, std::shared_ptr<spdlog::logger> logger)>;

// Serves `fd` until the host closes it; returns the process exit code (0 on
// a clean EOF, 3 on a protocol fault of the host, 4 when a driver call is
// still stuck: the caller must then _exit).
int serve(int fd, const EndpointOpener &opener, const ServerOptions &options);

} // namespace cloudhost::isolation
