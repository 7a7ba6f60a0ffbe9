#include "loopback_instance_set.hpp"

#include "loopback_instance.hpp"
#include "private_dir.hpp"
#include "server_process.hpp"
#include "state_files.hpp"
#include "state_json.hpp"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <sstream>
#include <system_error>

namespace cloudhost::loopback {
namespace {

namespace fs = std::filesystem;

// flock() on <state_dir>/.lock for the life of the object: serialises
// Creates across threads (each open() is its own lock owner) and processes.
class StateDirLock {
  public:
    explicit StateDirLock(const fs::path &state_dir) {
        const fs::path path = state_dir / state_file::lock;
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0)
            throw sdk::Error("loopback: cannot open " + path.string() + ": " +
                             std::strerror(errno));
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno != EINTR) {
                const int error = errno;
                ::close(fd_);
                throw sdk::Error("loopback: cannot lock " + path.string() + ": " +
                                 std::strerror(error));
            }
        }
    }
    ~StateDirLock() { ::close(fd_); } // releases the lock
    StateDirLock(const StateDirLock &) = delete;
    StateDirLock &operator=(const StateDirLock &) = delete;

  private:
    int fd_ = -1;
};

std::string new_instance_id() {
    unsigned char bytes[6];
    size_t filled = 0;
    while (filled < sizeof bytes) {
        const ssize_t n = getrandom(bytes + filled, sizeof bytes - filled, 0);
        if (n < 0 && errno != EINTR)
            throw sdk::Error(std::string("loopback: getrandom: ") + std::strerror(errno));
        if (n > 0)
            filled += static_cast<size_t>(n);
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(instance_id_prefix);
    for (unsigned char b : bytes) {
        id += hex[b >> 4];
        id += hex[b & 0xf];
    }
    return id;
}

std::string now_rfc3339() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

// An authorized_keys line libssh can read, so a typo fails Create instead of
// producing an instance nobody can log in to.
void check_public_key(const std::string &line) {
    std::istringstream fields(line);
    std::string type, data;
    fields >> type >> data;
    ssh_key key = nullptr;
    const ssh_keytypes_e key_type = ssh_key_type_from_name(type.c_str());
    if (key_type == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(data.c_str(), key_type, &key) != SSH_OK)
        throw sdk::InvalidConfigError(
            "loopback: the public key is not an OpenSSH public key line (\"TYPE BASE64\")");
    ssh_key_free(key);
}

// The instance directories that meet the rule of private_dir.hpp; any
// other is skipped with a warning naming it and the rule: another user's
// directory is never listed, counted, run or destroyed.
std::vector<fs::path> instance_directories(const fs::path &state_dir, const sdk::Logger &logger) {
    if (const auto problem = state_dir_problem(state_dir))
        throw sdk::Error("loopback: refusing the state directory: " + *problem);
    std::vector<fs::path> directories;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(state_dir, ec)) {
        if (!is_instance_id(entry.path().filename().string()))
            continue;
        if (const auto problem = instance_dir_problem(entry.path())) {
            logger.warn("skipping a loopback instance directory that breaks the ownership rule",
                        {{"problem", *problem}});
            continue;
        }
        directories.push_back(entry.path());
    }
    if (ec)
        throw sdk::Error("loopback: cannot list " + state_dir.string() + ": " + ec.message());
    return directories;
}

bool has_tags(const sdk::Tags &tags, const sdk::Tags &filter) {
    for (const auto &[key, value] : filter) {
        const auto it = tags.find(key);
        if (it == tags.end() || it->second != value)
            return false;
    }
    return true;
}

} // namespace

LoopbackInstanceSet::LoopbackInstanceSet(const sdk::InstanceSetArgs &args)
    : instance_set_id_(args.instance_set_id), logger_(args.logger) {
    auto config = std::make_shared<LoopbackConfig>(parse_config(args.config_json));
    std::error_code ec;
    const bool created = fs::create_directories(config->state_dir, ec);
    if (ec || !fs::is_directory(config->state_dir))
        throw sdk::InvalidConfigError(
            "loopback driver config: state directory " + config->state_dir.string() +
            " cannot be created: " + (ec ? ec.message() : "not a directory"));
    // Instances keep host keys and instance secrets: owner only. A directory
    // the operator made is left as it is.
    if (created)
        fs::permissions(config->state_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (const auto problem = state_dir_problem(config->state_dir))
        throw sdk::InvalidConfigError("loopback driver config: refusing the state directory: " +
                                      *problem);
    config_ = std::move(config);
    const auto launches = args.metrics.counter(
        "server_launches_total", "Instance servers started by Create, by outcome.", {"outcome"});
    launches_ok_ = launches.labels({"ok"});
    launches_failed_ = launches.labels({"error"});
    // A launch waits for the server to listen: milliseconds, rarely seconds.
    launch_seconds_ = args.metrics
                          .histogram("server_launch_seconds",
                                     "Time from starting an instance server to it listening.", {},
                                     {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
                          .labels();
    listed_ =
        args.metrics.gauge("instances", "Instance directories the last Instances() call listed.")
            .labels();
    logger_.debug("loopback instance set ready", {{"state_dir", config_->state_dir.string()},
                                                  {"server", config_->server_path.string()}});
}

std::shared_ptr<sdk::Instance>
LoopbackInstanceSet::create(const sdk::InstanceType &type, const std::string &image_id,
                            const sdk::Tags &tags, const std::string &init_command,
                            const std::optional<std::string> &public_key) {
    if (!public_key || trim(*public_key).empty())
        throw sdk::InvalidConfigError("loopback: Create needs a public key: the instance only "
                                      "accepts that key, so without one nobody could log in");
    check_public_key(*public_key);

    InstanceMeta meta;
    meta.provider_type = !type.provider_type.empty() ? type.provider_type
                         : !type.name.empty()        ? type.name
                                                     : "localhost";
    meta.instance_type = type.name;
    meta.image_id = image_id;
    meta.created_at = now_rfc3339();
    meta.instance_set_id = instance_set_id_;
    meta.tags_at_create = tags;

    StateDirLock lock(config_->state_dir);
    const size_t existing = instance_directories(config_->state_dir, logger_).size();
    if (existing >= config_->max_instances)
        throw sdk::QuotaError("loopback: at the maximum of " +
                              std::to_string(config_->max_instances) + " instances in " +
                              config_->state_dir.string() +
                              " (every instance directory there counts, listed or not)");

    const std::string id = new_instance_id();
    const fs::path staging = config_->state_dir / (".new-" + id);
    const fs::path directory = config_->state_dir / id;
    std::error_code ec;
    try {
        fs::create_directory(staging);
        fs::permissions(staging, fs::perms::owner_all, fs::perm_options::replace);
        write_file_atomically(staging / state_file::authorized_key,
                              std::string(trim(*public_key)) + "\n");
        if (!config_->skip_init_command && !trim(init_command).empty())
            write_file_atomically(staging / state_file::init_command, init_command + "\n");
        write_file_atomically(staging / state_file::tags, tags_to_json(tags));
        write_file_atomically(staging / state_file::meta, meta_to_json(meta));
        // Appears complete or not at all to listings in other processes.
        fs::rename(staging, directory);
    } catch (const std::exception &e) {
        fs::remove_all(staging, ec);
        throw sdk::Error(std::string("loopback: cannot create an instance: ") + e.what());
    }
    const auto launch_started = std::chrono::steady_clock::now();
    try {
        launch_server(config_->server_path, directory);
    } catch (...) {
        launches_failed_.inc();
        fs::remove_all(directory, ec);
        throw;
    }
    launches_ok_.inc();
    launch_seconds_.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - launch_started).count());
    if (config_->skip_init_command && !trim(init_command).empty())
        logger_.warn("InitCommand skipped as configured (skip_init_command)", {{"instance", id}});
    logger_.info("created loopback instance",
                 {{"instance", id}, {"provider_type", meta.provider_type}});
    return std::make_shared<LoopbackInstance>(config_, logger_, directory, std::move(meta), tags);
}

std::vector<std::shared_ptr<sdk::Instance>>
LoopbackInstanceSet::instances(const sdk::Tags &filter) {
    std::vector<std::shared_ptr<sdk::Instance>> found;
    for (const auto &directory : instance_directories(config_->state_dir, logger_)) {
        std::shared_ptr<LoopbackInstance> instance;
        try {
            instance = load_instance(config_, logger_, directory);
        } catch (const std::exception &e) {
            // One corrupt directory must not hide every other instance.
            logger_.warn("skipping unreadable loopback instance", {{"error", e.what()}});
            continue;
        }
        if (instance && has_tags(instance->tags(), filter))
            found.push_back(std::move(instance));
    }
    listed_.set(double(found.size()));
    return found;
}

} // namespace cloudhost::loopback
