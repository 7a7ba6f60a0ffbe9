// The host's SSH executor and tag verifier against real loopback instances:
// real libssh client, real SSH servers on 127.0.0.1, no mock transport.
#include "temp_dir.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

using namespace cloudhost;
using cloudhost::test::TempDir;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string prefix = "cloudhost-";
const std::string secret_path = "instance-secret"; // relative: the instance's own dir

class Loopback {
  public:
    explicit Loopback(const std::string &params = "") : key_(SshKey::generate_ed25519()) {
        const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
        REQUIRE_MESSAGE(root, "CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
        fs::path driver = fs::path(root) / "plugins/loopback/loopback.so";
        InstanceSetOptions options;
        options.instance_set_id = "zzzzz-zzzzz-zzzzzzintegrate";
        options.config_json =
            "{\"state_dir\":\"" + state_dir().string() + "\",\"max_instances\":32" + params + "}";
        set_ =
            InstanceSet::open(DriverLibrary::open(driver, read_driver_metadata(driver)), options);
        type_.name = type_.provider_type = "localhost";
    }

    // Create as the CLI does: secret tag + secret line in the InitCommand.
    Instance create(std::string *secret = nullptr) {
        Tags tags{{prefix + "InstanceSetID", set_.instance_set_id()}};
        PreparedCreate prepared = prepare_create(tags, "", prefix, secret_path);
        if (secret)
            *secret = secret_from_tags(prepared.tags, prefix);
        return set_.create(type_, "", prepared.tags, prepared.init_command,
                           key_.public_key_openssh());
    }
    std::unique_ptr<SshExecutor> executor(const Instance &inst, bool tag_verifier,
                                          const std::string &secret = "") {
        std::shared_ptr<const ExecutorTarget> target = std::make_shared<InstanceTarget>(inst);
        if (tag_verifier)
            target = std::make_shared<TagVerifier>(target, secret, secret_path);
        SshExecutorOptions options;
        options.connect_timeout = 10s;
        return std::make_unique<SshExecutor>(target, key_, options);
    }
    // Waits until the instance has written its address (booted).
    static void wait_address(const Instance &inst) {
        for (int i = 0; i < 300 && inst.address().empty(); ++i)
            std::this_thread::sleep_for(20ms);
        REQUIRE_FALSE(inst.address().empty());
    }
    fs::path state_dir() const { return dir_.path() / "state"; }
    fs::path instance_dir(const Instance &inst) const { return state_dir() / inst.id(); }
    std::size_t instances_on_disk() const {
        std::size_t n = 0;
        for (const auto &e : fs::directory_iterator(state_dir()))
            if (e.is_directory() && e.path().filename().string()[0] != '.')
                ++n;
        return n;
    }
    InstanceSet &set() { return set_; }

  private:
    TempDir dir_{"cloudhost-integration"};
    SshKey key_;
    InstanceSet set_;
    InstanceType type_;
};

long read_pid(const fs::path &pid_file) {
    std::ifstream in(pid_file);
    long pid = 0;
    in >> pid;
    return pid;
}

bool process_alive(long pid) {
    // A zombie still has a /proc entry: look at its state too.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_field, comm, state;
    return stat >> pid_field >> comm >> state && state != "Z";
}

} // namespace

TEST_CASE("executor round trip on loopback: stdio, env, exit status, 10 MiB, timeout") {
    Loopback lo;
    Instance inst = lo.create();
    Loopback::wait_address(inst);
    auto exec = lo.executor(inst, false);

    CommandOutput out = exec->execute({{"NAME", "world"}},
                                      "cat; echo \"hi $NAME\"; echo err >&2; exit 4", "input\n");
    CHECK(out.stdout_data == "input\nhi world\n");
    CHECK(out.stderr_data == "err\n");
    CHECK(out.exit_status == 4);

    out = exec->execute({}, "head -c 10485760 /dev/zero");
    CHECK(out.exit_status == 0);
    CHECK(out.stdout_data.size() == 10u * 1024 * 1024);

    CHECK_THROWS_AS(exec->execute({}, "sleep 30", {}, 300ms), CommandTimeoutError);
    out = exec->execute({}, "echo still usable");
    CHECK(out.stdout_data == "still usable\n");
    inst.destroy();
}

TEST_CASE("a host key mismatch is refused before any command runs") {
    Loopback lo;
    Instance inst = lo.create();
    Loopback::wait_address(inst);
    // The driver now believes in another key than the server presents.
    fs::path pub = lo.instance_dir(inst) / "host_key.pub";
    REQUIRE(fs::exists(pub));
    std::ofstream(pub, std::ios::trunc) << SshKey::generate_ed25519().public_key_openssh() << "\n";

    auto exec = lo.executor(inst, false);
    CHECK_THROWS_AS(exec->execute({}, "touch ran-anyway"), HostKeyError);
    CHECK_FALSE(fs::exists(lo.instance_dir(inst) / "ran-anyway"));
    inst.destroy();
}

TEST_CASE("the tag verifier accepts a good instance and refuses a wrong or missing secret") {
    Loopback lo(",\"verify_host_key\":false");
    std::string secret;
    Instance inst = lo.create(&secret);
    REQUIRE(secret.size() == 40);
    Loopback::wait_address(inst);

    CHECK_THROWS_AS(inst.verify_host_key("ssh-ed25519 AAAA", nullptr), NotImplementedError);
    {
        auto exec = lo.executor(inst, true, secret);
        CHECK(exec->execute({}, "echo verified").stdout_data == "verified\n");
    }
    const fs::path secret_file = lo.instance_dir(inst) / secret_path;
    REQUIRE(fs::exists(secret_file));
    const bool owner_only = (fs::status(secret_file).permissions() & fs::perms::all) ==
                            (fs::perms::owner_read | fs::perms::owner_write);
    CHECK(owner_only); // umask 0177

    std::ofstream(secret_file, std::ios::trunc) << std::string(40, '0');
    {
        auto exec = lo.executor(inst, true, secret);
        try {
            exec->execute({}, "touch ran-anyway");
            FAIL("a wrong secret was accepted");
        } catch (const HostKeyError &e) {
            CHECK(std::string(e.what()).find("bad instance secret") != std::string::npos);
            CHECK(std::string(e.what()).find(secret) == std::string::npos);
        }
    }
    fs::remove(secret_file);
    {
        auto exec = lo.executor(inst, true, secret);
        CHECK_THROWS_AS(exec->execute({}, "touch ran-anyway"), HostKeyError);
    }
    {
        // No secret tag at all: refused without asking the instance.
        auto exec = lo.executor(inst, true, "");
        CHECK_THROWS_AS(exec->execute({}, "touch ran-anyway"), HostKeyError);
    }
    CHECK_FALSE(fs::exists(lo.instance_dir(inst) / "ran-anyway"));
    inst.destroy();
}

TEST_CASE("20 loopback instances created, probed concurrently and destroyed without a trace") {
    Loopback lo(",\"verify_host_key\":false");
    std::vector<Instance> instances;
    std::vector<std::string> secrets(20);
    for (int i = 0; i < 20; ++i)
        instances.push_back(lo.create(&secrets[i]));

    std::atomic<int> probed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 20; ++i)
        threads.emplace_back([&, i] {
            auto exec = lo.executor(instances[i], true, secrets[i]);
            for (int attempt = 0; attempt < 300; ++attempt) {
                try {
                    if (exec->execute({}, "cat " + secret_path).stdout_data == secrets[i]) {
                        ++probed;
                        return;
                    }
                } catch (const SshError &) {
                }
                std::this_thread::sleep_for(50ms);
            }
        });
    for (auto &t : threads)
        t.join();
    CHECK(probed == 20);
    CHECK(lo.set().instances({{prefix + "InstanceSetID", lo.set().instance_set_id()}}).size() ==
          20);

    // Every instance booted, so every server has written its pid.
    std::vector<long> pids;
    for (auto &inst : instances)
        pids.push_back(read_pid(lo.instance_dir(inst) / "server.pid"));
    for (long pid : pids) {
        REQUIRE(pid > 0);
        CHECK(process_alive(pid));
    }
    for (auto &inst : instances)
        inst.destroy();
    CHECK(lo.set().instances({}).empty());
    CHECK(lo.instances_on_disk() == 0);
    for (long pid : pids)
        CHECK_FALSE(process_alive(pid));
}
