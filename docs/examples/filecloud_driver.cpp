// filecloud: a driver written with the C++ SDK (cloudhost/driver_sdk.hpp)
// whose "cloud API" is a directory. Its instances come in two kinds, chosen
// by the config:
//  - without "server_program", every instance is one file holding its
//    provider type and tags, in a directory per InstanceSetID (each set
//    lists only its own). Instances outlive the process that created them,
//    like real VMs, and separate `cloudhost create`, `list` and `destroy`
//    runs see each other's work; they never boot.
//  - with "server_program" (the installed cloudhost-loopback-server), every
//    instance is a directory holding that same file plus a real SSH server on
//    127.0.0.1: a child process started with posix_spawn in the directory.
//    It runs the InitCommand, accepts only the given public key, and runs
//    commands as the user the host runs as, so `cloudhost cloudtest`
//    exercises the driver fully. Every instance set of this loaded library
//    shares the machines (each set lists its InstanceSetID's); they are this
//    process's children, so they stop when the last set goes (a real cloud
//    keeps its VMs).
//
// Config (driver_parameters):
//   {"dir": "/absolute/path", "server_program": "PATH"}   (server_program optional)
//
// Built out of tree by tests/out-of-tree/run.sh with nothing but
//   c++ -std=c++20 $(pkg-config --cflags cloudhost-driver) -fPIC -shared ...
// and quoted by docs/driver-guide.md (tests/out-of-tree/check_snippets.py
// checks the quotes).
#include "cloudhost/driver_sdk.hpp"
#include "cloudhost/driver_sdk_config.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

extern char **environ; // handed to the servers we spawn

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cloudhost::sdk::Error;
using cloudhost::sdk::Instance;
using cloudhost::sdk::InstanceSet;
using cloudhost::sdk::InstanceSetArgs;
using cloudhost::sdk::InstanceType;
using cloudhost::sdk::InvalidConfigError;
using cloudhost::sdk::Logger;
using cloudhost::sdk::Tags;

std::string describe_errno(int error) {
    return std::generic_category().message(error);
}

// ---- config ------------------------------------------------------------------

struct Config {
    fs::path dir;            // where the instances live
    fs::path server_program; // empty: instances are files that never boot
};

// The parameters, declared once: the SDK's config helper parses them and
// names the key, line and column of any mistake.
struct Parameters {
    std::string dir;
    std::string server_program;
};

std::optional<std::string> absolute_path(const std::string &path) {
    if (path.empty() || path.front() != '/')
        return "must be an absolute path";
    return std::nullopt;
}

const cloudhost::sdk::ConfigSchema<Parameters> &parameters_schema() {
    using cloudhost::sdk::Presence;
    static const auto schema =
        cloudhost::sdk::ConfigSchema<Parameters>("filecloud config")
            .string("dir", &Parameters::dir, Presence::required, absolute_path)
            .string("server_program", &Parameters::server_program, Presence::optional,
                    [](const std::string &path) -> std::optional<std::string> {
                        if (path.empty())
                            return "must not be empty";
                        return std::nullopt;
                    });
    return schema;
}

Config parse_config(std::string_view json) {
    const Parameters parameters = parameters_schema().parse(json);
    Config config{parameters.dir, parameters.server_program};
    // Checked now: a wrong path is the operator's to fix, not a failure to retry.
    if (!config.server_program.empty() && ::access(config.server_program.c_str(), X_OK) != 0) {
        const int error = errno;
        throw InvalidConfigError(R"(filecloud config: "server_program": cannot execute )" +
                                 config.server_program.string() + ": " + describe_errno(error));
    }
    return config;
}

// ---- instance records: the provider type, then one tag per line --------------

// One line per tag; refuse what the format cannot hold rather than corrupt.
void check_storable(const Tags &tags) {
    for (const auto &[key, value] : tags)
        if (key.empty() || key.find_first_of("=\n") != std::string::npos ||
            value.find('\n') != std::string::npos)
            throw Error("filecloud: tag " + key + " cannot be stored (empty key, '=' or newline)");
}

// Writes a whole file under a temporary name, then renames it: readers in
// other threads and processes see the old or the new content, never half.
void write_atomically(const fs::path &file, const std::string &type, const Tags &tags) {
    const fs::path temporary = file.string() + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << type << '\n';
        for (const auto &[key, value] : tags)
            out << key << '=' << value << '\n';
        if (!out.flush())
            throw Error("filecloud: cannot write " + temporary.string());
    }
    fs::rename(temporary, file);
}

std::string new_id() {
    std::random_device random;
    std::ostringstream id;
    id << "fc-" << std::hex << random() << random();
    return id.str();
}

// [guide:instance]
// Immutable after construction; every call reads or replaces the record
// file, so concurrent calls from many host threads need no lock.
class FileInstance : public Instance {
  public:
    FileInstance(std::string id, fs::path record, std::string type)
        : id_(std::move(id)), record_(std::move(record)), provider_type_(std::move(type)) {}

    std::string id() const override { return id_; }
    std::string provider_type() const override { return provider_type_; }
    Tags tags() const override {
        std::ifstream in(record_);
        std::string line;
        Tags tags;
        std::getline(in, line); // the provider type
        while (std::getline(in, line))
            if (auto eq = line.find('='); eq != std::string::npos)
                tags[line.substr(0, eq)] = line.substr(eq + 1);
        return tags;
    }
    void set_tags(const Tags &tags) override {
        check_storable(tags);
        if (!fs::exists(record_))
            throw Error("filecloud: instance " + id() + " no longer exists");
        write_atomically(record_, provider_type_, tags);
    }
    void destroy() override {
        std::error_code ec;
        fs::remove(record_, ec); // already gone counts as destroyed
    }
    std::string address() const override { return ""; } // never boots
    std::string remote_user() const override { return "root"; }
    // verify_host_key: the SDK default throws NotImplementedError, so the
    // host falls back to its tag verifier (the instance secret).

  private:
    std::string id_;
    fs::path record_;
    std::string provider_type_;
};
// [/guide:instance]

// [guide:instance_set]
class FileInstanceSet final : public InstanceSet {
  public:
    FileInstanceSet(fs::path dir, Logger logger) : dir_(std::move(dir)), logger_(logger) {
        fs::create_directories(dir_);
    }

    std::shared_ptr<Instance> create(const InstanceType &type, const std::string &image_id,
                                     const Tags &tags, const std::string &init_command,
                                     const std::optional<std::string> &public_key) override {
        (void)image_id, (void)init_command, (void)public_key; // nothing boots here
        check_storable(tags);
        const std::string id = new_id();
        auto instance = std::make_shared<FileInstance>(id, dir_ / id, type.provider_type);
        write_atomically(dir_ / id, type.provider_type, tags);
        logger_.info("created instance", {{"id", instance->id()}, {"type", type.name}});
        return instance;
    }

    // Ignores the filter: the host filters again.
    std::vector<std::shared_ptr<Instance>> instances(const Tags &) override {
        std::vector<std::shared_ptr<Instance>> found;
        for (const auto &entry : fs::directory_iterator(dir_)) {
            std::error_code ec;
            if (entry.path().extension() == ".tmp" || !entry.is_regular_file(ec))
                continue;
            std::ifstream in(entry.path());
            std::string provider_type;
            if (std::getline(in, provider_type)) // skip files removed meanwhile
                found.push_back(std::make_shared<FileInstance>(entry.path().filename().string(),
                                                               entry.path(), provider_type));
        }
        return found;
    }

  private:
    fs::path dir_;
    Logger logger_;
};
// [/guide:instance_set]

// ---- machines: replace this section with your cloud's API ------------------
// A machine is a cloudhost-loopback-server child process booting in its own
// directory, as a VM boots from its disk:
//   instance         the record (provider type and tags), read by this driver
//   authorized_key   the public key given to create (what cloud-init installs)
//   init_command     the InitCommand, run once before SSH answers (user data)
//   address          "127.0.0.1:PORT", written by the server once it listens
//   server.log       the server's and the InitCommand's output

constexpr const char *record_file_name = "instance";

// A directory only we can enter (its init_command holds the instance
// secret), removed with everything in it by remove() or the destructor.
class PrivateDirectory {
  public:
    explicit PrivateDirectory(fs::path path) : path_(std::move(path)) {
        if (::mkdir(path_.c_str(), 0700) != 0) {
            const int error = errno;
            throw Error("filecloud: cannot create " + path_.string() + ": " +
                        describe_errno(error));
        }
    }
    ~PrivateDirectory() { remove(); }
    PrivateDirectory(const PrivateDirectory &) = delete;
    PrivateDirectory &operator=(const PrivateDirectory &) = delete;

    const fs::path &path() const { return path_; }
    void remove() noexcept {
        std::error_code best_effort; // what cannot be removed stays behind
        if (!removed_)
            fs::remove_all(path_, best_effort);
        removed_ = true;
    }

  private:
    fs::path path_;
    bool removed_ = false;
};

// posix_spawn's two option objects, destroyed on every path.
class SpawnOptions {
  public:
    SpawnOptions() {
        if (const int rc = posix_spawn_file_actions_init(&actions); rc != 0)
            throw Error("filecloud: posix_spawn_file_actions_init: " + describe_errno(rc));
        if (const int rc = posix_spawnattr_init(&attributes); rc != 0) {
            posix_spawn_file_actions_destroy(&actions);
            throw Error("filecloud: posix_spawnattr_init: " + describe_errno(rc));
        }
    }
    ~SpawnOptions() {
        posix_spawnattr_destroy(&attributes);
        posix_spawn_file_actions_destroy(&actions);
    }
    SpawnOptions(const SpawnOptions &) = delete;
    SpawnOptions &operator=(const SpawnOptions &) = delete;

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
};

// [guide:server_process]
// A server started with posix_spawn (not fork: safe among the host's
// threads) and stopped by the destructor: SIGTERM, a bounded wait, then
// SIGKILL for its whole process group (it leads its own session). Always
// reaped, so no process outlives the object.
class ServerProcess {
  public:
    ServerProcess(const fs::path &program, const fs::path &directory) {
        const std::string log = (directory / "server.log").string();
        std::string program_arg = program.string(), directory_arg = directory.string();
        char *argv[] = {program_arg.data(), directory_arg.data(), nullptr};
        // Stdin /dev/null, stdout and stderr the log, and the default signal
        // dispositions and mask whatever the host blocks or ignores.
        sigset_t no_signals, default_signals;
        sigemptyset(&no_signals);
        sigemptyset(&default_signals);
        for (const int sig : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP})
            sigaddset(&default_signals, sig);
        SpawnOptions options;
        int rc = posix_spawn_file_actions_addopen(&options.actions, 0, "/dev/null", O_RDONLY, 0);
        if (rc == 0)
            rc = posix_spawn_file_actions_addopen(&options.actions, 1, log.c_str(),
                                                  O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&options.actions, 1, 2);
        if (rc == 0)
            rc = posix_spawnattr_setsigmask(&options.attributes, &no_signals);
        if (rc == 0)
            rc = posix_spawnattr_setsigdefault(&options.attributes, &default_signals);
        if (rc == 0)
            rc = posix_spawnattr_setflags(&options.attributes,
                                          POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (rc == 0)
            rc = posix_spawn(&pid_, program.c_str(), &options.actions, &options.attributes, argv,
                             environ);
        if (rc != 0)
            throw Error("filecloud: cannot start " + program.string() + ": " + describe_errno(rc));
    }
    ~ServerProcess() {
        ::kill(pid_, SIGTERM); // the server stops its connections and commands
        for (auto waited = 0ms; waited < stop_grace; waited += poll_interval) {
            if (reaped())
                return;
            std::this_thread::sleep_for(poll_interval);
        }
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    ServerProcess(const ServerProcess &) = delete;
    ServerProcess &operator=(const ServerProcess &) = delete;

  private:
    static constexpr auto stop_grace = 5000ms;
    static constexpr auto poll_interval = 10ms;

    bool reaped() const {
        int status = 0;
        const pid_t done = ::waitpid(pid_, &status, WNOHANG);
        return done == pid_ || (done < 0 && errno != EINTR); // ECHILD: reaped elsewhere
    }

    pid_t pid_ = -1;
};
// [/guide:server_process]

void write_file(const fs::path &file, const std::string &content) {
    std::ofstream out(file, std::ios::trunc);
    if (!(out << content).flush())
        throw Error("filecloud: cannot write " + file.string());
}

// [guide:machine]
// One machine: its directory, then its server. Shutting down stops the
// server and then removes the directory; the destructor does the same, and
// a constructor that throws leaves neither behind.
class Machine {
  public:
    Machine(const fs::path &server_program, fs::path directory,
            const std::optional<std::string> &public_key, const std::string &init_command)
        : directory_(std::move(directory)) {
        // Without a key nobody can log in: the server then refuses to boot,
        // like an image whose cloud-init found no key.
        if (public_key)
            write_file(directory_.path() / "authorized_key", *public_key);
        if (!init_command.empty())
            write_file(directory_.path() / "init_command", init_command);
        server_.emplace(server_program, directory_.path());
    }
    ~Machine() { shut_down(); }
    Machine(const Machine &) = delete;
    Machine &operator=(const Machine &) = delete;

    const fs::path &directory() const { return directory_.path(); }
    bool shutting_down() const { return shutting_down_; }

    // "127.0.0.1:PORT" once the server listens, "" while it boots.
    std::string address() const {
        std::ifstream in(directory() / "address");
        std::string address;
        std::getline(in, address);
        return address.substr(0, address.find_last_not_of(" \t\r\n") + 1);
    }

    // Runs `change` on a machine that is up, never during its shut-down.
    template <class Change> void change_while_up(Change &&change) {
        std::lock_guard lock(mutex_);
        if (shutting_down_)
            throw Error("filecloud: instance " + directory().filename().string() +
                        " no longer exists");
        change();
    }

    // A second caller waits until the first one is done.
    void shut_down() noexcept {
        shutting_down_ = true; // listings leave it out from now on
        std::lock_guard lock(mutex_);
        server_.reset();
        directory_.remove();
    }

  private:
    PrivateDirectory directory_; // declared first: removed after the server stopped
    std::optional<ServerProcess> server_;
    std::atomic<bool> shutting_down_{false};
    std::mutex mutex_;
};
// [/guide:machine]

// The user the host runs as: the servers run commands as that user.
std::string current_user_name() {
    const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::string buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 16384, '\0');
    passwd entry{};
    passwd *found = nullptr;
    if (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found)
        return found->pw_name;
    return std::to_string(::geteuid()); // a uid without a name
}

// The same record, kept in the machine's directory, plus the machine.
class MachineInstance final : public FileInstance {
  public:
    MachineInstance(const std::string &id, const std::string &provider_type,
                    const std::string &remote_user, std::unique_ptr<Machine> machine)
        : FileInstance(id, machine->directory() / record_file_name, provider_type),
          remote_user_(remote_user), machine_(std::move(machine)) {}

    void set_tags(const Tags &tags) override {
        machine_->change_while_up([&] { FileInstance::set_tags(tags); });
    }
    void destroy() override { machine_->shut_down(); } // waits until the server is gone
    std::string address() const override { return machine_->address(); }
    std::string remote_user() const override { return remote_user_; }
    bool destroyed() const { return machine_->shutting_down(); }

  private:
    std::string remote_user_;
    std::unique_ptr<Machine> machine_;
};

// The machines of every instance set of this loaded library, as a cloud is
// shared by all its users: each set lists its InstanceSetID's, and a new set
// adopts what an earlier one created. Open sets hold it; when the last one
// goes (the host then unloads the library) it stops every machine left,
// since they are this process's children and nothing else could.
class Cloud {
  public:
    Cloud() = default;
    ~Cloud() {
        for (const auto &[key, machine] : machines_)
            machine->destroy();
    }
    Cloud(const Cloud &) = delete;
    Cloud &operator=(const Cloud &) = delete;

    void add(const std::string &instance_set_id, std::shared_ptr<MachineInstance> machine) {
        std::lock_guard lock(mutex_);
        machines_.emplace(std::pair(instance_set_id, machine->id()), std::move(machine));
    }
    std::vector<std::shared_ptr<Instance>> of(const std::string &instance_set_id) {
        std::lock_guard lock(mutex_);
        std::erase_if(machines_, [](const auto &entry) { return entry.second->destroyed(); });
        std::vector<std::shared_ptr<Instance>> found;
        for (const auto &[key, machine] : machines_)
            if (key.first == instance_set_id)
                found.push_back(machine);
        return found;
    }

  private:
    std::mutex mutex_; // guards machines_
    std::map<std::pair<std::string, std::string>, std::shared_ptr<MachineInstance>> machines_;
};

// Namespace scope, not a function-local static (g++ would make that
// STB_GNU_UNIQUE, shared by two loaded copies of the driver).
std::mutex open_cloud_mutex;
std::weak_ptr<Cloud> open_cloud;

std::shared_ptr<Cloud> shared_cloud() {
    std::lock_guard lock(open_cloud_mutex);
    auto cloud = open_cloud.lock();
    if (!cloud)
        open_cloud = cloud = std::make_shared<Cloud>();
    return cloud;
}

class MachineInstanceSet final : public InstanceSet {
  public:
    MachineInstanceSet(Config config, std::string instance_set_id, Logger logger)
        : config_(std::move(config)), instance_set_id_(std::move(instance_set_id)), logger_(logger),
          remote_user_(current_user_name()) {
        fs::create_directories(config_.dir);
    }

    std::shared_ptr<Instance> create(const InstanceType &type, const std::string &image_id,
                                     const Tags &tags, const std::string &init_command,
                                     const std::optional<std::string> &public_key) override {
        (void)image_id; // every machine runs the same server
        check_storable(tags);
        const std::string id = new_id();
        // Booting takes a while and needs no lock: other calls go on meanwhile.
        auto machine = std::make_unique<Machine>(config_.server_program, config_.dir / id,
                                                 public_key, init_command);
        write_atomically(machine->directory() / record_file_name, type.provider_type, tags);
        auto instance = std::make_shared<MachineInstance>(id, type.provider_type, remote_user_,
                                                          std::move(machine));
        cloud_->add(instance_set_id_, instance);
        logger_.info("created instance", {{"id", instance->id()}, {"type", type.name}});
        return instance;
    }

    // Only this set's InstanceSetID; ignores the filter: the host filters again.
    std::vector<std::shared_ptr<Instance>> instances(const Tags &) override {
        return cloud_->of(instance_set_id_);
    }

  private:
    const Config config_;
    const std::string instance_set_id_;
    const Logger logger_;
    const std::string remote_user_;
    const std::shared_ptr<Cloud> cloud_ = shared_cloud();
};

// [guide:export]
std::unique_ptr<InstanceSet> make_set(const InstanceSetArgs &args) {
    Config config = parse_config(args.config_json);
    if (config.server_program.empty()) // the host validated the id: a safe file name
        return std::make_unique<FileInstanceSet>(config.dir / args.instance_set_id, args.logger);
    return std::make_unique<MachineInstanceSet>(std::move(config), args.instance_set_id,
                                                args.logger);
}

} // namespace

CLOUDHOST_DRIVER("filecloud", "1.1.0",
                 "Instances are files in a directory, or local SSH servers (SDK example)",
                 make_set);
// [/guide:export]
