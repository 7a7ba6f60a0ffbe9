#include "cloudhost/instance_set.hpp"

#include "instance_collector.hpp"
#include "instance_set_core.hpp"
#include "isolation/isolated_endpoint.hpp"
#include "validation.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace cloudhost {

using detail::Binding;
using detail::InstanceSetCore;

const char *operation_name(Operation op) noexcept {
    switch (op) {
    case Operation::create:
        return "create";
    case Operation::instances:
        return "instances";
    case Operation::destroy:
        return "destroy";
    case Operation::set_tags:
        return "set_tags";
    case Operation::count_:
        break;
    }
    return "unknown";
}

namespace detail {

InstanceSetCore::InstanceSetCore(InstanceSetOptions options_in,
                                 std::shared_ptr<Binding> first_binding)
    : options(std::move(options_in)), limiter(options.max_cloud_ops_per_second),
      metrics(options.metrics_registry, first_binding->library().info().name,
              first_binding->library().info().version, options.instance_set_id),
      binding_(first_binding), current_(first_binding.get()),
      logger_(options.logger ? options.logger : spdlog::default_logger()),
      driver_name_(first_binding->library().info().name) {}

void InstanceSetCore::gate_check(Operation op) {
    try {
        gate.check(operation_name(op));
    } catch (const RateLimitError &) {
        counters.record_throttled(op);
        metrics.record_throttled(op);
        throw;
    }
}

void InstanceSetCore::on_rate_limit(Operation op, Clock::time_point earliest_retry,
                                    const char *message) {
    if (gate.suspend_until(earliest_retry, message))
        logger_->warn("suspending remote calls until {} after a rate limit error from {} "
                      "driver={} error=\"{}\"",
                      format_utc(earliest_retry), operation_name(op), driver_name_, message);
}

namespace {

// Stops the driver's set when the last InstanceSet handle goes away; the
// Instances still alive keep the core (and the driver's set) usable.
class SetHandleOwner {
  public:
    explicit SetHandleOwner(std::shared_ptr<InstanceSetCore> core) : core_(std::move(core)) {}
    SetHandleOwner(const SetHandleOwner &) = delete;
    SetHandleOwner &operator=(const SetHandleOwner &) = delete;
    ~SetHandleOwner() { core_->snapshot()->stop(); }

  private:
    std::shared_ptr<InstanceSetCore> core_;
};

InstanceSetCore &checked(const std::shared_ptr<InstanceSetCore> &core) {
    if (!core)
        throw std::logic_error("cloudhost: call on an empty InstanceSet handle");
    return *core;
}

} // namespace
} // namespace detail

InstanceSet InstanceSet::open(std::shared_ptr<DriverLibrary> library, InstanceSetOptions options) {
    if (!library)
        throw std::invalid_argument("InstanceSet::open: no driver library");
    validate_instance_set_id(options.instance_set_id);
    detail::validate_config_json(options.config_json);
    validate_tags(options.shared_resource_tags, "SharedResourceTags");

    if (!options.endpoint_factory)
        options.endpoint_factory = isolation::endpoint_factory_for(options.isolation, {});
    auto binding =
        Binding::open(std::move(library),
                      {options.config_json, options.instance_set_id, options.shared_resource_tags,
                       options.logger, options.metrics_registry},
                      options.endpoint_factory);
    auto core = std::make_shared<InstanceSetCore>(std::move(options), std::move(binding));
    auto owner = std::make_shared<detail::SetHandleOwner>(core);
    InstanceSet set;
    set.core_ = std::shared_ptr<InstanceSetCore>(owner, core.get());
    return set;
}

Instance InstanceSet::create(const InstanceType &type, const std::string &image_id,
                             const Tags &tags, const std::string &init_command,
                             const std::optional<std::string> &public_key) {
    InstanceSetCore &core = detail::checked(core_);
    validate_tags(tags, "Create InstanceTags");
    detail::validate_instance_type(type, "Create");
    // Shared resource tags under the explicit ones: explicit tags win. The
    // current binding's: a reload may have changed them.
    const auto current = core.snapshot();
    Tags merged = tags;
    merged.insert(current->args().shared_resource_tags.begin(),
                  current->args().shared_resource_tags.end());
    // Each set is valid; together they may still be too many for the cloud.
    validate_tags(merged, "Create InstanceTags with SharedResourceTags");

    Instance created;
    core.limited_call(Operation::create, [&] {
        const auto use = core.enter();
        const auto &binding = use.get();
        // Instances keep the core itself, not the handle owner: holding an
        // Instance must not keep the driver's set from being stopped.
        detail::InstanceCollector collector(core.shared_from_this(), binding, nullptr);
        binding->endpoint().create(type, image_id, merged, init_command, public_key, collector);
        collector.check("create");
        auto &instances = collector.instances();
        if (instances.empty()) // the endpoint enforces exactly one
            throw DriverError("create: driver reported success without an instance");
        created = std::move(instances.front());
    });
    return created;
}

std::vector<Instance> InstanceSet::instances(const Tags &filter) {
    InstanceSetCore &core = detail::checked(core_);
    validate_tags(filter, "Instances filter");
    std::vector<Instance> result;
    core.limited_call(Operation::instances, [&] {
        const auto use = core.enter();
        const auto &binding = use.get();
        // Filter again: drivers may ignore the filter (Arvados allows it).
        detail::InstanceCollector collector(core.shared_from_this(), binding, &filter);
        binding->endpoint().instances(filter, collector);
        collector.check("instances");
        result = std::move(collector.instances());
        core.metrics.set_instances(result.size());
        if (collector.skipped() > 0)
            core.logger().debug("instances: host filter dropped {} of {} listed driver={}",
                                collector.skipped(), collector.skipped() + result.size(),
                                core.driver_name());
    });
    // Vector growth can leave up to half the capacity unused; a large
    // listing is worth one compacting move.
    if (result.capacity() - result.size() > result.size() / 8 + 16)
        result.shrink_to_fit();
    return result;
}

std::string InstanceSet::instance_quota_group(const InstanceType &type) {
    InstanceSetCore &core = detail::checked(core_);
    const auto use = core.enter();
    return use->endpoint().instance_quota_group(type);
}

void InstanceSet::stop() {
    detail::checked(core_).snapshot()->stop();
}

OperationCounters InstanceSet::counters() const {
    return detail::checked(core_).counters.snapshot();
}

std::shared_ptr<const DriverLibrary> InstanceSet::library() const {
    return detail::checked(core_).snapshot()->shared_library();
}

const std::string &InstanceSet::instance_set_id() const {
    return detail::checked(core_).options.instance_set_id;
}

} // namespace cloudhost
