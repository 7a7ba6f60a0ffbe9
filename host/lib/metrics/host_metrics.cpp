#include "host_metrics.hpp"

#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

const char *outcome_name(Outcome outcome) noexcept {
    switch (outcome) {
    case Outcome::ok:
        return "ok";
    case Outcome::rate_limit:
        return "rate_limit";
    case Outcome::quota:
        return "quota";
    case Outcome::capacity:
        return "capacity";
    case Outcome::not_implemented:
        return "not_implemented";
    case Outcome::invalid_config:
        return "invalid_config";
    case Outcome::other:
    case Outcome::count_:
        break;
    }
    return "other";
}

Outcome outcome_of(const std::exception_ptr &error) noexcept {
    if (!error)
        return Outcome::ok;
    try {
        std::rethrow_exception(error);
    } catch (const RateLimitError &) {
        return Outcome::rate_limit;
    } catch (const CapacityError &) { // before quota: it may be both, capacity is the cause
        return Outcome::capacity;
    } catch (const QuotaError &) {
        return Outcome::quota;
    } catch (const NotImplementedError &) {
        return Outcome::not_implemented;
    } catch (const InvalidConfigError &) {
        return Outcome::invalid_config;
    } catch (...) {
        return Outcome::other;
    }
}

namespace {

const std::vector<std::string> set_labels{"driver", "driver_version", "instance_set_id",
                                          "operation"};
const std::vector<std::string> outcome_labels{"driver", "driver_version", "instance_set_id",
                                              "operation", "outcome"};
const std::vector<std::string> set_operation_labels{"driver", "instance_set_id", "operation"};
const std::vector<std::string> driver_set_labels{"driver", "instance_set_id"};

Counter operations_family(MetricsRegistry &r) {
    return r.counter(metric_names::operations,
                     "Driver calls (Create, Instances, Destroy, SetTags) that reached the driver, "
                     "by outcome.",
                     outcome_labels);
}

} // namespace

OperationMetrics::OperationMetrics(MetricsRegistry &registry, const std::string &driver,
                                   const std::string &driver_version,
                                   const std::string &instance_set_id)
    : labels_{driver, driver_version, instance_set_id} {
    const Counter operations = operations_family(registry);
    duration_ = registry.histogram(metric_names::operation_duration,
                                   "Latency of driver calls that reached the driver, by outcome.",
                                   outcome_labels);
    const Counter throttled = registry.counter(
        metric_names::throttled,
        "Calls the host answered with a RateLimitError without calling the driver (the driver "
        "asked to wait until its EarliestRetry).",
        set_operation_labels);
    const Counter waits = registry.counter(
        metric_names::limiter_waits,
        "Ticks of the ops-per-second limiter (max_cloud_ops_per_second) calls waited for.",
        set_operation_labels);
    instances_ = registry
                     .gauge(metric_names::instances,
                            "Instances the last successful Instances() call of this set listed.",
                            driver_set_labels)
                     .labels({driver, instance_set_id});
    for (std::size_t op = 0; op < ops; ++op) {
        const char *name = operation_name(static_cast<Operation>(op));
        for (std::size_t o = 0; o < outcomes; ++o)
            calls_[op][o] = operations.labels({driver, driver_version, instance_set_id, name,
                                               outcome_name(static_cast<Outcome>(o))});
        throttled_[op] = throttled.labels({driver, instance_set_id, name});
        limiter_waits_[op] = waits.labels({driver, instance_set_id, name});
    }
}

void OperationMetrics::record_call(Operation op, Outcome outcome,
                                   std::chrono::nanoseconds latency) noexcept {
    const auto o = static_cast<std::size_t>(outcome);
    calls_[index(op)][o].inc();
    std::atomic<HistogramSeries> &cached = durations_[index(op)][o];
    HistogramSeries series = cached.load(std::memory_order_acquire);
    if (!series.valid()) {
        try {
            // Label values are the host's own (checked at construction).
            series = duration_.labels(
                {labels_[0], labels_[1], labels_[2], operation_name(op), outcome_name(outcome)});
        } catch (...) {
            return; // out of memory: lose this one observation
        }
        cached.store(series, std::memory_order_release);
    }
    series.observe(latency);
}

namespace {

template <class Record> void guarded(Record &&record) noexcept {
    try {
        record();
    } catch (...) { // registration only fails on out of memory: metrics never break a call
    }
}

} // namespace

void record_hot_swap_event(MetricsRegistry &registry, const std::string &driver,
                           const std::string &instance_set_id, const char *kind) noexcept {
    guarded([&] {
        registry
            .counter(metric_names::hot_swap_events,
                     "Hot swap events (found, rejected, loaded, load_failed, "
                     "health_check_failed, swapped, kept, unloaded, unload_failed).",
                     {"driver", "instance_set_id", "kind"})
            .labels({driver, instance_set_id, kind})
            .inc();
    });
}

void record_isolated_driver_crash(MetricsRegistry &registry, const std::string &driver,
                                  const std::string &instance_set_id) noexcept {
    guarded([&] {
        registry
            .counter(metric_names::isolated_crashes,
                     "Helper processes of isolated drivers that died or stopped answering.",
                     driver_set_labels)
            .labels({driver, instance_set_id})
            .inc();
    });
}

void record_isolated_driver_restart(MetricsRegistry &registry, const std::string &driver,
                                    const std::string &instance_set_id) noexcept {
    guarded([&] {
        registry
            .counter(metric_names::isolated_restarts,
                     "Helper processes of isolated drivers started again after a crash.",
                     driver_set_labels)
            .labels({driver, instance_set_id})
            .inc();
    });
}

namespace {

struct SshMetrics {
    CounterSeries connected, connect_failed;
    std::array<CounterSeries, 3> commands;
    HistogramSeries command_duration;
    std::array<CounterSeries, 3> verifications;

    SshMetrics() {
        MetricsRegistry &r = *default_metrics_registry();
        const Counter connections = r.counter(
            metric_names::ssh_connections,
            "SSH connections the executor opened (ok) or failed to open (failed).", {"outcome"});
        connected = connections.labels({"ok"});
        connect_failed = connections.labels({"failed"});
        const Counter command_family = r.counter(
            metric_names::ssh_commands,
            "Commands the SSH executor ran: ok (an exit status came back), timeout, failed.",
            {"outcome"});
        commands = {command_family.labels({"ok"}), command_family.labels({"timeout"}),
                    command_family.labels({"failed"})};
        command_duration = r.histogram(metric_names::ssh_command_duration,
                                       "Latency of commands the SSH executor ran.")
                               .labels({});
        const Counter verified = r.counter(
            metric_names::tag_verifications,
            "Host identity checks by the instance secret: verified, refused (secret missing or "
            "different), error (could not read it).",
            {"outcome"});
        verifications = {verified.labels({"verified"}), verified.labels({"refused"}),
                         verified.labels({"error"})};
    }
};

SshMetrics *ssh_metrics() noexcept {
    try {
        static SshMetrics metrics;
        return &metrics;
    } catch (...) {
        return nullptr;
    }
}

} // namespace

void record_ssh_connection(bool connected) noexcept {
    if (SshMetrics *m = ssh_metrics())
        (connected ? m->connected : m->connect_failed).inc();
}

void record_ssh_command(SshCommandOutcome outcome, std::chrono::nanoseconds latency) noexcept {
    if (SshMetrics *m = ssh_metrics()) {
        m->commands[static_cast<std::size_t>(outcome)].inc();
        m->command_duration.observe(latency);
    }
}

void record_tag_verification(TagVerification outcome) noexcept {
    if (SshMetrics *m = ssh_metrics())
        m->verifications[static_cast<std::size_t>(outcome)].inc();
}

} // namespace cloudhost::detail
