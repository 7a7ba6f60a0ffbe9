#include "cli_context.hpp"

#include "default_paths.hpp"
#include "json_log_format.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace cloudhost::cli {

CliContext::CliContext(const GlobalOptions &options) : options_(options) {}
CliContext::~CliContext() = default;

void CliContext::init_logging() const {
    auto level = spdlog::level::from_str(options_.log_level);
    if (level == spdlog::level::off && options_.log_level != "off")
        throw UsageError("--log-level: unknown level \"" + options_.log_level +
                         "\" (trace, debug, info, warn, error, off)");
    // Logs go to stderr: stdout carries command output and JSON.
    auto logger = spdlog::stderr_logger_mt("cloudhost");
    logger->set_level(level);
    if (options_.log_format == "json")
        logger->set_formatter(make_json_log_formatter());
    else if (options_.log_format == "text")
        logger->set_formatter(make_text_log_formatter());
    else
        throw UsageError("--log-format: must be text or json, not \"" + options_.log_format + "\"");
    spdlog::set_default_logger(logger);
}

const Config &CliContext::config() {
    if (!config_) {
        try {
            config_ =
                options_.config_file.empty() ? default_config() : load_config(options_.config_file);
        } catch (const ConfigError &e) {
            throw UsageError(e.what());
        }
    }
    return *config_;
}

std::vector<std::filesystem::path> CliContext::driver_dirs() {
    std::vector<std::filesystem::path> dirs;
    if (!options_.driver_dirs.empty()) {
        dirs.assign(options_.driver_dirs.begin(), options_.driver_dirs.end());
        return dirs;
    }
    // A user-supplied search path is not honoured in an elevated process.
    if (auto from_environment = driver_path_from_environment())
        return *from_environment;
    if (!config().driver_dirs.empty())
        return config().driver_dirs;
    return default_driver_dirs();
}

Catalog &CliContext::catalog() {
    if (!catalog_) {
        CatalogOptions options;
        options.dirs = driver_dirs();
        options.trust = config().trust;
        catalog_ = std::make_unique<Catalog>(std::move(options));
    }
    return *catalog_;
}

InstanceSet &CliContext::instance_set() {
    if (set_.valid())
        return set_;
    const Config &c = config();
    try {
        set_ = open_set(instance_set_options());
    } catch (const LoadError &e) {
        throw UsageError(std::string("driver \"") + c.driver + "\": " + e.what());
    } catch (const InvalidConfigError &e) {
        throw UsageError((c.source.empty() ? std::string("config") : c.source.string()) + ": " +
                         e.what());
    }
    return set_;
}

InstanceSet CliContext::open_set(InstanceSetOptions options) {
    const Config &c = config();
    // The catalog applies the isolation verdict as it loads: a driver bound
    // for a helper is never mapped here, and InstanceSet::open runs it there.
    auto library = catalog().load(c.driver, c.driver_version, options.isolation.mode);
    return InstanceSet::open(std::move(library), std::move(options));
}

InstanceSetOptions CliContext::instance_set_options() {
    return instance_set_options_for(config());
}

InstanceSetOptions CliContext::instance_set_options_for(const Config &c) const {
    InstanceSetOptions options;
    options.config_json = c.driver_parameters;
    options.instance_set_id = c.instance_set_id;
    options.shared_resource_tags = c.resource_tags;
    options.max_cloud_ops_per_second = c.max_cloud_ops_per_second;
    options.logger = spdlog::default_logger();
    options.isolation = c.isolation;
    return options;
}

Tags CliContext::instance_set_filter() {
    return {{config().tag_key_prefix + "InstanceSetID", config().instance_set_id}};
}

const SshKey &CliContext::ssh_key() {
    if (!key_) {
        const Config &c = config();
        try {
            key_ = std::make_unique<SshKey>(
                c.ssh_private_key.empty()
                    ? SshKey::load_or_generate(user_state_dir() / "id_ed25519")
                    : SshKey::load(c.ssh_private_key));
        } catch (const SshKeyError &e) {
            throw UsageError(e.what());
        }
    }
    return *key_;
}

std::optional<std::string> CliContext::deploy_public_key() {
    if (!config().deploy_public_key)
        return std::nullopt;
    return ssh_key().public_key_openssh();
}

Instance CliContext::create_instance(const InstanceType &type, const std::string &image_id,
                                     const Tags &user_tags, const std::string &init_command) {
    const Config &c = config();
    Tags tags = user_tags;
    tags[c.tag_key_prefix + "InstanceSetID"] = c.instance_set_id;
    tags[c.tag_key_prefix + "InstanceType"] = type.name;
    // The operator's InitCommand, then the flag's; prepare_create puts the
    // secret line first, as the dispatcher and cloudtest do.
    std::string init = c.instance_init_command;
    if (!init_command.empty())
        init += (init.empty() ? "" : "\n") + init_command;
    const PreparedCreate prepared =
        prepare_create(std::move(tags), init, c.tag_key_prefix, c.effective_instance_secret_path());
    return instance_set().create(type, image_id.empty() ? c.image_id : image_id, prepared.tags,
                                 prepared.init_command, deploy_public_key());
}

Instance CliContext::find_instance(const std::string &id) {
    for (auto &inst : instance_set().instances(instance_set_filter()))
        if (inst.id() == id)
            return inst;
    throw UsageError("no instance \"" + id + "\" in instance set " + config().instance_set_id);
}

std::string CliContext::secret_of(const Instance &instance) {
    return secret_from_tags(instance.tags(), config().tag_key_prefix);
}

CommandOutput CliContext::run_on(const Instance &instance, const std::string &secret,
                                 const std::string &command, const Tags &env,
                                 const std::string &stdin_data) {
    const Config &c = config();
    std::shared_ptr<SshExecutor> executor;
    {
        std::lock_guard lock(executors_mutex_);
        auto &slot = executors_[instance.id()];
        if (!slot) {
            SshExecutorOptions options;
            options.default_port = c.ssh_port;
            options.connect_timeout = c.timeouts.connect;
            if (c.timeouts.command.count() > 0)
                options.command_timeout = c.timeouts.command;
            // The Instance handle reads the address live, so an executor
            // made while the instance booted finds it once it is known.
            auto target = std::make_shared<TagVerifier>(std::make_shared<InstanceTarget>(instance),
                                                        secret, c.effective_instance_secret_path());
            slot = std::make_shared<SshExecutor>(std::move(target), ssh_key(), options);
        }
        executor = slot;
    }
    Environment environment(env.begin(), env.end());
    return executor->execute(environment, command, stdin_data);
}

SecretTags CliContext::secret_tags(bool show_secrets) {
    return {config().tag_key_prefix, show_secrets};
}

} // namespace cloudhost::cli
