// The stub driver's knobs, parsed from the InstanceSet config JSON.
#pragma once

#include "cloudhost/driver_sdk.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::stub {

using Millis = std::chrono::milliseconds;

// Driver entry points, as named in the "stub call" log records and in the
// `throw_in` knob.
enum class Op : std::size_t {
    create,
    instances,
    destroy,
    set_tags,
    tags,
    address,
    remote_user,
    verify_host_key,
    quota_group,
    price_history,
    count_
};
inline constexpr std::size_t op_count = static_cast<std::size_t>(Op::count_);
const char *op_name(Op op) noexcept;

// Create of `provider_type` fails with a CapacityError of this scope.
struct CapacityFault {
    std::string provider_type;
    sdk::CapacityScope scope = sdk::CapacityScope::instance_type;
    bool also_quota = false;
};

struct StubConfig {
    std::string cloud = "default";
    // Empty: the cloud lives in this loaded copy's memory. Otherwise an
    // absolute directory: the cloud's VMs are files in <state_dir>/<cloud>/,
    // seen by every loaded copy of the stub and every process using the same
    // directory (see file_cloud.hpp). Its VMs take boot_delay, break_after,
    // list_lag, stale_tags, ssh_port and host_key from the config of the set
    // that reads them (files hold cloud state only); in memory, from the set
    // that created them. `cloud` must then be one path component.
    std::string state_dir;
    uint64_t seed = 1;
    // Present: every call (and the set's creation) fails unless this token
    // is a line of <state_dir>/valid_tokens, as a cloud checks credentials.
    std::optional<std::string> api_token;

    double error_rate_create = 0;
    double error_rate_destroy = 0;
    double error_rate_instances = 0;
    double error_rate_set_tags = 0;

    Millis min_time_between_create_calls{0};
    Millis min_time_between_instances_calls{0};
    Millis rate_limit_create_for{0};
    std::optional<uint64_t> quota_max_instances;
    std::vector<CapacityFault> capacity_errors;

    std::string hold_fifo; // empty: calls are not held

    Millis boot_delay{0};
    std::optional<Millis> break_after; // absent: never breaks
    Millis list_lag{0};
    Millis stale_tags{0};
    Millis destroy_delay{0};

    uint16_t ssh_port = 22;
    std::optional<std::string> host_key; // absent: VerifyHostKey is not implemented

    std::array<bool, op_count> throw_in{};
    bool filter_ignored = true;
    uint64_t instances_for_bench = 0;
};

// Parsed with the SDK config helper (cloudhost/driver_sdk_config.hpp): throws
// sdk::InvalidConfigError with one line naming the line, column, key and the
// rule broken, e.g. `stub config:1:2: unknown key "x" (known: ...)`. An empty
// text or null means `{}`.
StubConfig parse_stub_config(std::string_view json);

} // namespace cloudhost::stub
