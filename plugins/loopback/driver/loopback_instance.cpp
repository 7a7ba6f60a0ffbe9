#include "loopback_instance.hpp"

#include "server_process.hpp"
#include "state_files.hpp"

#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <system_error>
#include <vector>

namespace cloudhost::loopback {
namespace {

namespace fs = std::filesystem;

// How long the server gets to stop its connections and commands.
constexpr auto server_stop_grace = std::chrono::milliseconds(2000);

// "TYPE BASE64" of an OpenSSH public key line, without the comment.
std::string key_type_and_data(std::string_view line) {
    std::istringstream fields{std::string(line)};
    std::string type, data;
    fields >> type >> data;
    return type + " " + data;
}

std::string random_suffix() {
    static std::atomic<unsigned> counter{0};
    return std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

} // namespace

LoopbackInstance::LoopbackInstance(std::shared_ptr<const LoopbackConfig> config, sdk::Logger logger,
                                   fs::path directory, InstanceMeta meta, sdk::Tags tags,
                                   std::string tags_problem)
    : config_(std::move(config)), logger_(logger), directory_(std::move(directory)),
      id_(directory_.filename().string()), meta_(std::move(meta)), last_tags_(std::move(tags)),
      tags_problem_(std::move(tags_problem)) {}

sdk::Tags LoopbackInstance::tags() const {
    const fs::path path = directory_ / state_file::tags;
    std::lock_guard lock(mutex_);
    try {
        if (const auto json = read_file_if_exists(path))
            last_tags_ = tags_from_json(*json, path.string());
        else if (fs::exists(directory_))
            throw sdk::Error(path.string() + " is missing");
        tags_problem_.clear();
    } catch (const std::exception &e) {
        // The instance stays visible with what is known (the tags it was
        // listed or created with); the problem goes to the log, once.
        if (tags_problem_ != e.what())
            logger_.warn("unreadable loopback tags; using the last known ones",
                         {{"instance", id_}, {"error", e.what()}});
        tags_problem_ = e.what();
    }
    return last_tags_;
}

void LoopbackInstance::set_tags(const sdk::Tags &tags) {
    if (!fs::exists(directory_))
        throw sdk::Error("loopback: instance " + id_ + " no longer exists");
    try {
        write_file_atomically(directory_ / state_file::tags, tags_to_json(tags));
    } catch (const std::system_error &e) {
        throw sdk::Error("loopback: cannot set the tags of " + id_ + ": " + e.what());
    }
    std::lock_guard lock(mutex_);
    last_tags_ = tags;
    tags_problem_.clear();
}

void LoopbackInstance::destroy() {
    // Throws when server.lock is held by a process that cannot be confirmed
    // as the server: the directory stays, so the instance stays visible.
    if (const auto server = running_server(directory_)) {
        if (!stop_server(*server, server_stop_grace))
            throw sdk::Error("loopback: cannot stop the server of " + id_ + " (pid " +
                             std::to_string(server->pid) + "); keeping " + directory_.string());
        logger_.info("stopped loopback server", {{"instance", id_}});
    }
    if (server_lock_state(directory_) == LockState::held)
        throw sdk::Error("loopback: the server of " + id_ + " still holds " +
                         (directory_ / state_file::server_lock).string() + "; keeping " +
                         directory_.string());
    // Rename first so that listings in other processes never see a half
    // removed instance; a concurrent or repeated Destroy finds it gone.
    const fs::path doomed = config_->state_dir / (".destroyed-" + id_ + "-" + random_suffix());
    std::error_code ec;
    fs::rename(directory_, doomed, ec);
    if (ec == std::errc::no_such_file_or_directory)
        return;
    if (ec)
        throw sdk::Error("loopback: cannot remove " + directory_.string() + ": " + ec.message());
    fs::remove_all(doomed, ec);
    if (ec)
        throw sdk::Error("loopback: cannot remove " + doomed.string() + ": " + ec.message());
    logger_.info("destroyed loopback instance", {{"instance", id_}});
}

std::string LoopbackInstance::address() const {
    const auto address = read_file_if_exists(directory_ / state_file::address);
    return address ? std::string(trim(*address)) : std::string();
}

std::string LoopbackInstance::remote_user() const {
    const uid_t uid = geteuid();
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd *result = nullptr;
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &result) == 0 && result)
        return result->pw_name;
    return std::to_string(uid); // a uid without a passwd entry (containers)
}

void LoopbackInstance::verify_host_key(const std::string &public_key, const sdk::CommandRunner *) {
    if (!config_->verify_host_key)
        throw sdk::NotImplementedError("not implemented: loopback driver configured with "
                                       "\"verify_host_key\": false");
    const auto known = read_file_if_exists(directory_ / state_file::host_key_pub);
    if (!known) {
        if (!fs::exists(directory_))
            throw sdk::Error("loopback: instance " + id_ + " no longer exists");
        throw sdk::Error("loopback: instance " + id_ + " is booting: it has no host key yet");
    }
    if (key_type_and_data(trim(public_key)) != key_type_and_data(trim(*known)))
        throw sdk::Error("loopback: host key mismatch for instance " + id_);
}

std::shared_ptr<LoopbackInstance> load_instance(std::shared_ptr<const LoopbackConfig> config,
                                                sdk::Logger logger, const fs::path &directory) {
    // A directory is renamed into place complete, and renamed away before it
    // is removed: a missing or broken file inside one that exists is
    // damage, and the instance is listed with what can be read (its server
    // may be running, and it counts against max_instances).
    std::string problem;
    auto read = [&](const char *name, auto parse) -> decltype(parse(std::string(), fs::path())) {
        const fs::path path = directory / name;
        try {
            if (const auto json = read_file_if_exists(path))
                return parse(*json, path);
            if (!fs::exists(directory))
                return std::nullopt; // destroyed meanwhile
            throw sdk::Error(path.string() + " is missing");
        } catch (const std::exception &e) {
            problem = e.what();
            logger.warn("unreadable loopback instance file; listing the instance with what "
                        "can be read",
                        {{"instance", directory.filename().string()}, {"error", e.what()}});
            return std::nullopt;
        }
    };
    auto meta = read(state_file::meta, [](const std::string &json, const fs::path &path) {
        return std::optional(meta_from_json(json, path.string()));
    });
    problem.clear();
    auto tags = read(state_file::tags, [](const std::string &json, const fs::path &path) {
        return std::optional(tags_from_json(json, path.string()));
    });
    std::error_code ec;
    if (!fs::is_directory(directory, ec))
        return nullptr;
    if (!meta) {
        meta.emplace();
        meta->provider_type = unknown_provider_type;
    }
    if (!tags)
        tags = meta->tags_at_create;
    return std::make_shared<LoopbackInstance>(std::move(config), logger, directory,
                                              std::move(*meta), std::move(*tags), problem);
}

} // namespace cloudhost::loopback
