#include "loopback_harness.hpp"
#include "cloudhost/internal/access.hpp"

#include <mutex>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

namespace loopback_test {
namespace {

namespace fs = std::filesystem;

std::string to_string(ch_str s) {
    return s.len ? std::string(s.data, s.len) : std::string();
}
ch_str to_ch(const std::string &s) {
    return {s.data(), s.size()};
}

fs::path build_root() {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE_MESSAGE(root != nullptr, "CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    return root;
}

struct ErrorRecord {
    ch_error e{};
    ErrorRecord() { e.struct_size = sizeof e; }
    Outcome outcome(ch_status status) const {
        return {status, status == CH_OK ? std::string() : std::string(e.message)};
    }
};

std::mutex driver_log_mutex;
std::string driver_log_lines;

// Warnings and errors of the driver go to the test's stderr, and to
// driver_log() for tests that check what was reported.
int logger_enabled(void *, int level) {
    return level >= CH_LOG_WARN;
}
void logger_log(void *, int level, ch_str message, const ch_log_field *fields, size_t count) {
    std::string line = "[driver " + std::to_string(level) + "] " + to_string(message);
    for (size_t i = 0; i < count; ++i)
        line += " " + to_string(fields[i].key) + "=" + to_string(fields[i].value);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::lock_guard lock(driver_log_mutex);
    driver_log_lines += line + "\n";
}
const ch_logger test_logger{sizeof(ch_logger), nullptr, &logger_enabled, &logger_log};

struct StringOut {
    std::string value;
    ch_string_sink sink{this, [](void *ctx, ch_str s) {
                            static_cast<StringOut *>(ctx)->value.append(s.data, s.len);
                        }};
};

struct TagsOut {
    Tags tags;
    ch_tags_sink sink{this, [](void *ctx, ch_str k, ch_str v) {
                          static_cast<TagsOut *>(ctx)->tags[to_string(k)] = to_string(v);
                      }};
};

struct InstancesOut {
    std::shared_ptr<cloudhost::DriverLibrary> library;
    std::vector<Instance> instances;
    ch_instance_sink sink{this, [](void *ctx, ch_instance *instance, const ch_instance_desc *d) {
                              auto &self = *static_cast<InstancesOut *>(ctx);
                              Tags tags;
                              for (size_t i = 0; i < d->tags.count; ++i)
                                  tags[to_string(d->tags.items[i].key)] =
                                      to_string(d->tags.items[i].value);
                              self.instances.emplace_back(self.library, instance, to_string(d->id),
                                                          to_string(d->provider_type), tags);
                          }};
};

class TagsArg {
  public:
    explicit TagsArg(const Tags &tags) {
        for (const auto &[k, v] : tags)
            items_.push_back({to_ch(k), to_ch(v)});
    }
    ch_tags get() const { return {items_.data(), items_.size()}; }

  private:
    std::vector<ch_tag> items_;
};

} // namespace

std::shared_ptr<cloudhost::DriverLibrary> open_loopback_driver() {
    cloudhost::DriverInfo info;
    info.name = "loopback";
    info.version = "1.0.0";
    info.abi_min = 1;
    info.abi_max = 1;
    return cloudhost::DriverLibrary::open(build_root() / "plugins" / "loopback" / "loopback.so",
                                          info);
}

fs::path built_server() {
    return build_root() / "plugins" / "loopback" / "server" / "cloudhost-loopback-server";
}

std::string config_json(const fs::path &state_dir, const std::string &extra) {
    // The server is named explicitly so that an installed one never runs.
    return "{\"state_dir\": \"" + state_dir.string() + "\", \"server_path\": \"" +
           built_server().string() + "\"" + (extra.empty() ? "" : ", " + extra) + "}";
}

// ---- Instance ---------------------------------------------------------------

Instance::Instance(std::shared_ptr<cloudhost::DriverLibrary> library, ch_instance *handle,
                   std::string id, std::string provider_type, Tags tags)
    : library_(std::move(library)), handle_(handle), id_(std::move(id)),
      provider_type_(std::move(provider_type)), listed_tags_(std::move(tags)) {}

Instance::~Instance() {
    if (handle_)
        cloudhost::detail::driver_table(*library_).instance_release(handle_);
}

Instance::Instance(Instance &&other) noexcept
    : library_(std::move(other.library_)), handle_(std::exchange(other.handle_, nullptr)),
      id_(std::move(other.id_)), provider_type_(std::move(other.provider_type_)),
      listed_tags_(std::move(other.listed_tags_)) {}

std::string Instance::address() const {
    StringOut out;
    ErrorRecord error;
    const ch_status status =
        cloudhost::detail::driver_table(*library_).instance_address(handle_, &out.sink, &error.e);
    REQUIRE_MESSAGE(status == CH_OK, error.e.message);
    return out.value;
}

std::string Instance::remote_user() const {
    StringOut out;
    ErrorRecord error;
    const ch_status status = cloudhost::detail::driver_table(*library_).instance_remote_user(
        handle_, &out.sink, &error.e);
    REQUIRE_MESSAGE(status == CH_OK, error.e.message);
    return out.value;
}

Tags Instance::tags() const {
    TagsOut out;
    ErrorRecord error;
    const ch_status status =
        cloudhost::detail::driver_table(*library_).instance_tags(handle_, &out.sink, &error.e);
    REQUIRE_MESSAGE(status == CH_OK, error.e.message);
    return out.tags;
}

Outcome Instance::set_tags(const Tags &tags) const {
    TagsArg arg(tags);
    ErrorRecord error;
    return error.outcome(
        cloudhost::detail::driver_table(*library_).instance_set_tags(handle_, arg.get(), &error.e));
}

Outcome Instance::verify_host_key(const std::string &key) const {
    ErrorRecord error;
    return error.outcome(cloudhost::detail::driver_table(*library_).instance_verify_host_key(
        handle_, to_ch(key), nullptr, &error.e));
}

Outcome Instance::destroy() const {
    ErrorRecord error;
    return error.outcome(
        cloudhost::detail::driver_table(*library_).instance_destroy(handle_, &error.e));
}

std::string Instance::wait_for_address(std::chrono::seconds timeout) const {
    std::string address;
    const bool booted = eventually(
        [&] {
            address = this->address();
            return !address.empty();
        },
        timeout);
    REQUIRE_MESSAGE(booted, "instance " << id_ << " published no address in time");
    return address;
}

// ---- InstanceSet ------------------------------------------------------------

InstanceSet::InstanceSet(std::shared_ptr<cloudhost::DriverLibrary> library,
                         const std::string &config, const std::string &instance_set_id)
    : library_(std::move(library)) {
    const ch_instance_set_args args{
        sizeof(ch_instance_set_args), to_ch(config), to_ch(instance_set_id),
        ch_tags{nullptr, 0},          &test_logger,  nullptr};
    ErrorRecord error;
    const ch_status status =
        cloudhost::detail::driver_table(*library_).instance_set_new(&args, &set_, &error.e);
    REQUIRE_MESSAGE(status == CH_OK, error.e.message);
}

InstanceSet::~InstanceSet() {
    cloudhost::detail::driver_table(*library_).instance_set_stop(set_);
    cloudhost::detail::driver_table(*library_).instance_set_free(set_);
}

Outcome InstanceSet::try_open(const std::shared_ptr<cloudhost::DriverLibrary> &library,
                              const std::string &config) {
    const std::string id = "zzzzz-zzzzz-loopbacktests00";
    const ch_instance_set_args args{sizeof(ch_instance_set_args), to_ch(config), to_ch(id),
                                    ch_tags{nullptr, 0},          &test_logger,  nullptr};
    ch_instance_set *set = nullptr;
    ErrorRecord error;
    const ch_status status =
        cloudhost::detail::driver_table(*library).instance_set_new(&args, &set, &error.e);
    if (status == CH_OK) {
        cloudhost::detail::driver_table(*library).instance_set_stop(set);
        cloudhost::detail::driver_table(*library).instance_set_free(set);
    }
    return error.outcome(status);
}

Outcome InstanceSet::create(const CreateRequest &request, std::optional<Instance> &created) const {
    ch_instance_type type{};
    type.struct_size = sizeof type;
    type.name = to_ch(request.type_name);
    type.provider_type = to_ch(request.provider_type);
    type.vcpus = 1;
    type.price = 1.0;
    TagsArg tags(request.tags);
    const ch_create_args args{sizeof(ch_create_args),      &type,
                              to_ch(request.image_id),     tags.get(),
                              to_ch(request.init_command), to_ch(request.public_key)};
    InstancesOut out{library_, {}};
    ErrorRecord error;
    const ch_status status =
        cloudhost::detail::driver_table(*library_).create(set_, &args, &out.sink, &error.e);
    if (status == CH_OK) {
        REQUIRE(out.instances.size() == 1);
        created.emplace(std::move(out.instances.front()));
    }
    return error.outcome(status);
}

Instance InstanceSet::create_ok(const CreateRequest &request) const {
    std::optional<Instance> created;
    const Outcome outcome = create(request, created);
    REQUIRE_MESSAGE(outcome.ok(), outcome.message);
    return std::move(*created);
}

std::vector<Instance> InstanceSet::instances(const Tags &filter) const {
    TagsArg arg(filter);
    InstancesOut out{library_, {}};
    ErrorRecord error;
    const ch_status status =
        cloudhost::detail::driver_table(*library_).instances(set_, arg.get(), &out.sink, &error.e);
    REQUIRE_MESSAGE(status == CH_OK, error.e.message);
    return std::move(out.instances);
}

// ---- processes and files ----------------------------------------------------

namespace {

struct ProcStat {
    char state = '?';
    pid_t session = -1;
};

std::optional<ProcStat> proc_stat(pid_t pid) {
    // Plain read(): the process may exit while we read (ESRCH), which
    // std::ifstream reports by throwing.
    const std::string path = "/proc/" + std::to_string(pid) + "/stat";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    char buffer[1024];
    const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0)
        return std::nullopt;
    const std::string text(buffer, static_cast<size_t>(n));
    const auto close = text.rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    std::istringstream fields(text.substr(close + 1));
    ProcStat stat;
    pid_t ppid = 0, pgrp = 0;
    fields >> stat.state >> ppid >> pgrp >> stat.session;
    if (!fields)
        return std::nullopt;
    return stat;
}

} // namespace

bool others_can_enter_tmp() {
    struct stat tmp {};
    return ::stat("/tmp", &tmp) == 0 && S_ISDIR(tmp.st_mode) && (tmp.st_mode & S_IXOTH) &&
           (tmp.st_mode & S_IWOTH);
}

SharedTempDir::SharedTempDir(const std::string &prefix) {
    REQUIRE_MESSAGE(others_can_enter_tmp(), "/tmp does not let other users through");
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
    REQUIRE(::chmod(path_.c_str(), 0711) == 0);
}

SharedTempDir::~SharedTempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string take_driver_log() {
    std::lock_guard lock(driver_log_mutex);
    return std::exchange(driver_log_lines, {});
}

bool process_alive(pid_t pid) {
    const auto stat = proc_stat(pid);
    return stat && stat->state != 'Z';
}

std::optional<pid_t> server_pid(const fs::path &instance_dir) {
    std::ifstream file(instance_dir / "server.pid");
    long pid = 0;
    if (!(file >> pid) || pid <= 0)
        return std::nullopt;
    return static_cast<pid_t>(pid);
}

std::vector<pid_t> session_members(pid_t session) {
    std::vector<pid_t> members;
    for (const auto &entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        const pid_t pid = static_cast<pid_t>(std::stol(name));
        const auto stat = proc_stat(pid);
        if (stat && stat->session == session && stat->state != 'Z')
            members.push_back(pid);
    }
    return members;
}

std::string connection_failures(const fs::path &instance_dir) {
    const auto server = server_pid(instance_dir);
    REQUIRE(server.has_value());
    const bool settled =
        eventually([&] { return session_members(*server).size() <= 1; }, std::chrono::seconds(30));
    CHECK_MESSAGE(settled, "connection processes still running after their clients left");
    std::ifstream log(instance_dir / "server.log");
    std::string line, failures;
    while (std::getline(log, line))
        if (line.find("connection process") != std::string::npos ||
            line.find("Sanitizer") != std::string::npos ||
            line.find("runtime error") != std::string::npos)
            failures += line + "\n";
    return failures;
}

std::vector<std::string> state_dir_entries(const fs::path &state_dir) {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(state_dir)) {
        const std::string name = entry.path().filename().string();
        if (name != ".lock") // the Create lock file stays by design
            names.push_back(name);
    }
    return names;
}

} // namespace loopback_test
