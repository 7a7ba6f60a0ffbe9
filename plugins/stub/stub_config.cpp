#include "stub_config.hpp"

#include "cloudhost/driver_sdk_config.hpp"

#include <string>

namespace cloudhost::stub {
namespace {

using sdk::ConfigValue;
using sdk::InvalidConfigError;
using sdk::Presence;

constexpr const char *source = "stub config";

// Upper bound for durations: keeps `now + duration` far from overflowing the
// nanosecond clock (10^12 ms is about 31 years).
constexpr uint64_t max_millis = 1'000'000'000'000ULL;

std::optional<Op> op_named(std::string_view name) {
    for (std::size_t i = 0; i < op_count; ++i)
        if (name == op_name(static_cast<Op>(i)))
            return static_cast<Op>(i);
    return std::nullopt;
}

std::array<bool, op_count> as_op_set(const ConfigValue &v) {
    std::array<bool, op_count> ops{};
    for (const ConfigValue &item : v.items()) {
        const auto op = op_named(item.as_string());
        if (!op)
            item.fail("is not an operation (create, instances, destroy, set_tags, tags, address, "
                      "remote_user, verify_host_key, quota_group, price_history)");
        ops[static_cast<std::size_t>(*op)] = true;
    }
    return ops;
}

const sdk::ConfigSchema<CapacityFault> &capacity_fault_schema() {
    static const auto schema =
        sdk::ConfigSchema<CapacityFault>(source)
            .string("provider_type", &CapacityFault::provider_type, Presence::required)
            .custom("scope",
                    [](CapacityFault &fault, const ConfigValue &v) {
                        const std::string scope = v.as_string();
                        if (scope == "instance_type")
                            fault.scope = sdk::CapacityScope::instance_type;
                        else if (scope == "quota_group")
                            fault.scope = sdk::CapacityScope::quota_group;
                        else if (scope == "all_types")
                            fault.scope = sdk::CapacityScope::all_types;
                        else
                            v.fail("must be \"instance_type\", \"quota_group\" or \"all_types\"");
                    })
            .boolean("quota", &CapacityFault::also_quota);
    return schema;
}

std::optional<std::string> absolute_path(const std::string &path) {
    if (path.empty() || path.front() != '/')
        return "must be an absolute path";
    return std::nullopt;
}

std::optional<std::string> non_empty_path(const std::string &path) {
    if (path.empty())
        return "must be a non-empty path";
    return std::nullopt;
}

const sdk::ConfigSchema<StubConfig> &stub_schema() {
    static const auto schema =
        sdk::ConfigSchema<StubConfig>(source)
            .string("cloud", &StubConfig::cloud)
            .string("state_dir", &StubConfig::state_dir, Presence::optional, absolute_path)
            .custom("api_token",
                    [](StubConfig &c, const ConfigValue &v) { c.api_token = v.as_string(); })
            .integer("seed", &StubConfig::seed, uint64_t(0), UINT64_MAX)
            .number("error_rate_create", &StubConfig::error_rate_create, 0, 1)
            .number("error_rate_destroy", &StubConfig::error_rate_destroy, 0, 1)
            .number("error_rate_instances", &StubConfig::error_rate_instances, 0, 1)
            .number("error_rate_set_tags", &StubConfig::error_rate_set_tags, 0, 1)
            .milliseconds("min_time_between_create_calls_ms",
                          &StubConfig::min_time_between_create_calls, max_millis)
            .milliseconds("min_time_between_instances_calls_ms",
                          &StubConfig::min_time_between_instances_calls, max_millis)
            .milliseconds("rate_limit_create_for_ms", &StubConfig::rate_limit_create_for,
                          max_millis)
            .custom("quota_max_instances",
                    [](StubConfig &c, const ConfigValue &v) {
                        c.quota_max_instances = v.as_integer<uint64_t>(0, UINT64_MAX);
                    })
            .custom("capacity_errors",
                    [](StubConfig &c, const ConfigValue &v) {
                        for (const ConfigValue &item : v.items())
                            c.capacity_errors.push_back(capacity_fault_schema().parse(item));
                    })
            .string("hold_fifo", &StubConfig::hold_fifo, Presence::optional, non_empty_path)
            .milliseconds("boot_delay_ms", &StubConfig::boot_delay, max_millis)
            .custom("break_after_ms",
                    [](StubConfig &c, const ConfigValue &v) {
                        c.break_after =
                            Millis(static_cast<Millis::rep>(v.as_integer<uint64_t>(0, max_millis)));
                    })
            .milliseconds("list_lag_ms", &StubConfig::list_lag, max_millis)
            .milliseconds("stale_tags_ms", &StubConfig::stale_tags, max_millis)
            .milliseconds("destroy_delay_ms", &StubConfig::destroy_delay, max_millis)
            .integer("ssh_port", &StubConfig::ssh_port, uint16_t(1), uint16_t(65535))
            .custom("host_key",
                    [](StubConfig &c, const ConfigValue &v) { c.host_key = v.as_string(); })
            .custom("throw_in",
                    [](StubConfig &c, const ConfigValue &v) { c.throw_in = as_op_set(v); })
            .boolean("filter_ignored", &StubConfig::filter_ignored)
            .integer("instances_for_bench", &StubConfig::instances_for_bench, uint64_t(0),
                     UINT64_MAX);
    return schema;
}

} // namespace

const char *op_name(Op op) noexcept {
    switch (op) {
    case Op::create:
        return "create";
    case Op::instances:
        return "instances";
    case Op::destroy:
        return "destroy";
    case Op::set_tags:
        return "set_tags";
    case Op::tags:
        return "tags";
    case Op::address:
        return "address";
    case Op::remote_user:
        return "remote_user";
    case Op::verify_host_key:
        return "verify_host_key";
    case Op::quota_group:
        return "quota_group";
    case Op::price_history:
        return "price_history";
    case Op::count_:
        break;
    }
    return "?";
}

StubConfig parse_stub_config(std::string_view json) {
    StubConfig config = stub_schema().parse(json);
    // The cloud names a directory under state_dir: never a path that leaves it.
    if (!config.state_dir.empty() &&
        (config.cloud.empty() || config.cloud == "." || config.cloud == ".." ||
         config.cloud.find_first_of(std::string_view("/\0", 2)) != std::string::npos))
        throw InvalidConfigError(std::string(source) +
                                 ": \"cloud\" must be a file name (no \"/\", not \".\" or "
                                 "\"..\") with \"state_dir\"");
    if (config.api_token && config.state_dir.empty())
        throw InvalidConfigError(std::string(source) +
                                 ": \"api_token\" needs \"state_dir\" (tokens are checked "
                                 "against <state_dir>/valid_tokens)");
    return config;
}

} // namespace cloudhost::stub
