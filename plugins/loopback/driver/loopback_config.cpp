#include "loopback_config.hpp"

#include "state_files.hpp"

#include <cloudhost/driver_sdk.hpp>
#include <cloudhost/driver_sdk_config.hpp>

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace cloudhost::loopback {
namespace {

namespace fs = std::filesystem;
using sdk::InvalidConfigError;

constexpr const char *where = "loopback driver config";
constexpr uint32_t max_instances_limit = 100000;

std::filesystem::path home_directory() {
    if (const char *home = std::getenv("HOME"); home && *home)
        return home;
    if (const passwd *user = getpwuid(geteuid()))
        return user->pw_dir;
    throw InvalidConfigError(std::string(where) +
                             ": no \"state_dir\" given and no home directory to default to");
}

// Same order as the host's state directory (XDG first, so that one
// XDG_STATE_HOME isolates a whole cloudhost setup, root's included).
fs::path default_state_dir() {
    if (const char *state = std::getenv("XDG_STATE_HOME"); state && *state == '/')
        return fs::path(state) / "cloudhost" / "loopback";
    if (geteuid() == 0)
        return "/var/lib/cloudhost/loopback";
    return home_directory() / ".local" / "state" / "cloudhost" / "loopback";
}

bool is_executable(const fs::path &path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

fs::path find_server(const fs::path &configured) {
    auto checked = [](const fs::path &path, const std::string &origin) {
        if (!is_executable(path))
            throw InvalidConfigError(std::string(where) + ": " + origin + " " + path.string() +
                                     " is not an executable file");
        return path;
    };
    if (!configured.empty())
        return checked(configured, "\"server_path\"");
    if (const char *env = std::getenv("CLOUDHOST_LOOPBACK_SERVER"); env && *env)
        return checked(env, "CLOUDHOST_LOOPBACK_SERVER");
    if (is_executable(CLOUDHOST_LOOPBACK_SERVER_INSTALLED))
        return CLOUDHOST_LOOPBACK_SERVER_INSTALLED;
    if (is_executable(CLOUDHOST_LOOPBACK_SERVER_BUILT))
        return CLOUDHOST_LOOPBACK_SERVER_BUILT;
    throw InvalidConfigError(
        std::string(where) + ": cloudhost-loopback-server not found (looked at " +
        CLOUDHOST_LOOPBACK_SERVER_INSTALLED " and " +
        CLOUDHOST_LOOPBACK_SERVER_BUILT "); set \"server_path\" or CLOUDHOST_LOOPBACK_SERVER");
}

// The keys as written; parse_config completes them.
struct LoopbackParameters {
    std::string state_dir;
    uint32_t max_instances = 64;
    bool verify_host_key = true;
    bool skip_init_command = false;
    std::string server_path;
};

std::optional<std::string> not_empty(const std::string &value) {
    if (value.empty())
        return "must be a non-empty string";
    return std::nullopt;
}

// [guide:config-schema]
const sdk::ConfigSchema<LoopbackParameters> &schema() {
    static const auto keys =
        sdk::ConfigSchema<LoopbackParameters>(where)
            .string("state_dir", &LoopbackParameters::state_dir, sdk::Presence::optional, not_empty)
            .integer("max_instances", &LoopbackParameters::max_instances, uint32_t(1),
                     max_instances_limit)
            .boolean("verify_host_key", &LoopbackParameters::verify_host_key)
            .boolean("skip_init_command", &LoopbackParameters::skip_init_command)
            .string("server_path", &LoopbackParameters::server_path, sdk::Presence::optional,
                    not_empty);
    return keys;
}
// [/guide:config-schema]

} // namespace

LoopbackConfig parse_config(std::string_view json) {
    // No parameters at all, or JSON null: every default.
    const LoopbackParameters parameters = schema().parse(json);
    LoopbackConfig config;
    config.state_dir =
        parameters.state_dir.empty() ? default_state_dir() : fs::path(parameters.state_dir);
    config.max_instances = parameters.max_instances;
    config.verify_host_key = parameters.verify_host_key;
    config.skip_init_command = parameters.skip_init_command;
    // Servers run in their instance directories: every path must be absolute.
    config.state_dir = fs::absolute(config.state_dir).lexically_normal();
    config.server_path = fs::absolute(find_server(parameters.server_path));
    return config;
}

} // namespace cloudhost::loopback
