#include "loopback_config.hpp"

#include "state_files.hpp"

#include <cloudhost/driver_sdk.hpp>

#include <pwd.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstdlib>
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

InvalidConfigError wrong_type(const std::string &key, const char *expected) {
    return InvalidConfigError(std::string(where) + ": \"" + key + "\" must be " + expected);
}

std::string non_empty_string(const rapidjson::Value &value, const std::string &key) {
    if (!value.IsString() || value.GetStringLength() == 0)
        throw wrong_type(key, "a non-empty string");
    return {value.GetString(), value.GetStringLength()};
}

bool boolean(const rapidjson::Value &value, const std::string &key) {
    if (!value.IsBool())
        throw wrong_type(key, "true or false");
    return value.GetBool();
}

} // namespace

LoopbackConfig parse_config(std::string_view json) {
    LoopbackConfig config;
    fs::path server_path;
    // No parameters at all, or JSON null: every default.
    if (const auto text = trim(json); !text.empty() && text != "null") {
        rapidjson::Document document;
        document.Parse(json.data(), json.size());
        if (document.HasParseError())
            throw InvalidConfigError(std::string(where) + ": invalid JSON at offset " +
                                     std::to_string(document.GetErrorOffset()) + ": " +
                                     rapidjson::GetParseError_En(document.GetParseError()));
        if (!document.IsObject())
            throw InvalidConfigError(std::string(where) + ": expected a JSON object");
        for (const auto &member : document.GetObject()) {
            const std::string key(member.name.GetString(), member.name.GetStringLength());
            const auto &value = member.value;
            if (key == "state_dir") {
                config.state_dir = non_empty_string(value, key);
            } else if (key == "max_instances") {
                if (!value.IsUint() || value.GetUint() < 1 || value.GetUint() > max_instances_limit)
                    throw wrong_type(key, "an integer from 1 to 100000");
                config.max_instances = value.GetUint();
            } else if (key == "verify_host_key") {
                config.verify_host_key = boolean(value, key);
            } else if (key == "skip_init_command") {
                config.skip_init_command = boolean(value, key);
            } else if (key == "server_path") {
                server_path = non_empty_string(value, key);
            } else {
                throw InvalidConfigError(std::string(where) + ": unknown key \"" + key +
                                         "\" (known: state_dir, max_instances, verify_host_key, "
                                         "skip_init_command, server_path)");
            }
        }
    }
    if (config.state_dir.empty())
        config.state_dir = default_state_dir();
    // Servers run in their instance directories: every path must be absolute.
    config.state_dir = fs::absolute(config.state_dir).lexically_normal();
    config.server_path = fs::absolute(find_server(server_path));
    return config;
}

} // namespace cloudhost::loopback
