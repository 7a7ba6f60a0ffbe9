// cloudtest --conformance as a vendor runs it: the real CLI in its own
// process, real driver .so files, real SSH servers. The good drivers pass
// every step; each defective driver (defective_driver.cpp, one rule broken)
// fails exactly the step proving that rule, with a message naming it.
#include "build_root.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

using namespace cloudhost::test;
namespace fs = std::filesystem;

using test_support::build_root;

namespace {

struct Step {
    bool ok = false;
    bool skipped = false;
    std::string rule;
    std::string detail;
    std::string out;
};

struct Run {
    ProcessResult process;
    bool ok = false;
    std::vector<std::string> order;
    std::map<std::string, Step> steps;
};

// Every step of a --conformance run with --command, in order.
const std::vector<std::string> all_steps = {"pre-existing instances",
                                            "create",
                                            "listed immediately",
                                            "tags present",
                                            "boot probe",
                                            "command",
                                            "remote user and sudo",
                                            "init command ran",
                                            "tags round trip",
                                            "instance set filter",
                                            "listed by a new instance set",
                                            "typed error",
                                            "destroy",
                                            "destroy again"};

// How to run one driver through the kit.
struct DriverRun {
    std::string driver;
    std::string parameters;       // driver_parameters (JSON)
    std::string fault_parameters; // --fault-config's driver_parameters; "" for none
    std::string expect = "quota";
    std::string driver_dir; // "" for the built drivers' directories
    bool ssh = true;        // false: --no-ssh, and no --command
    // The driver keeps its cloud in the memory of the process that loaded
    // it (the stub without state_dir, the examples). Each isolated set has a
    // helper process of its own, so such a cloud is not shared between the
    // kit's sets: run it in process ("isolation": "none"). A real cloud is
    // outside every process and runs isolated (the loopback cases here).
    bool cloud_in_process_memory = false;
    bool conformance = true;    // false: the plain cloudtest (one instance set)
    std::string isolation = ""; // the config's "isolation", when set
};

std::string loopback_server() {
    return build_root() + "/plugins/loopback/server/cloudhost-loopback-server";
}

class Kit {
  public:
    Kit() { fs::create_directories(dir_ / "state"); }

    const fs::path &dir() const { return dir_.path(); }

    // cloudtest --conformance --json on `driver` (loopback parameters), with
    // a quota fault config the loopback honours (max_instances 1 while the
    // test instance exists).
    Run conformance(const std::string &driver, const std::string &more_parameters = "",
                    const std::string &expect = "quota") {
        const std::string state_dir = "\"state_dir\": \"" + (dir_ / "lo").string() + "\"";
        DriverRun how;
        how.driver = driver;
        how.parameters = "{" + state_dir + more_parameters + "}";
        how.fault_parameters = "{" + state_dir + ", \"max_instances\": 1}";
        how.expect = expect;
        if (driver.rfind("defect_", 0) == 0)
            how.driver_dir = build_root() + "/tests/cloudtest";
        return conformance(how);
    }

    // cloudtest --conformance --json as `how` says.
    Run conformance(const DriverRun &how) {
        const fs::path config = dir_ / ("config-" + std::to_string(runs_) + ".json");
        std::ofstream(config) << "{\"driver\": \"" << how.driver
                              << "\", \"driver_parameters\": " << how.parameters
                              << (how.cloud_in_process_memory ? ", \"isolation\": \"none\""
                                  : how.isolation.empty()
                                      ? ""
                                      : ", \"isolation\": \"" + how.isolation + "\"")
                              // Instances share this machine: each keeps its secret in
                              // its own directory (docs/driver-guide.md).
                              << ", \"instance_secret_path\": \"instance-secret\""
                              << ", \"instance_types\": {\"localhost\": {\"vcpus\": 1, "
                                 "\"ram\": \"1GiB\", \"price\": 0.1}}"
                              << ", \"timeouts\": {\"boot\": \"60s\", \"probe_interval\": "
                                 "\"100ms\", \"sync_interval\": \"100ms\", \"destroy\": \"30s\"}}";
        const fs::path fault = dir_ / ("fault-" + std::to_string(runs_++) + ".json");
        std::vector<std::string> args = {build_root() + "/host/cli/cloudhost", "--log-level",
                                         "debug", "--config", config.string()};
        if (!how.driver_dir.empty()) {
            args.push_back("--driver-dir");
            args.push_back(how.driver_dir);
        }
        for (const char *a : {"cloudtest", "--json"})
            args.push_back(a);
        if (how.conformance)
            for (const char *a : {"--conformance", "--settle", "2s"})
                args.push_back(a);
        if (how.ssh) {
            args.push_back("--command");
            args.push_back("echo conformance-output; echo to-stderr >&2");
        } else {
            args.push_back("--no-ssh");
        }
        if (how.conformance && !how.fault_parameters.empty()) {
            std::ofstream(fault) << "{\"driver_parameters\": " << how.fault_parameters
                                 << ", \"expect\": \"" << how.expect << "\"}";
            args.push_back("--fault-config");
            args.push_back(fault.string());
        }
        Run run;
        run.process = run_process(args, {}, {{"XDG_STATE_HOME", (dir_ / "state").string()}});
        rapidjson::Document d;
        d.Parse(run.process.out.c_str());
        REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " << run.process.out << run.process.err);
        run.ok = d["ok"].GetBool();
        for (const auto &s : d["steps"].GetArray()) {
            Step step;
            step.ok = s["ok"].GetBool();
            step.skipped = s["skipped"].GetBool();
            step.rule = s["rule"].GetString();
            step.detail = s["detail"].GetString();
            step.out = s["stdout"].GetString();
            run.order.push_back(s["name"].GetString());
            run.steps[s["name"].GetString()] = step;
        }
        return run;
    }
    // Instance directories left in the loopback state dir.
    std::size_t instances_left() const {
        std::size_t n = 0;
        if (fs::exists(dir_ / "lo"))
            for (const auto &e : fs::directory_iterator(dir_ / "lo"))
                if (e.is_directory() && e.path().filename().string()[0] != '.')
                    ++n;
        return n;
    }

  private:
    TempDir dir_{"cloudhost-conformance"};
    int runs_ = 0;
};

using Skips = std::map<std::string, std::string>; // step -> the reason it gives

// Every step passes; those in `skipped` are skipped for the reason given
// there, and no other.
void check_passes_every_step(const Run &run, const Skips &skipped = {}) {
    INFO(run.process.out << run.process.err);
    CHECK(run.process.status == 0);
    CHECK(run.ok);
    std::vector<std::string> expected_order = all_steps;
    if (skipped.count("command"))
        expected_order.erase(std::find(expected_order.begin(), expected_order.end(), "command"));
    CHECK(run.order == expected_order);
    for (const auto &entry : run.steps) {
        const auto &name = entry.first; // not a structured binding: clang 14 cannot capture one
        const auto &step = entry.second;
        CHECK_MESSAGE(step.ok, name << ": " << step.detail);
        CHECK_MESSAGE(step.skipped == (skipped.count(name) == 1), name << ": " << step.detail);
        if (step.skipped)
            CHECK_MESSAGE(step.detail.find("skipped: " + skipped.at(name)) == 0,
                          name << ": " << step.detail);
        CHECK_MESSAGE(!step.rule.empty(), name);
    }
}

// The steps that need SSH, skipped under --no-ssh (and no command step:
// --command is refused with --no-ssh), plus `more`.
Skips no_ssh_skips(const Skips &more = {}) {
    const std::string reason = "--no-ssh: this driver's instances are declared unreachable";
    Skips skips = {{"boot probe", reason},
                   {"command", "never run"},
                   {"remote user and sudo", reason},
                   {"init command ran", reason}};
    skips.insert(more.begin(), more.end());
    return skips;
}

bool empty_directory(const fs::path &dir) {
    return fs::is_directory(dir) && fs::is_empty(dir);
}

// Exactly `failing` fails, its detail names its rule and contains `seen`.
void check_fails_exactly(const Run &run, const std::string &failing, const std::string &seen) {
    INFO(run.process.out << run.process.err);
    CHECK(run.process.status == 1);
    CHECK_FALSE(run.ok);
    REQUIRE(run.steps.count(failing) == 1);
    for (const auto &entry : run.steps)
        CHECK_MESSAGE(entry.second.ok == (entry.first != failing),
                      entry.first << ": " << entry.second.detail);
    const Step &step = run.steps.at(failing);
    CHECK(step.detail.find("rule broken: " + step.rule) != std::string::npos);
    CHECK(step.detail.find("expected") != std::string::npos);
    CHECK(step.detail.find(seen) != std::string::npos);
    // The run still cleans up after itself.
    CHECK(run.steps.at("destroy").ok);
}

} // namespace

TEST_CASE("loopback passes every conformance step, host keys verified by the driver") {
    Kit kit;
    Run run = kit.conformance("loopback");
    check_passes_every_step(run);
    // --command's output is in the report.
    CHECK(run.steps["command"].out == "conformance-output\n");
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("loopback passes every conformance step through the tag verifier") {
    Kit kit;
    check_passes_every_step(kit.conformance("loopback", ", \"verify_host_key\": false"));
    CHECK(kit.instances_left() == 0);
}

// The shipped drivers other than loopback, each as a vendor would run it.
TEST_CASE("the stub passes every conformance step, SSH steps skipped with --no-ssh") {
    Kit kit;
    DriverRun how;
    how.driver = "stub";
    how.cloud_in_process_memory = true;
    how.parameters = "{}";
    how.fault_parameters = "{\"quota_max_instances\": 0}";
    how.ssh = false;
    check_passes_every_step(kit.conformance(how), no_ssh_skips());
}

TEST_CASE("the stub with a file cloud passes every conformance step, SSH steps skipped") {
    Kit kit;
    const std::string state_dir = "\"state_dir\": \"" + (kit.dir() / "stub").string() + "\"";
    DriverRun how;
    how.driver = "stub";
    how.parameters = "{" + state_dir + "}";
    how.fault_parameters = "{" + state_dir +
                           ", \"capacity_errors\": [{\"provider_type\": "
                           "\"localhost\"}]}";
    how.expect = "capacity";
    how.ssh = false;
    check_passes_every_step(kit.conformance(how), no_ssh_skips());
}

TEST_CASE("the C example with server machines passes every conformance step") {
    Kit kit;
    const std::string parameters = "\"server_program\": \"" + loopback_server() +
                                   "\", \"state_dir\": \"" + (kit.dir() / "machines").string() +
                                   "\"";
    fs::create_directories(kit.dir() / "machines");
    DriverRun how;
    how.driver = "example";
    how.cloud_in_process_memory = true;
    how.parameters = "{" + parameters + "}";
    how.fault_parameters = "{" + parameters + ", \"max_instances\": 1}";
    Run run = kit.conformance(how);
    check_passes_every_step(run);
    CHECK(run.steps["command"].out == "conformance-output\n");
    CHECK(empty_directory(kit.dir() / "machines")); // every server stopped, its directory gone
}

TEST_CASE("cloudtest passes with the stub and the C example each in a helper process") {
    // One instance set, so a cloud in the helper's memory is the whole cloud.
    Kit kit;
    const std::string machines = (kit.dir() / "machines").string();
    fs::create_directories(machines);
    DriverRun stub;
    stub.driver = "stub";
    stub.parameters = "{}";
    stub.ssh = false;
    DriverRun example;
    example.driver = "example";
    example.parameters =
        "{\"server_program\": \"" + loopback_server() + "\", \"state_dir\": \"" + machines + "\"}";
    for (DriverRun *how : {&stub, &example}) {
        CAPTURE(how->driver);
        how->conformance = false;
        how->isolation = "process";
        Run run = kit.conformance(*how);
        CHECK(run.ok);
        CHECK(run.process.status == 0);
        CHECK(run.process.err.find("driver " + how->driver +
                                   " 1.0.0 prepared for a helper process") != std::string::npos);
        for (const char *step : {"create", "listed immediately", "tags present", "destroy"})
            CHECK(run.steps[step].ok);
        if (how->ssh) {
            CHECK(run.steps["boot probe"].ok);
            CHECK(run.steps["command"].out == "conformance-output\n");
        }
    }
    CHECK(empty_directory(machines)); // every server stopped, its directory gone
}

TEST_CASE("the C example with in-memory machines passes with --no-ssh") {
    Kit kit;
    DriverRun how;
    how.driver = "example";
    how.cloud_in_process_memory = true;
    how.parameters = "{}";
    how.fault_parameters = "{\"max_instances\": 1}";
    how.ssh = false;
    check_passes_every_step(kit.conformance(how), no_ssh_skips());
}

TEST_CASE("the C++ SDK example (filecloud) passes every conformance step") {
    Kit kit;
    DriverRun how;
    how.driver = "filecloud";
    how.cloud_in_process_memory = true;
    how.driver_dir = build_root() + "/docs/examples";
    how.parameters = "{\"dir\": \"" + (kit.dir() / "machines").string() +
                     "\", \"server_program\": \"" + loopback_server() + "\"}";
    // filecloud has no knob for a typed error: that step is skipped.
    Run run = kit.conformance(how);
    check_passes_every_step(run, {{"typed error", "no --fault-config"}});
    CHECK(empty_directory(kit.dir() / "machines"));
}

TEST_CASE("the C++ SDK example (filecloud) with file instances passes with --no-ssh") {
    Kit kit;
    DriverRun how;
    how.driver = "filecloud";
    how.cloud_in_process_memory = true;
    how.driver_dir = build_root() + "/docs/examples";
    how.parameters = "{\"dir\": \"" + (kit.dir() / "files").string() + "\"}";
    how.ssh = false;
    check_passes_every_step(kit.conformance(how),
                            no_ssh_skips({{"typed error", "no --fault-config"}}));
    // Destroyed instances leave nothing; only the set's directory remains.
    CHECK(empty_directory(kit.dir() / "files" / "zzzzz-zzzzz-zzzzzzcloudhost"));
}

TEST_CASE("--command with --no-ssh is a usage error naming both") {
    TempDir dir("cloudhost-no-ssh");
    const auto r = run_process(
        {build_root() + "/host/cli/cloudhost", "cloudtest", "--no-ssh", "--command", "true"}, {},
        {{"XDG_STATE_HOME", (dir / "state").string()}});
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("--command") != std::string::npos);
    CHECK(r.err.find("--no-ssh") != std::string::npos);
}

TEST_CASE("the defect wrapper without a defect passes every step") {
    Kit kit;
    check_passes_every_step(kit.conformance("defect_none"));
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("SetTags that does nothing fails the tags round trip") {
    Kit kit;
    check_fails_exactly(kit.conformance("defect_set_tags"), "tags round trip",
                        "Tags() without cloudhost-CloudTestTagCheck");
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("an ignored InitCommand fails its step even when VerifyHostKey succeeds") {
    Kit kit;
    check_fails_exactly(kit.conformance("defect_init_command"), "init command ran", "exit status");
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("a filter that returns foreign instances fails the filter step") {
    Kit kit;
    check_fails_exactly(kit.conformance("defect_filter"), "instance set filter", "cforgn");
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("instances lost to a new instance set fail the re-adoption step") {
    Kit kit;
    check_fails_exactly(kit.conformance("defect_lost_across_sets"), "listed by a new instance set",
                        "missing");
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("a failing second Destroy fails the destroy-again step") {
    Kit kit;
    check_fails_exactly(kit.conformance("defect_destroy_twice"), "destroy again", "not found");
}

TEST_CASE("a RemoteUser commands do not run as fails the remote user step") {
    Kit kit;
    Run run = kit.conformance("defect_remote_user");
    check_fails_exactly(run, "remote user and sudo", "cloudtest-nobody");
    // The secret file cannot be read as the host would: skipped, not failed.
    CHECK(run.steps["init command ran"].skipped);
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("an untyped quota error fails the typed error step") {
    Kit kit;
    check_fails_exactly(kit.conformance("defect_untyped_quota"), "typed error", "an untyped error");
    CHECK(kit.instances_left() == 0);
}

TEST_CASE("the typed error step fails when the configured error is another one") {
    Kit kit;
    check_fails_exactly(kit.conformance("loopback", "", "capacity"), "typed error", "QuotaError");
}

TEST_CASE("a bad --fault-config is a one-line usage error naming the file and position") {
    TempDir dir("cloudhost-fault-config");
    struct Case {
        std::string text;
        std::string message;
    };
    for (const Case &c :
         {Case{"{\"driver_parameters\": {},\n \"expect\": \"nope\"}", "\"expect\" must be"},
          Case{"{\"driver_parameters\": {}, \"expect\": \"quota\",\n \"x\": 1}",
               "unknown key \"x\""},
          Case{"{\"expect\": \"quota\"}", "needs both"},
          Case{"{\"driver_parameters\": {},\n \"expect\": }", ":2:12: "},
          // Nesting past the limit, at depths that overflow a recursive parser.
          Case{"{\"driver_parameters\": " + std::string(100000, '['), ":1:86: nesting deeper"},
          Case{"{\"driver_parameters\": {\"a\":{\"a\":{\"a\":" + std::string(70, '['),
               "nesting deeper than 64 levels"},
          // Bounded reads: over 1 MiB, and not a regular file.
          Case{std::string(1024 * 1024 + 1, ' '), "file too large"},
          Case{"/dev/zero", "not a regular file"}}) {
        CAPTURE(c.text.substr(0, 80));
        fs::path file = dir / "fault.json";
        if (c.text == "/dev/zero")
            file = c.text;
        else
            std::ofstream(file) << c.text;
        const auto r = run_process(
            {build_root() + "/host/cli/cloudhost", "cloudtest", "--fault-config", file.string()},
            {}, {{"XDG_STATE_HOME", (dir / "state").string()}});
        CHECK(r.status == 2);
        CHECK(r.out.empty());
        CHECK(r.err.find(file.string()) != std::string::npos);
        CHECK(r.err.find(c.message) != std::string::npos);
        CHECK(r.err.find('\n') == r.err.size() - 1);
    }
}
