// What every cloudhost command needs, built lazily from the global options:
// the config, the driver catalog, the InstanceSet and SSH access to
// instances with host verification.
#pragma once

#include "cloudhost/catalog.hpp"
#include "cloudhost/config.hpp"
#include "cloudhost/instance_set.hpp"
#include "json_output.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {
class SshExecutor;
class SshKey;
} // namespace cloudhost

namespace cloudhost::cli {

// Bad usage or bad input: exit status 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// CLOUDHOST_DRIVER_PATH split at ':' (empty parts dropped); nothing when it
// is unset or empty, and nothing in a setuid or otherwise elevated process:
// a user-supplied search path must not choose the code such a process
// loads. secure_getenv returns null when the kernel marked the exec secure
// (AT_SECURE: set-user-ID, set-group-ID, file capabilities). Inline so that
// tests/trust can run this very code in a setuid probe without libcloudhost.
inline std::optional<std::vector<std::filesystem::path>> driver_path_from_environment() {
    const char *env = secure_getenv("CLOUDHOST_DRIVER_PATH");
    if (!env || !*env)
        return std::nullopt;
    std::vector<std::filesystem::path> dirs;
    for (std::string_view list(env); !list.empty();) {
        const auto colon = list.find(':');
        if (!list.substr(0, colon).empty())
            dirs.emplace_back(list.substr(0, colon));
        if (colon == std::string_view::npos)
            break;
        list.remove_prefix(colon + 1);
    }
    return dirs;
}

// Exit statuses of the command line contract.
enum ExitStatus { exit_ok = 0, exit_failed = 1, exit_usage = 2 };

struct GlobalOptions {
    std::string config_file;
    std::vector<std::string> driver_dirs;
    std::string log_level = "warn";
    std::string log_format = "text";
};

class CliContext {
  public:
    explicit CliContext(const GlobalOptions &options);
    ~CliContext();

    const GlobalOptions &options() const { return options_; }
    void init_logging() const;

    const Config &config();
    // --driver-dir > CLOUDHOST_DRIVER_PATH > config driver_dirs > defaults.
    std::vector<std::filesystem::path> driver_dirs();
    Catalog &catalog();
    InstanceSet &instance_set();
    // The config's InstanceSet parameters (driver parameters, id, tags,
    // limits, isolation as configured: "auto" is resolved by open_set).
    InstanceSetOptions instance_set_options();
    InstanceSetOptions instance_set_options_for(const Config &config) const;
    // Loads the configured driver and opens a set with `options`, in the
    // isolation its file's verdict calls for; throws as Catalog::load and
    // InstanceSet::open do (instance_set() makes those UsageErrors).
    InstanceSet open_set(InstanceSetOptions options);

    // The key deployed to new instances, or none when deploy_public_key is off.
    std::optional<std::string> deploy_public_key();
    // Create with the instance secret (tag + InitCommand) and the standard tags.
    Instance create_instance(const InstanceType &type, const std::string &image_id,
                             const Tags &tags, const std::string &init_command);
    // The instance of this InstanceSetID with that id; UsageError otherwise.
    Instance find_instance(const std::string &id);
    // Runs `command` on the instance over SSH after verifying its host key
    // (driver VerifyHostKey, else the instance secret). One connection per
    // instance, reused.
    CommandOutput run_on(const Instance &instance, const std::string &secret,
                         const std::string &command, const Tags &env,
                         const std::string &stdin_data);
    std::string secret_of(const Instance &instance);
    // What output may show of tags (json_output.hpp).
    SecretTags secret_tags(bool show_secrets);
    Tags instance_set_filter();

  private:
    const SshKey &ssh_key();

    const GlobalOptions &options_;
    std::optional<Config> config_;
    std::unique_ptr<Catalog> catalog_;
    InstanceSet set_;
    std::unique_ptr<SshKey> key_;
    std::mutex executors_mutex_;
    std::map<std::string, std::shared_ptr<SshExecutor>> executors_;
};

} // namespace cloudhost::cli
