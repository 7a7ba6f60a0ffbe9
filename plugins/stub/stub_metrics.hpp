// What the stub publishes through the host's metrics service (issue 13):
// Create calls by outcome (so injected faults show under their class),
// Destroy calls by outcome, and the instances its last Instances() listed.
// The host names them cloudhost_driver_stub_*. Series are resolved once
// here: an update on the call path is one atomic add.
#pragma once

#include "cloudhost/driver_sdk.hpp"

#include <exception>

namespace cloudhost::stub {

class StubMetrics {
  public:
    // Inert (every update a no-op) when the host has no metrics service.
    explicit StubMetrics(const sdk::Metrics &metrics);

    void create_succeeded() const noexcept { creates_ok_.inc(); }
    // Counts the failure under the class of `error` (the exception in flight).
    void create_failed(const std::exception_ptr &error) const noexcept;
    void destroyed(bool ok) const noexcept { (ok ? destroys_ok_ : destroys_error_).inc(); }
    void listed(std::size_t count) const noexcept { listed_.set(double(count)); }

  private:
    sdk::CounterSeries creates_ok_, creates_rate_limit_, creates_quota_, creates_capacity_,
        creates_error_;
    sdk::CounterSeries destroys_ok_, destroys_error_;
    sdk::GaugeSeries listed_;
};

} // namespace cloudhost::stub
