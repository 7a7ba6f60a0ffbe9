// The cloudhost configuration file (JSON), as read by the CLI and offered to
// dispatchers that want the same file format.
//
// Unknown keys, wrong types and bad values are errors whose message starts
// with "FILE:LINE:COLUMN: " and names the key; nothing is half-applied (a
// Config is returned whole or not at all).
#pragma once

#include "cloudhost/export.hpp"
#include "cloudhost/instance_secret_defaults.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/trust.hpp"
#include "cloudhost/types.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {

class CLOUDHOST_API ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct CLOUDHOST_API Timeouts {
    using ms = std::chrono::milliseconds;
    ms boot{std::chrono::minutes(10)}; // Arvados TimeoutBooting
    ms probe_interval{std::chrono::seconds(1)};
    ms sync_interval{std::chrono::seconds(5)};
    ms connect{std::chrono::minutes(1)};
    ms command{0};                       // per exec command; 0 = no limit
    ms destroy{std::chrono::minutes(5)}; // how long cloudtest keeps destroying
};

struct CLOUDHOST_API Config {
    std::string driver = "loopback";
    std::string driver_version;                     // constraint, e.g. ">=1.2 <2"; "" = any
    std::string driver_parameters = "{}";           // raw JSON text, passed verbatim
    std::vector<std::filesystem::path> driver_dirs; // empty = defaults
    std::string instance_set_id = "zzzzz-zzzzz-zzzzzzcloudhost";
    Tags resource_tags; // SharedResourceTags
    std::string tag_key_prefix{default_tag_key_prefix};
    std::map<std::string, InstanceType> instance_types; // by name
    std::string image_id;
    std::filesystem::path ssh_private_key; // empty = generated in the state dir
    std::string ssh_port = "22";
    bool deploy_public_key = true;
    std::string boot_probe_command = "true";
    std::string instance_init_command;
    // Where the tag verifier's InitCommand stores the instance secret. Empty =
    // the driver's default: "instance-secret" (relative to the instance's
    // directory) for loopback, /var/run/cloudhost-instance-secret otherwise.
    std::string instance_secret_path;
    double max_cloud_ops_per_second = 10;
    Timeouts timeouts;
    // "trust": {"policy": "allow-all" | "digest" | "signed", "digests": [hex],
    //           "public_keys": ["ssh-ed25519 AAAA... comment"],
    //           "permissions": "strict" | "off"}
    TrustPolicy trust;
    // "isolation": "none" | "process" | "auto" (default), "isolation_user",
    // "isolation_limits": {"address_space": "4GiB", "open_files": 1024},
    // "timeouts": {"driver_call": "60s", "driver_create": "10m"}.
    IsolationSettings isolation;
    std::filesystem::path source; // the file this came from; empty = embedded

    std::string effective_instance_secret_path() const;
    // The instance type `name`, or ConfigError listing the configured names.
    const InstanceType &instance_type(const std::string &name) const;
    // Cheapest configured type (Arvados cloudtest's default).
    const InstanceType &cheapest_instance_type() const;
};

// Largest config file read (a config with hundreds of instance types is
// tens of KiB); bigger files, and files that are not regular files
// (/dev/zero, FIFOs), are refused before reading.
inline constexpr std::size_t max_config_file_bytes = std::size_t{1} << 20;
// max_cloud_ops_per_second: 0 = no limit, else within these bounds (below
// the minimum one call would wait for hours; 1e6 is beyond any cloud API).
inline constexpr double min_ops_per_second = 0.001;
inline constexpr double max_ops_per_second = 1e6;

// What is wrong with an image id (config "image_id", create --image), or
// nothing: one line, valid UTF-8, no control characters.
CLOUDHOST_API std::optional<std::string> image_id_problem(std::string_view image_id);

// Reads and validates a config file. Throws ConfigError.
CLOUDHOST_API Config load_config(const std::filesystem::path &file);
// Same from text; `file_name` is used in messages.
CLOUDHOST_API Config parse_config(std::string_view text, const std::string &file_name);
// The embedded default: loopback with an auto-detected "localhost" type.
CLOUDHOST_API Config default_config();

// Arvados's synthesised loopback type: vCPUs = CPU count, RAM = MemTotal,
// scratch = size of the temp dir's filesystem, price 1.0.
CLOUDHOST_API InstanceType detect_localhost_instance_type();

// The per-user state directory ($XDG_STATE_HOME/cloudhost,
// ~/.local/state/cloudhost, or /var/lib/cloudhost for root), created 0700.
CLOUDHOST_API std::filesystem::path user_state_dir();

// "90s", "1m30s", "250ms", "2h" or a number of seconds.
CLOUDHOST_API std::chrono::milliseconds parse_duration(std::string_view text);
// "4GiB", "512MB", "1000" (bytes). Binary and decimal units, as Arvados.
CLOUDHOST_API uint64_t parse_byte_size(std::string_view text);

} // namespace cloudhost
