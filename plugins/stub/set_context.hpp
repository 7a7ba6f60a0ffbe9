// What an InstanceSet shares with the Instance handles it hands out: its
// config, the host's logger, its fault schedule and its stop flag. Instances
// keep it alive, so a handle stays usable after the set's other state is gone.
#pragma once

#include "fault_schedule.hpp"
#include "hold_fifo.hpp"
#include "stub_cloud.hpp"
#include "stub_config.hpp"
#include "stub_metrics.hpp"

#include <atomic>
#include <memory>

namespace cloudhost::stub {

struct SetContext {
    SetContext(StubConfig config, sdk::Logger logger, const sdk::Metrics &metrics);

    const StubConfig config;
    const sdk::Logger logger;
    const StubMetrics metrics;
    const std::shared_ptr<StubCloud> cloud;
    const std::unique_ptr<HoldFifo> hold; // null when calls are not held
    FaultSchedule faults;
    std::atomic<bool> stopped{false};

    // Every driver entry point starts here: logs DEBUG "stub call" op=<op>,
    // checks the api_token and throws if the op is listed in `throw_in`.
    void enter(Op op) const;
    // Throws unless the config's api_token (if any) is currently valid.
    void check_api_token() const;
};

} // namespace cloudhost::stub
