// Where a driver's code runs: in the host process ("none"), in a
// cloudhost-driver-host helper process per instance set ("process"), or
// decided by the catalog's trust verdict ("auto": in process only when the
// file's digest is listed or its signature verified).
#pragma once

#include "cloudhost/export.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cloudhost {

struct DriverFile;

enum class IsolationMode { none, process, automatic };

// "none" | "process" | "auto"; throws InvalidConfigError naming the value.
CLOUDHOST_API IsolationMode parse_isolation_mode(std::string_view text);
CLOUDHOST_API const char *isolation_mode_name(IsolationMode mode) noexcept;

// The mode `file` runs in under `mode`: automatic becomes process unless the
// verdict is "digest listed" or "signed by ..." (host/lib/catalog/trust.cpp).
CLOUDHOST_API IsolationMode resolve_isolation(IsolationMode mode, const DriverFile &file);

struct CLOUDHOST_API IsolationSettings {
    // Catalog::load applies it (a library bound for a helper is left
    // unmapped); InstanceSet::open then runs a mapped library in process and
    // an unmapped one in a helper.
    IsolationMode mode = IsolationMode::automatic;
    std::string user; // setuid to this user in the helper; "" = stay
    // Deadlines of isolated calls: past it, DriverTimeoutError and the
    // helper is killed (an in-process call cannot be cancelled).
    std::chrono::milliseconds driver_call{std::chrono::seconds(60)};
    std::chrono::milliseconds create{std::chrono::minutes(10)};
    std::map<std::string, std::chrono::milliseconds, std::less<>> per_operation; // "Instances", ...
    std::uint64_t max_address_space = 0; // bytes, 0 = unlimited
    std::uint64_t max_open_files = 1024;
};

} // namespace cloudhost
