// Drives the real loopback.so through DriverLibrary and its raw C function
// table (no host wrappers), with a private state directory per test.
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/driver_library.hpp"
#include "temp_dir.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace loopback_test {

using Tags = std::map<std::string, std::string>;

// What a driver call answered.
struct Outcome {
    ch_status status = CH_OK;
    std::string message;
    bool ok() const { return status == CH_OK; }
};

std::shared_ptr<cloudhost::DriverLibrary> open_loopback_driver();
std::filesystem::path built_server();

// The driver config for `state_dir` plus extra members ("\"k\": v, ...").
std::string config_json(const std::filesystem::path &state_dir, const std::string &extra = {});

// One reference to a driver instance, given back on destruction.
class Instance {
  public:
    Instance(std::shared_ptr<cloudhost::DriverLibrary> library, ch_instance *handle, std::string id,
             std::string provider_type, Tags tags);
    ~Instance();
    Instance(Instance &&other) noexcept;
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;
    Instance &operator=(Instance &&) = delete;

    const std::string &id() const { return id_; }
    const std::string &provider_type() const { return provider_type_; }
    const Tags &listed_tags() const { return listed_tags_; }

    std::string address() const;
    std::string remote_user() const;
    Tags tags() const;
    Outcome set_tags(const Tags &tags) const;
    Outcome verify_host_key(const std::string &key) const;
    Outcome destroy() const;
    // The address once the server listens; fails the test after `timeout`.
    std::string wait_for_address(std::chrono::seconds timeout = std::chrono::seconds(60)) const;

  private:
    std::shared_ptr<cloudhost::DriverLibrary> library_;
    ch_instance *handle_;
    std::string id_;
    std::string provider_type_;
    Tags listed_tags_;
};

struct CreateRequest {
    std::string public_key;
    std::string init_command;
    Tags tags;
    std::string type_name = "localhost";
    std::string provider_type = "localhost";
    std::string image_id = "loopback-image";
};

class InstanceSet {
  public:
    // REQUIREs that instance_set_new succeeds.
    InstanceSet(std::shared_ptr<cloudhost::DriverLibrary> library, const std::string &config,
                const std::string &instance_set_id = "zzzzz-zzzzz-loopbacktests00");
    ~InstanceSet();
    InstanceSet(const InstanceSet &) = delete;
    InstanceSet &operator=(const InstanceSet &) = delete;

    // Outcome of instance_set_new for `config` (the set is freed at once).
    static Outcome try_open(const std::shared_ptr<cloudhost::DriverLibrary> &library,
                            const std::string &config);

    Outcome create(const CreateRequest &request, std::optional<Instance> &created) const;
    Instance create_ok(const CreateRequest &request) const;
    std::vector<Instance> instances(const Tags &filter = {}) const;

  private:
    std::shared_ptr<cloudhost::DriverLibrary> library_;
    ch_instance_set *set_ = nullptr;
};

// A fresh directory directly under /tmp (whatever TMPDIR says), mode 0711,
// so that other users (`nobody`) can reach what is made inside it; removed
// with its content at scope exit. Tests check others_can_enter_tmp() first
// (and skip, saying why, when they cannot).
bool others_can_enter_tmp();
class SharedTempDir {
  public:
    explicit SharedTempDir(const std::string &prefix);
    ~SharedTempDir();
    SharedTempDir(const SharedTempDir &) = delete;
    SharedTempDir &operator=(const SharedTempDir &) = delete;
    const std::filesystem::path &path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// What the driver logged (warnings and errors) since the last call.
std::string take_driver_log();

// Processes: a zombie counts as gone (PID 1 may not reap orphans).
bool process_alive(pid_t pid);
std::optional<pid_t> server_pid(const std::filesystem::path &instance_dir);
// Live processes whose session is `session` (a server and all it started).
std::vector<pid_t> session_members(pid_t session);
// Instance directories ("lo-*") and leftovers (anything) in a state dir.
std::vector<std::string> state_dir_entries(const std::filesystem::path &state_dir);

// Once every client has disconnected: waits until only the server is left
// in its session, then returns the log lines that report a connection
// process that crashed or failed (empty when all went well).
std::string connection_failures(const std::filesystem::path &instance_dir);

// Polls `condition` every 20 ms up to `timeout`.
template <class Condition> bool eventually(Condition condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition())
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

} // namespace loopback_test
