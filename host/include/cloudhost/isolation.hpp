// Where a driver's code runs: in the host process ("none"), in a
// cloudhost-driver-host helper process per instance set ("process"), or
// decided by the catalog's trust verdict ("auto": in process only when the
// file's digest is listed or its signature verified).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cloudhost {

class Catalog;
class DriverLibrary;
struct DriverFile;

enum class IsolationMode { none, process, automatic };

// "none" | "process" | "auto"; throws InvalidConfigError naming the value.
IsolationMode parse_isolation_mode(std::string_view text);
const char *isolation_mode_name(IsolationMode mode) noexcept;

// The mode `file` runs in under `mode`: automatic becomes process unless the
// verdict is "digest listed" or "signed by ..." (host/lib/catalog/trust.cpp).
IsolationMode resolve_isolation(IsolationMode mode, const DriverFile &file);
// The mode `library`, loaded by `catalog`, runs in: the verdict on its file
// from a fresh scan, found by content (private copies are named by their
// SHA-256). A file gone since the load counts as unvouched (process).
IsolationMode resolve_isolation(IsolationMode mode, const Catalog &catalog,
                                const DriverLibrary &library);

struct IsolationSettings {
    // InstanceSet::open has no catalog verdict: automatic runs in process
    // there; the CLI and HotSwappableInstanceSet resolve it first.
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
