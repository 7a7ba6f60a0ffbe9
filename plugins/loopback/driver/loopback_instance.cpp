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
                                   fs::path directory, InstanceMeta meta, sdk::Tags tags)
    : config_(std::move(config)), logger_(logger), directory_(std::move(directory)),
      id_(directory_.filename().string()), meta_(std::move(meta)), last_tags_(std::move(tags)) {}

sdk::Tags LoopbackInstance::tags() const {
    const fs::path path = directory_ / state_file::tags;
    const auto json = read_file_if_exists(path);
    std::lock_guard lock(mutex_);
    if (json)
        last_tags_ = tags_from_json(*json, path.string());
    return last_tags_;
}

void LoopbackInstance::set_tags(const sdk::Tags &tags) {
    if (!fs::exists(directory_ / state_file::meta))
        throw sdk::Error("loopback: instance " + id_ + " no longer exists");
    try {
        write_file_atomically(directory_ / state_file::tags, tags_to_json(tags));
    } catch (const std::system_error &e) {
        throw sdk::Error("loopback: cannot set the tags of " + id_ + ": " + e.what());
    }
    std::lock_guard lock(mutex_);
    last_tags_ = tags;
}

void LoopbackInstance::destroy() {
    if (const auto server = running_server(directory_)) {
        stop_server(*server, server_stop_grace);
        logger_.info("stopped loopback server", {{"instance", id_}});
    }
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
    const fs::path meta_path = directory / state_file::meta;
    const fs::path tags_path = directory / state_file::tags;
    const auto meta = read_file_if_exists(meta_path);
    const auto tags = read_file_if_exists(tags_path);
    if (!meta || !tags)
        return nullptr; // destroyed meanwhile
    return std::make_shared<LoopbackInstance>(std::move(config), logger, directory,
                                              meta_from_json(*meta, meta_path.string()),
                                              tags_from_json(*tags, tags_path.string()));
}

} // namespace cloudhost::loopback
