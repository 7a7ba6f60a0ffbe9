#include "stub_config.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <set>
#include <string>

namespace cloudhost::stub {
namespace {

using sdk::InvalidConfigError;
using Value = rapidjson::Value;

// Upper bound for durations: keeps `now + duration` far from overflowing the
// nanosecond clock (10^12 ms is about 31 years).
constexpr uint64_t max_millis = 1'000'000'000'000ULL;

[[noreturn]] void fail(const std::string &what) {
    throw InvalidConfigError("stub config: " + what);
}

std::string quoted(std::string_view key) {
    return "\"" + std::string(key) + "\"";
}

std::string as_string(std::string_view key, const Value &v) {
    if (!v.IsString())
        fail(quoted(key) + " must be a string");
    return {v.GetString(), v.GetStringLength()};
}

uint64_t as_uint(std::string_view key, const Value &v) {
    if (!v.IsUint64())
        fail(quoted(key) + " must be an unsigned integer");
    return v.GetUint64();
}

Millis as_millis(std::string_view key, const Value &v) {
    const uint64_t ms = as_uint(key, v);
    if (ms > max_millis)
        fail(quoted(key) + " must be at most " + std::to_string(max_millis) + " (milliseconds)");
    return Millis(static_cast<Millis::rep>(ms));
}

double as_rate(std::string_view key, const Value &v) {
    if (!v.IsNumber() || v.GetDouble() < 0 || v.GetDouble() > 1)
        fail(quoted(key) + " must be a number between 0 and 1");
    return v.GetDouble();
}

bool as_bool(std::string_view key, const Value &v) {
    if (!v.IsBool())
        fail(quoted(key) + " must be true or false");
    return v.GetBool();
}

std::optional<Op> op_named(std::string_view name) {
    for (std::size_t i = 0; i < op_count; ++i)
        if (name == op_name(static_cast<Op>(i)))
            return static_cast<Op>(i);
    return std::nullopt;
}

std::array<bool, op_count> as_op_set(const Value &v) {
    if (!v.IsArray())
        fail("\"throw_in\" must be an array of operation names");
    std::array<bool, op_count> ops{};
    for (const Value &item : v.GetArray()) {
        if (!item.IsString())
            fail("\"throw_in\" must be an array of operation names");
        const std::string name(item.GetString(), item.GetStringLength());
        const auto op = op_named(name);
        if (!op)
            fail("\"throw_in\": unknown operation " + quoted(name) +
                 " (create, instances, destroy, set_tags, tags, address, remote_user, "
                 "verify_host_key, quota_group, price_history)");
        ops[static_cast<std::size_t>(*op)] = true;
    }
    return ops;
}

CapacityFault as_capacity_fault(std::size_t index, const Value &v) {
    const std::string where = "capacity_errors[" + std::to_string(index) + "]";
    if (!v.IsObject())
        fail(quoted(where) + " must be an object");
    CapacityFault fault;
    bool has_type = false;
    for (const auto &member : v.GetObject()) {
        const std::string key(member.name.GetString(), member.name.GetStringLength());
        const std::string field = where + "." + key;
        if (key == "provider_type") {
            fault.provider_type = as_string(field, member.value);
            has_type = true;
        } else if (key == "scope") {
            const std::string scope = as_string(field, member.value);
            if (scope == "instance_type")
                fault.scope = sdk::CapacityScope::instance_type;
            else if (scope == "quota_group")
                fault.scope = sdk::CapacityScope::quota_group;
            else if (scope == "all_types")
                fault.scope = sdk::CapacityScope::all_types;
            else
                fail(quoted(field) +
                     " must be \"instance_type\", \"quota_group\" or \"all_types\"");
        } else if (key == "quota") {
            fault.also_quota = as_bool(field, member.value);
        } else {
            fail("unknown key " + quoted(field));
        }
    }
    if (!has_type)
        fail(quoted(where) + " lacks \"provider_type\"");
    return fault;
}

std::vector<CapacityFault> as_capacity_faults(const Value &v) {
    if (!v.IsArray())
        fail("\"capacity_errors\" must be an array of objects");
    std::vector<CapacityFault> faults;
    std::size_t index = 0;
    for (const Value &item : v.GetArray())
        faults.push_back(as_capacity_fault(index++, item));
    return faults;
}

void apply(StubConfig &config, std::string_view key, const Value &v) {
    if (key == "cloud")
        config.cloud = as_string(key, v);
    else if (key == "state_dir") {
        config.state_dir = as_string(key, v);
        // Not <filesystem>: its std::quoted would hijack quoted() here by ADL.
        if (config.state_dir.empty() || config.state_dir.front() != '/' ||
            config.state_dir.find('\0') != std::string::npos)
            fail("\"state_dir\" must be an absolute path");
    } else if (key == "api_token")
        config.api_token = as_string(key, v);
    else if (key == "seed")
        config.seed = as_uint(key, v);
    else if (key == "error_rate_create")
        config.error_rate_create = as_rate(key, v);
    else if (key == "error_rate_destroy")
        config.error_rate_destroy = as_rate(key, v);
    else if (key == "error_rate_instances")
        config.error_rate_instances = as_rate(key, v);
    else if (key == "error_rate_set_tags")
        config.error_rate_set_tags = as_rate(key, v);
    else if (key == "min_time_between_create_calls_ms")
        config.min_time_between_create_calls = as_millis(key, v);
    else if (key == "min_time_between_instances_calls_ms")
        config.min_time_between_instances_calls = as_millis(key, v);
    else if (key == "rate_limit_create_for_ms")
        config.rate_limit_create_for = as_millis(key, v);
    else if (key == "quota_max_instances")
        config.quota_max_instances = as_uint(key, v);
    else if (key == "capacity_errors")
        config.capacity_errors = as_capacity_faults(v);
    else if (key == "hold_fifo") {
        config.hold_fifo = as_string(key, v);
        if (config.hold_fifo.empty())
            fail("\"hold_fifo\" must be a non-empty path");
    } else if (key == "boot_delay_ms")
        config.boot_delay = as_millis(key, v);
    else if (key == "break_after_ms")
        config.break_after = as_millis(key, v);
    else if (key == "list_lag_ms")
        config.list_lag = as_millis(key, v);
    else if (key == "stale_tags_ms")
        config.stale_tags = as_millis(key, v);
    else if (key == "destroy_delay_ms")
        config.destroy_delay = as_millis(key, v);
    else if (key == "ssh_port") {
        const uint64_t port = as_uint(key, v);
        if (port == 0 || port > 65535)
            fail("\"ssh_port\" must be between 1 and 65535");
        config.ssh_port = static_cast<uint16_t>(port);
    } else if (key == "host_key")
        config.host_key = as_string(key, v);
    else if (key == "throw_in")
        config.throw_in = as_op_set(v);
    else if (key == "filter_ignored")
        config.filter_ignored = as_bool(key, v);
    else if (key == "instances_for_bench")
        config.instances_for_bench = as_uint(key, v);
    else
        fail("unknown key " + quoted(key));
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
    StubConfig config;
    if (json.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return config;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError())
        fail("invalid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
             rapidjson::GetParseError_En(doc.GetParseError()));
    if (!doc.IsObject())
        fail("must be a JSON object");
    std::set<std::string, std::less<>> seen;
    for (const auto &member : doc.GetObject()) {
        const std::string key(member.name.GetString(), member.name.GetStringLength());
        if (!seen.insert(key).second)
            fail("duplicate key " + quoted(key));
        apply(config, key, member.value);
    }
    // The cloud names a directory under state_dir: never a path that leaves it.
    if (!config.state_dir.empty() &&
        (config.cloud.empty() || config.cloud == "." || config.cloud == ".." ||
         config.cloud.find_first_of(std::string_view("/\0", 2)) != std::string::npos))
        fail("\"cloud\" must be a file name (no \"/\", not \".\" or \"..\") with \"state_dir\"");
    if (config.api_token && config.state_dir.empty())
        fail("\"api_token\" needs \"state_dir\" (tokens are checked against "
             "<state_dir>/valid_tokens)");
    return config;
}

} // namespace cloudhost::stub
