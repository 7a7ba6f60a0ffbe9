// The host's own metrics (cloudhost_*): what each family is, and the
// one-line hooks the host's call sites use. Label values are fixed at the
// hook, series are created once and then updated with atomics only.
#pragma once

#include "cloudhost/instance_set.hpp"
#include "cloudhost/metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <string>

namespace cloudhost::detail {

// What became of a driver call (label "outcome").
enum class Outcome {
    ok,
    rate_limit,
    quota,
    capacity,
    not_implemented,
    invalid_config,
    other,
    count_
};
const char *outcome_name(Outcome outcome) noexcept;
// The outcome of an exception a driver call threw (cloudhost/errors.hpp).
Outcome outcome_of(const std::exception_ptr &error) noexcept;

// Names of every cloudhost_* metric (one place; tests and docs use them).
namespace metric_names {
inline constexpr const char *operations = "cloudhost_driver_operations_total";
inline constexpr const char *operation_duration = "cloudhost_driver_operation_duration_seconds";
inline constexpr const char *throttled = "cloudhost_driver_throttled_calls_total";
inline constexpr const char *limiter_waits = "cloudhost_ops_limiter_waits_total";
inline constexpr const char *instances = "cloudhost_instances_listed";
inline constexpr const char *hot_swap_events = "cloudhost_hot_swap_events_total";
inline constexpr const char *isolated_crashes = "cloudhost_isolated_driver_crashes_total";
inline constexpr const char *isolated_restarts = "cloudhost_isolated_driver_restarts_total";
inline constexpr const char *ssh_connections = "cloudhost_ssh_connections_total";
inline constexpr const char *ssh_commands = "cloudhost_ssh_commands_total";
inline constexpr const char *ssh_command_duration = "cloudhost_ssh_command_duration_seconds";
inline constexpr const char *tag_verifications = "cloudhost_tag_verifier_checks_total";
} // namespace metric_names

// The metrics of one instance set served by one driver version: calls by
// operation and outcome with their latency, host-answered calls, limiter
// waits and the size of the last listing. Every counter series exists from
// the start (at 0); a latency histogram series appears with its first call.
class OperationMetrics {
  public:
    OperationMetrics(MetricsRegistry &registry, const std::string &driver,
                     const std::string &driver_version, const std::string &instance_set_id);

    void record_call(Operation op, Outcome outcome, std::chrono::nanoseconds latency) noexcept;
    void record_throttled(Operation op) noexcept { throttled_[index(op)].inc(); }
    void record_tick(Operation op) noexcept { limiter_waits_[index(op)].inc(); }
    void set_instances(std::size_t count) noexcept { instances_.set(static_cast<double>(count)); }
    const std::string &driver_version() const noexcept { return labels_[1]; }

  private:
    static constexpr std::size_t ops = static_cast<std::size_t>(Operation::count_);
    static constexpr std::size_t outcomes = static_cast<std::size_t>(Outcome::count_);
    static std::size_t index(Operation op) noexcept { return static_cast<std::size_t>(op); }

    std::array<std::string, 3> labels_; // driver, driver_version, instance_set_id
    std::array<std::array<CounterSeries, outcomes>, ops> calls_;
    Histogram duration_;
    std::array<std::array<std::atomic<HistogramSeries>, outcomes>, ops> durations_{};
    std::array<CounterSeries, ops> throttled_;
    std::array<CounterSeries, ops> limiter_waits_;
    GaugeSeries instances_;
};

// One hot swap event (label "kind": swap_event_name()).
void record_hot_swap_event(MetricsRegistry &registry, const std::string &driver,
                           const std::string &instance_set_id, const char *kind) noexcept;

// An isolated driver's helper process crashed / was restarted (the
// isolation supervisor calls these).
void record_isolated_driver_crash(MetricsRegistry &registry, const std::string &driver,
                                  const std::string &instance_set_id) noexcept;
void record_isolated_driver_restart(MetricsRegistry &registry, const std::string &driver,
                                    const std::string &instance_set_id) noexcept;

// SSH executor and tag verifier, into the default registry (they serve
// targets, not one instance set).
enum class SshCommandOutcome { ok, timeout, failed };
void record_ssh_connection(bool connected) noexcept;
void record_ssh_command(SshCommandOutcome outcome, std::chrono::nanoseconds latency) noexcept;
enum class TagVerification { verified, refused, error };
void record_tag_verification(TagVerification outcome) noexcept;

// Records one SSH command when it goes out of scope: `failed` unless told
// otherwise (so every exit path counts), with the time since construction.
class SshCommandRecord {
  public:
    SshCommandRecord() noexcept : started_(std::chrono::steady_clock::now()) {}
    ~SshCommandRecord() {
        record_ssh_command(outcome_, std::chrono::steady_clock::now() - started_);
    }
    SshCommandRecord(const SshCommandRecord &) = delete;
    SshCommandRecord &operator=(const SshCommandRecord &) = delete;
    void set(SshCommandOutcome outcome) noexcept { outcome_ = outcome; }

  private:
    std::chrono::steady_clock::time_point started_;
    SshCommandOutcome outcome_ = SshCommandOutcome::failed;
};

// Records one instance-secret check when it goes out of scope: `error`
// unless told otherwise.
class TagVerificationRecord {
  public:
    TagVerificationRecord() = default;
    ~TagVerificationRecord() { record_tag_verification(outcome_); }
    TagVerificationRecord(const TagVerificationRecord &) = delete;
    TagVerificationRecord &operator=(const TagVerificationRecord &) = delete;
    void set(TagVerification outcome) noexcept { outcome_ = outcome; }

  private:
    TagVerification outcome_ = TagVerification::error;
};

} // namespace cloudhost::detail
