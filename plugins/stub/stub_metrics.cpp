#include "stub_metrics.hpp"

namespace cloudhost::stub {

StubMetrics::StubMetrics(const sdk::Metrics &metrics) {
    const auto creates = metrics.counter(
        "creates_total", "Create calls by outcome (injected faults under their class).",
        {"outcome"});
    creates_ok_ = creates.labels({"ok"});
    creates_rate_limit_ = creates.labels({"rate_limit"});
    creates_quota_ = creates.labels({"quota"});
    creates_capacity_ = creates.labels({"capacity"});
    creates_error_ = creates.labels({"error"});
    const auto destroys =
        metrics.counter("destroys_total", "Destroy calls by outcome.", {"outcome"});
    destroys_ok_ = destroys.labels({"ok"});
    destroys_error_ = destroys.labels({"error"});
    listed_ =
        metrics.gauge("instances", "Instances the set's last Instances() call listed.").labels();
}

void StubMetrics::create_failed(const std::exception_ptr &error) const noexcept {
    // Most specific class first: a capacity error is also a quota error.
    try {
        std::rethrow_exception(error);
    } catch (const sdk::RateLimitError &) {
        creates_rate_limit_.inc();
    } catch (const sdk::CapacityError &) {
        creates_capacity_.inc();
    } catch (const sdk::QuotaError &) {
        creates_quota_.inc();
    } catch (...) {
        creates_error_.inc();
    }
}

} // namespace cloudhost::stub
