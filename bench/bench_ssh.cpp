// SSH benchmarks on real loopback instances:
//  - sequential commands through the executor (one connection, a channel per
//    command) against OpenSSH's ssh multiplexed with ControlMaster;
//  - connect + verify + first command against a plain `ssh` invocation;
//  - boot probe of 50 loopback instances in parallel (wall time).
// Instance commands run through /bin/sh directly (the loopback server does
// not start a login shell), so the figures measure the clients.
#include "bench_registry.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

extern char **environ;

namespace cloudhost::bench {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// A loopback instance set with its state, key and instances in a temp dir,
// all destroyed at the end.
class LoopbackFixture {
  public:
    explicit LoopbackFixture(int max_instances = 64)
        : dir_(fs::temp_directory_path() / ("cloudhost-bench-ssh-" + std::to_string(getpid()))),
          key_(SshKey::generate_ed25519()) {
        fs::create_directories(dir_);
        key_.save_private(dir_ / "id_ed25519");
        fs::path driver = build_root() + "/plugins/loopback/loopback.so";
        InstanceSetOptions options;
        options.instance_set_id = "zzzzz-zzzzz-zzzzzzbenchssh1";
        options.config_json = "{\"state_dir\":\"" + (dir_ / "state").string() +
                              "\",\"max_instances\":" + std::to_string(max_instances) + "}";
        set_ =
            InstanceSet::open(DriverLibrary::open(driver, read_driver_metadata(driver)), options);
        type_.name = type_.provider_type = "localhost";
    }
    ~LoopbackFixture() {
        for (auto &inst : instances_) {
            try {
                inst.destroy();
            } catch (const std::exception &) {
            }
        }
        instances_.clear();
        set_ = InstanceSet();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    Instance create() {
        instances_.push_back(set_.create(type_, "", {}, "", key_.public_key_openssh()));
        return instances_.back();
    }
    std::unique_ptr<SshExecutor> executor(const Instance &inst) const {
        return std::make_unique<SshExecutor>(std::make_shared<InstanceTarget>(inst), key_);
    }
    // Runs `true` until it succeeds (the instance has booted).
    static void wait_booted(SshExecutor &executor, std::chrono::seconds limit) {
        auto deadline = SteadyClock::now() + limit;
        while (true) {
            try {
                if (executor.execute({}, "true").exit_status == 0)
                    return;
            } catch (const SshError &) {
                if (SteadyClock::now() > deadline)
                    throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    const fs::path &dir() const { return dir_; }
    fs::path key_file() const { return dir_ / "id_ed25519"; }

  private:
    fs::path dir_;
    SshKey key_;
    InstanceSet set_;
    InstanceType type_;
    std::vector<Instance> instances_;
};

int run(const std::vector<std::string> &argv) {
    std::vector<char *> args;
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("cannot run " + argv[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

// ssh with no user config, our key, no host key checking (the benchmark
// measures transport; the executor verifies through the driver).
std::vector<std::string> ssh_command(const LoopbackFixture &f, const HostPort &hp,
                                     const std::string &user, std::vector<std::string> extra) {
    std::vector<std::string> argv = {"ssh",
                                     "-F",
                                     "/dev/null",
                                     "-i",
                                     f.key_file().string(),
                                     "-p",
                                     hp.port,
                                     "-o",
                                     "IdentitiesOnly=yes",
                                     "-o",
                                     "BatchMode=yes",
                                     "-o",
                                     "StrictHostKeyChecking=no",
                                     "-o",
                                     "UserKnownHostsFile=/dev/null",
                                     "-o",
                                     "LogLevel=ERROR"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(user + "@" + hp.host);
    return argv;
}

std::vector<Result> sequential_commands() {
    LoopbackFixture f;
    Instance inst = f.create();
    auto executor = f.executor(inst);
    LoopbackFixture::wait_booted(*executor, std::chrono::seconds(30));
    const int n = 200;

    auto t0 = SteadyClock::now();
    for (int i = 0; i < n; ++i)
        if (executor->execute({}, "true").exit_status != 0)
            throw std::runtime_error("executor command failed");
    double ours = n / seconds_since(t0);

    HostPort hp = parse_address(inst.address(), "22");
    const std::string control = (f.dir() / "cm.sock").string();
    auto master = ssh_command(f, hp, inst.remote_user(),
                              {"-o", "ControlMaster=yes", "-o", "ControlPath=" + control, "-o",
                               "ControlPersist=60", "-fN"});
    if (run(master) != 0)
        throw std::runtime_error("could not start the ControlMaster ssh");
    auto client = ssh_command(f, hp, inst.remote_user(),
                              {"-o", "ControlMaster=no", "-o", "ControlPath=" + control});
    client.push_back("true");
    t0 = SteadyClock::now();
    for (int i = 0; i < n; ++i)
        if (run(client) != 0)
            throw std::runtime_error("ssh through ControlMaster failed");
    double openssh = n / seconds_since(t0);
    auto stop =
        ssh_command(f, hp, inst.remote_user(), {"-o", "ControlPath=" + control, "-O", "exit"});
    run(stop);

    Result r;
    r.name = "ssh_sequential_commands";
    r.value = ours;
    r.unit = "commands/s";
    r.baseline = "OpenSSH ssh with ControlMaster";
    r.baseline_value = openssh;
    r.note = std::to_string(n) + " x `true`; target >= 2x baseline";
    return {r};
}

std::vector<Result> first_command() {
    LoopbackFixture f;
    Instance inst = f.create();
    {
        auto warm = f.executor(inst);
        LoopbackFixture::wait_booted(*warm, std::chrono::seconds(30));
    }
    HostPort hp = parse_address(inst.address(), "22");
    auto plain = ssh_command(f, hp, inst.remote_user(), {});
    plain.push_back("true");
    std::vector<double> ours, openssh;
    for (int i = 0; i < 20; ++i) {
        auto t0 = SteadyClock::now();
        auto executor = f.executor(inst); // new connection, verification, first command
        if (executor->execute({}, "true").exit_status != 0)
            throw std::runtime_error("executor command failed");
        ours.push_back(seconds_since(t0) * 1000);

        t0 = SteadyClock::now();
        if (run(plain) != 0)
            throw std::runtime_error("ssh failed");
        openssh.push_back(seconds_since(t0) * 1000);
    }
    Result r;
    r.name = "ssh_connect_verify_first_command";
    r.value = median(ours);
    r.unit = "ms";
    r.baseline = "plain ssh invocation (no host key check)";
    r.baseline_value = median(openssh);
    r.note = "median of 20; target: faster than baseline";
    return {r};
}

std::vector<Result> boot_probe_50() {
    const int n = 50;
    LoopbackFixture f(n);
    auto t0 = SteadyClock::now();
    std::vector<Instance> instances;
    for (int i = 0; i < n; ++i)
        instances.push_back(f.create());
    double created = seconds_since(t0);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (auto &inst : instances)
        threads.emplace_back([&f, &failures, inst] {
            try {
                auto executor = f.executor(inst);
                LoopbackFixture::wait_booted(*executor, std::chrono::seconds(60));
            } catch (const std::exception &) {
                ++failures;
            }
        });
    for (auto &t : threads)
        t.join();
    double wall = seconds_since(t0);
    if (failures)
        throw std::runtime_error(std::to_string(failures.load()) + " instances never answered");
    Result r;
    r.name = "boot_probe_50_parallel";
    r.value = wall;
    r.unit = "s";
    r.note =
        "50 creates (" + std::to_string(created) + " s) then parallel probes until all answered";
    return {r};
}

Register seq("ssh_sequential", "sequential commands: executor vs OpenSSH ControlMaster",
             sequential_commands);
Register first("ssh_first_command", "connect + verify + first command vs plain ssh", first_command);
Register boot("boot_probe_50", "boot probe of 50 loopback instances in parallel", boot_probe_50);

} // namespace
} // namespace cloudhost::bench
