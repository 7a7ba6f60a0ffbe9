// The CLI as an operator runs it under isolation and signals (issues 9, 10
// item 7, 13): real processes, real helpers, real loopback servers. Each
// test starts the CLI, signals it, and checks how it ended and that nothing
// it started (a cloudhost-driver-host helper, an instance) is left.
#include "background_cli.hpp"
#include "build_root.hpp"
#include "helper_crash.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

using namespace cloudhost::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using test_support::build_root;

namespace {

std::string cli_path() {
    return build_root() + "/host/cli/cloudhost";
}

// Helpers serving the CLI process `pid` (their command line names it).
int helpers_of(pid_t pid) {
    return processes_mentioning("--parent=" + std::to_string(pid));
}

class Setup {
  public:
    Setup() { fs::create_directories(dir_ / "state"); }

    // Writes config `name` (replaced atomically, as an editor would).
    std::string config(const std::string &name, const std::string &json) const {
        const fs::path file = dir_ / name;
        std::ofstream(dir_ / (name + ".new")) << json;
        fs::rename(dir_ / (name + ".new"), file);
        return file.string();
    }
    std::string loopback_config(const std::string &name, const std::string &isolation,
                                const std::string &more_parameters = "") const {
        return config(name, "{\"driver\": \"loopback\", \"isolation\": \"" + isolation +
                                "\", \"driver_parameters\": {\"state_dir\": \"" +
                                (dir_ / "lo").string() + "\"" + more_parameters +
                                "}, \"timeouts\": {\"boot\": \"60s\", \"probe_interval\": "
                                "\"100ms\", \"sync_interval\": \"100ms\", \"destroy\": \"30s\"}}");
    }
    std::map<std::string, std::string> env() const {
        return {{"XDG_STATE_HOME", (dir_ / "state").string()}};
    }
    ProcessResult run(std::vector<std::string> args) const {
        args.insert(args.begin(), cli_path());
        return run_process(args, {}, env());
    }
    std::unique_ptr<BackgroundProcess> start(std::vector<std::string> args) const {
        args.insert(args.begin(), cli_path());
        return std::make_unique<BackgroundProcess>(args, dir_.path(), env());
    }
    std::size_t loopback_instances() const {
        std::size_t n = 0;
        if (fs::exists(dir_ / "lo"))
            for (const auto &e : fs::directory_iterator(dir_ / "lo"))
                if (e.is_directory() && e.path().filename().string().rfind("lo-", 0) == 0)
                    ++n;
        return n;
    }
    int loopback_servers() const { return processes_mentioning((dir_ / "lo").string()); }
    const TempDir &dir() const { return dir_; }

  private:
    TempDir dir_{"cloudhost-cli-signals"};
};

std::vector<rapidjson::Document> events(const std::string &text) {
    std::vector<rapidjson::Document> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end - start);
        start = end == std::string::npos ? text.size() : end + 1;
        rapidjson::Document d;
        d.Parse(line.c_str());
        REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " << line);
        out.push_back(std::move(d));
    }
    return out;
}

std::vector<std::string> event_names(const std::string &text) {
    std::vector<std::string> names;
    for (const auto &e : events(text))
        names.emplace_back(e["event"].GetString());
    return names;
}

} // namespace

TEST_CASE("drivers shows where each driver would run under the config's isolation") {
    Setup s;
    for (const char *mode : {"process", "none", "auto"}) {
        CAPTURE(mode);
        const auto r =
            s.run({"--config", s.loopback_config("drivers.json", mode), "drivers", "--json"});
        REQUIRE_MESSAGE(r.status == 0, r.err);
        rapidjson::Document d;
        d.Parse(r.out.c_str());
        REQUIRE_FALSE(d.HasParseError());
        int ok = 0;
        for (const auto &f : d["drivers"].GetArray()) {
            if (std::string(f["status"].GetString()) != "ok") {
                CHECK(f["isolation"].IsNull());
                continue;
            }
            ++ok;
            // allow-all vouches for nothing: auto isolates.
            const std::string expected = std::string(mode) == "none" ? "none" : "process";
            CHECK(std::string(f["isolation"].GetString()) == expected);
        }
        CHECK(ok >= 3);
    }
    const auto table = s.run({"--config", s.loopback_config("drivers.json", "none"), "drivers"});
    CHECK(table.out.find("ISOLATION") != std::string::npos);
}

TEST_CASE("every command runs an isolated driver in a helper that does not outlive it") {
    Setup s;
    const auto config = s.loopback_config("iso.json", "process");
    auto watch = s.start({"--config", config, "watch", "--json"});
    REQUIRE(watch->wait_for_output("\"event\":\"sync\"", 30s));
    CHECK(helpers_of(watch->pid()) == 1);

    auto created = s.run({"--config", config, "create", "--json"});
    REQUIRE_MESSAGE(created.status == 0, created.err);
    rapidjson::Document d;
    d.Parse(created.out.c_str());
    REQUIRE_FALSE(d.HasParseError());
    const std::string id = d["id"].GetString();
    const auto listed = s.run({"--config", config, "list"});
    CHECK(listed.out.find(id) != std::string::npos);
    const auto exec = s.run({"--config", config, "exec", id, "--", "echo", "isolated"});
    CHECK(exec.status == 0);
    CHECK(exec.out == "isolated\n");
    CHECK(s.run({"--config", config, "destroy", id}).status == 0);
    CHECK(s.loopback_instances() == 0);

    watch->signal(SIGTERM);
    const auto status = watch->wait(20s);
    REQUIRE(status.has_value());
    CHECK(*status == 128 + SIGTERM);
    const auto names = event_names(watch->out());
    REQUIRE_FALSE(names.empty());
    CHECK(names.back() == "stopped");
    CHECK(watch->out().find("\"signal\":\"SIGTERM\"") != std::string::npos);
    CHECK(helpers_of(watch->pid()) == 0);
    CHECK(s.loopback_servers() == 0);
}

TEST_CASE("watch stops on SIGINT too, in process, and exits 128+signal") {
    Setup s;
    auto watch = s.start({"--config", s.loopback_config("none.json", "none"), "watch"});
    REQUIRE(watch->wait_for_output("sync", 30s));
    CHECK(helpers_of(watch->pid()) == 0); // "none": no helper
    watch->signal(SIGINT);
    const auto status = watch->wait(20s);
    REQUIRE(status.has_value());
    CHECK(*status == 128 + SIGINT);
    CHECK(watch->out().find("stopped") != std::string::npos);
}

TEST_CASE("cloudtest passes with isolated drivers: loopback and the C example") {
    Setup s;
    auto r = s.run({"--config", s.loopback_config("ct.json", "process"), "cloudtest", "--json"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("\"ok\":true") == 1);
    CHECK(s.loopback_instances() == 0);

    const std::string server = build_root() + "/plugins/loopback/server/cloudhost-loopback-server";
    fs::create_directories(s.dir() / "ex");
    const auto example = s.config(
        "example.json", "{\"driver\": \"example\", \"isolation\": \"process\", "
                        "\"driver_parameters\": {\"server_program\": \"" +
                            server + "\", \"state_dir\": \"" + (s.dir() / "ex").string() +
                            "\"}, \"instance_secret_path\": \"instance-secret\", "
                            "\"instance_types\": {\"small\": {\"vcpus\": 1, \"ram\": \"1GiB\", "
                            "\"price\": 0.1}}, "
                            "\"timeouts\": {\"boot\": \"60s\", \"probe_interval\": \"100ms\", "
                            "\"destroy\": \"30s\"}}");
    r = s.run({"--config", example, "cloudtest", "--json"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("\"ok\":true") == 1);
    CHECK(processes_mentioning((s.dir() / "ex").string()) == 0);
}

TEST_CASE("a driver that crashes in its helper: one clear error line, exit 1, no crash") {
    Setup s;
    const fs::path drivers = s.dir() / "drivers";
    fs::create_directories(drivers);
    fs::copy_file(build_root() + "/tests/isolation/hostile.so", drivers / "hostile.so");
    // A crash must be told apart from a hang however long the helper takes
    // to die: under AddressSanitizer a stack overflow's report alone can take
    // seconds on a loaded machine. So the crash cases get a deadline they
    // never reach, and only the hang case gets a short one.
    const auto config_with_deadline = [&](const std::string &name, const std::string &deadline) {
        return s.config(name, "{\"driver\": \"hostile\", \"isolation\": \"process\", "
                              "\"driver_dirs\": [\"" +
                                  drivers.string() + "\"], \"timeouts\": {\"driver_call\": \"" +
                                  deadline + "\"}}");
    };
    const auto patient = config_with_deadline("hostile-patient.json", "120s");
    const auto hasty = config_with_deadline("hostile-hasty.json", "2s");
    // The error line names the operation, the driver and how its helper
    // ended (the crash is also logged as a driver_crashed warning).
    struct Expectation {
        std::string config;
        std::string message;
    };
    const std::map<std::string, Expectation> expected = {
        {"segv", {patient, "cloudhost: Instances: driver hostile 1.0.0 (helper pid "}},
        {"stack", {patient, "cloudhost: Instances: driver hostile 1.0.0 (helper pid "}},
        {"throw", {patient, "cloudhost: instances: driver threw across the C ABI"}},
        {"sleep", {hasty, "cloudhost: Instances: driver hostile 1.0.0 did not answer within 2 s"}}};
    for (const auto &entry : expected) {
        const std::string fault = entry.first;
        CAPTURE(fault);
        const auto r = s.run({"--config", entry.second.config, "list", "--tag", "fault=" + fault});
        INFO(r.err);
        CHECK(r.status == 1);
        CHECK(r.err.find(entry.second.message) != std::string::npos);
        if (fault == "segv" || fault == "stack")
            CHECK(test_support::reports_fatal_signal(r.err, "killed by signal"));
        CHECK(r.out.empty());
    }
    // The well-behaved path of the same driver still works.
    CHECK(s.run({"--config", patient, "list"}).status == 0);
}

TEST_CASE("create --wait interrupted destroys the instance it created and exits 128+signal") {
    for (const int signal_number : {SIGINT, SIGTERM}) {
        CAPTURE(signal_number);
        Setup s;
        // Never boots: the InitCommand (and with it the instance secret) is
        // skipped and the host key is checked through the secret.
        const auto config = s.loopback_config(
            "wait.json", "process", ", \"verify_host_key\": false, \"skip_init_command\": true");
        auto create = s.start({"--config", config, "create", "--wait"});
        for (int i = 0; i < 300 && s.loopback_instances() == 0; ++i)
            std::this_thread::sleep_for(50ms);
        REQUIRE(s.loopback_instances() == 1);
        std::this_thread::sleep_for(300ms); // into the boot wait
        create->signal(signal_number);
        const auto status = create->wait(30s);
        REQUIRE(status.has_value());
        CHECK(*status == 128 + signal_number);
        CHECK(create->err().find("interrupted by SIG") != std::string::npos);
        CHECK(s.loopback_instances() == 0);
        CHECK(s.loopback_servers() == 0);
        CHECK(helpers_of(create->pid()) == 0);
        const auto listed = s.run({"--config", config, "list", "--json"});
        CHECK(listed.out.find("\"instances\":[]") != std::string::npos);
    }
}

TEST_CASE("SIGHUP reloads driver parameters; restart-only keys and bad files are refused") {
    Setup s;
    const fs::path state = s.dir() / "stub";
    fs::create_directories(state);
    std::ofstream(state / "valid_tokens") << "token-a\ntoken-b\n";
    const auto write = [&](const std::string &token, const std::string &instance_set_id) {
        return s.config("stub.json", "{\"driver\": \"stub\", \"isolation\": \"process\",\n"
                                     " \"instance_set_id\": \"" +
                                         instance_set_id +
                                         "\",\n"
                                         " \"driver_parameters\": {\"state_dir\": \"" +
                                         state.string() + "\", \"api_token\": \"" + token +
                                         "\"},\n"
                                         " \"timeouts\": {\"sync_interval\": \"100ms\"}}\n");
    };
    const std::string id = "zzzzz-zzzzz-zzzzzzzzreload1";
    const auto config = write("token-a", id);
    auto watch = s.start({"--config", config, "watch", "--json"});
    REQUIRE(watch->wait_for_output("\"event\":\"sync\"", 30s));

    write("token-b", id);
    watch->signal(SIGHUP);
    REQUIRE(watch->wait_for_output("\"event\":\"reloaded\"", 30s));
    // The old token revoked: the running set uses the new one.
    std::ofstream(state / "valid_tokens") << "token-b\n";

    write("token-b", "zzzzz-zzzzz-zzzzzzzzreload2");
    watch->signal(SIGHUP);
    REQUIRE(watch->wait_for_output("only a restart applies", 30s));

    s.config("stub.json", "{\"driver\": \"stub\",\n \"driver_parameters\": {\n");
    watch->signal(SIGHUP);
    REQUIRE(watch->wait_for_output(config + ":3:1: ", 30s));
    std::this_thread::sleep_for(500ms); // more syncs on the running config

    watch->signal(SIGTERM);
    const auto status = watch->wait(20s);
    REQUIRE(status.has_value());
    CHECK(*status == 128 + SIGTERM);
    INFO(watch->out() << watch->err());
    const auto all = events(watch->out());
    int reloaded = 0, failed = 0;
    for (const auto &e : all) {
        const std::string name = e["event"].GetString();
        reloaded += name == "reloaded";
        if (name == "reload_failed") {
            ++failed;
            const std::string reason = e["reason"].GetString();
            CHECK(reason.find("keeping the running config") != std::string::npos);
        }
        CHECK(name != "sync_failed"); // token-a was never used after the reload
    }
    CHECK(reloaded == 1);
    CHECK(failed == 2);
    CHECK(watch->out().find("\\\"instance_set_id\\\" changed") != std::string::npos);
    CHECK(helpers_of(watch->pid()) == 0);
}

TEST_CASE("a hot swap under isolation keeps the instances; the old helper exits") {
    Setup s;
    const fs::path drivers = s.dir() / "drivers";
    const fs::path state = s.dir() / "stub";
    fs::create_directories(drivers);
    fs::copy_file(build_root() + "/tests/hotswap/stub_v1.so", drivers / "stub.so");
    const auto config = s.config(
        "swap.json", "{\"driver\": \"stub\", \"isolation\": \"process\", \"driver_dirs\": [\"" +
                         drivers.string() + "\"], \"driver_parameters\": {\"state_dir\": \"" +
                         state.string() +
                         "\"}, \"instance_types\": {\"small\": {\"vcpus\": 1, \"ram\": \"1GiB\", "
                         "\"price\": 0.1}}, \"timeouts\": {\"sync_interval\": \"100ms\"}}");
    for (int i = 0; i < 2; ++i)
        REQUIRE(s.run({"--config", config, "create"}).status == 0);
    auto watch = s.start({"--config", config, "watch", "--json"});
    REQUIRE(watch->wait_for_output("\"instances\":\"2\"", 30s));
    CHECK(helpers_of(watch->pid()) == 1);

    fs::copy_file(build_root() + "/tests/hotswap/stub_v2.so", drivers / ".incoming");
    fs::rename(drivers / ".incoming", drivers / "stub_v2.so");
    REQUIRE(watch->wait_for_output("\"event\":\"swapped\"", 30s));
    REQUIRE(watch->wait_for_output("\"event\":\"unloaded\"", 30s));
    // The old version's helper is gone once it drained; the new one serves.
    int helpers = 0;
    for (int i = 0; i < 100 && (helpers = helpers_of(watch->pid())) != 1; ++i)
        std::this_thread::sleep_for(50ms);
    CHECK(helpers == 1);
    const auto listed = s.run({"--config", config, "list", "--json"});
    rapidjson::Document list;
    list.Parse(listed.out.c_str());
    REQUIRE_MESSAGE(!list.HasParseError(), listed.out << listed.err);
    CHECK(list["instances"].Size() == 2);

    watch->signal(SIGTERM);
    const auto status = watch->wait(20s);
    REQUIRE(status.has_value());
    CHECK(*status == 128 + SIGTERM);
    const auto names = event_names(watch->out());
    CHECK(std::count(names.begin(), names.end(), "sync_failed") == 0);
    CHECK(helpers_of(watch->pid()) == 0);
}

TEST_CASE("a second signal exits at once while a driver call hangs; its helper goes too") {
    Setup s;
    const fs::path drivers = s.dir() / "drivers";
    fs::create_directories(drivers);
    fs::copy_file(build_root() + "/tests/isolation/hostile.so", drivers / "hostile.so");
    const auto config = s.config(
        "hang.json", "{\"driver\": \"hostile\", \"isolation\": \"process\", \"driver_dirs\": [\"" +
                         drivers.string() +
                         "\"], \"instance_types\": {\"small\": {\"vcpus\": 1, \"ram\": \"1GiB\", "
                         "\"price\": 0.1}}, \"timeouts\": {\"driver_create\": \"5m\"}}");
    // Create never returns: the first signal waits for it (to destroy what
    // it makes), the second ends the command at once.
    auto create = s.start({"--config", config, "create", "--tag", "fault=loop"});
    int helpers = 0;
    for (int i = 0; i < 200 && (helpers = helpers_of(create->pid())) == 0; ++i)
        std::this_thread::sleep_for(50ms);
    REQUIRE(helpers == 1);
    std::this_thread::sleep_for(300ms); // into the Create call
    create->signal(SIGTERM);
    CHECK_FALSE(create->wait(1s).has_value());
    create->signal(SIGTERM);
    const auto status = create->wait(10s);
    REQUIRE(status.has_value());
    CHECK(*status == 128 + SIGTERM);
    // The helper dies with its host (PR_SET_PDEATHSIG); bounded wait.
    for (int i = 0; i < 100 && (helpers = helpers_of(create->pid())) != 0; ++i)
        std::this_thread::sleep_for(50ms);
    CHECK(helpers == 0);
}
