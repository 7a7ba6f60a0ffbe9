// The cloudhost command line against the real loopback driver: every command
// runs as its own process, so an instance created by one process is listed,
// executed on and destroyed by others.
#include "build_root.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

using namespace cloudhost::test;
namespace fs = std::filesystem;

using test_support::build_root;

namespace {

// Processes whose command line mentions `needle` (leaked loopback servers).
int processes_mentioning(const std::string &needle) {
    int count = 0;
    for (const auto &entry : fs::directory_iterator("/proc")) {
        std::ifstream cmdline(entry.path() / "cmdline", std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(cmdline)), {});
        if (text.find(needle) != std::string::npos && entry.path().filename() != "self")
            ++count;
    }
    return count;
}

class Cli {
  public:
    Cli() { fs::create_directories(dir_ / "state"); }

    ProcessResult run(std::vector<std::string> args, const std::string &stdin_data = {},
                      std::map<std::string, std::string> env = {}) {
        args.insert(args.begin(), build_root() + "/host/cli/cloudhost");
        env["XDG_STATE_HOME"] = (dir_ / "state").string();
        return run_process(args, stdin_data, env);
    }
    // A config for loopback with its state in the temp dir.
    std::string config(const std::string &driver_parameters,
                       const std::string &timeouts = "{\"boot\": \"60s\", \"probe_interval\": "
                                                     "\"100ms\", \"sync_interval\": \"100ms\", "
                                                     "\"destroy\": \"30s\"}") {
        fs::path file = dir_ / ("config-" + std::to_string(configs_++) + ".json");
        std::ofstream(file) << "{\"driver\": \"loopback\", \"driver_parameters\": "
                            << driver_parameters << ", \"timeouts\": " << timeouts << "}";
        return file.string();
    }
    std::string loopback_params(const std::string &more = "") const {
        return "{\"state_dir\": \"" + state_dir().string() + "\"" + more + "}";
    }
    fs::path state_dir() const { return dir_ / "lo"; }
    // Instance directories left in the loopback state dir.
    std::size_t instances_on_disk() const {
        std::size_t n = 0;
        if (fs::exists(state_dir()))
            for (const auto &e : fs::directory_iterator(state_dir()))
                if (e.is_directory() && e.path().filename().string()[0] != '.')
                    ++n;
        return n;
    }
    const TempDir &dir() const { return dir_; }

  private:
    TempDir dir_{"cloudhost-cli"};
    int configs_ = 0;
};

rapidjson::Document parse(const std::string &text) {
    rapidjson::Document d;
    d.Parse(text.c_str());
    REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " << text);
    return d;
}

bool single_line(const std::string &s) {
    return !s.empty() && s.find('\n') == s.size() - 1;
}

} // namespace

TEST_CASE("drivers --json lists the built drivers as ok") {
    Cli cli;
    auto r = cli.run({"drivers", "--json"});
    REQUIRE(r.status == 0);
    auto d = parse(r.out);
    std::set<std::string> ok;
    for (const auto &f : d["drivers"].GetArray()) {
        CHECK(f.HasMember("path"));
        CHECK(f.HasMember("sha256"));
        CHECK(f.HasMember("reason"));
        CHECK(f.HasMember("active"));
        if (std::string(f["status"].GetString()) == "ok")
            ok.insert(f["name"].GetString());
    }
    CHECK(ok.count("loopback") == 1);
    CHECK(ok.count("stub") == 1);
    CHECK(ok.count("example") == 1);
}

TEST_CASE("bad input: one-line error, exit 2, nothing created") {
    Cli cli;
    fs::path bad = cli.dir() / "bad.json";
    std::ofstream(bad) << "{\n  \"driver\": \"loopback\",\n  \"ssh_port\": [22]\n}\n";
    auto r = cli.run({"--config", bad.string(), "list"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.find(bad.string() + ":3:15: \"ssh_port\"") != std::string::npos);

    std::ofstream(bad) << "{\"driver\": \"loopback\",}";
    r = cli.run({"--config", bad.string(), "list"});
    CHECK(r.status == 2);
    CHECK(r.err.find(":1:23: invalid JSON") != std::string::npos);

    std::ofstream(bad) << "{\"driver\": \"nosuchdriver\"}";
    r = cli.run({"--config", bad.string(), "list"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.find("nosuchdriver") != std::string::npos);

    std::ofstream(bad) << "{\"driver\": \"loopback\", \"instance_set_id\": \"not-an-id\"}";
    r = cli.run({"--config", bad.string(), "list"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.find("\"instance_set_id\"") != std::string::npos);

    const std::string config = cli.config(cli.loopback_params());
    r = cli.run({"--config", config, "create", "--tag", "novalue"});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: --tag #1: \"novalue\" is not of the form KEY=VALUE\n");

    r = cli.run({"--config", config, "exec", "lo-doesnotexist", "--", "true"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.find("no instance \"lo-doesnotexist\"") != std::string::npos);

    r = cli.run({"--config", config, "create", "--type", "huge"});
    CHECK(r.status == 2);
    CHECK(r.err.find("unknown instance type \"huge\"") != std::string::npos);

    r = cli.run({"--config", config, "--log-level", "loud", "list"});
    CHECK(r.status == 2);

    r = cli.run({"nosuchcommand"});
    CHECK(r.status == 2);

    CHECK(cli.instances_on_disk() == 0);
    CHECK(processes_mentioning(cli.state_dir().string()) == 0);
}

TEST_CASE("an instance created by one process is listed, used and destroyed by others") {
    Cli cli;
    const std::string config = cli.config(cli.loopback_params());
    auto created = cli.run({"--config", config, "create", "--tag", "team=infra", "--json"});
    REQUIRE_MESSAGE(created.status == 0, created.err);
    auto inst = parse(created.out);
    const std::string id = inst["id"].GetString();
    CHECK(std::string(inst["provider_type"].GetString()) == "localhost");
    CHECK(std::string(inst["tags"]["team"].GetString()) == "infra");
    CHECK(inst["tags"].HasMember("cloudhost-InstanceSecret"));

    auto listed = cli.run({"--config", config, "list", "--json"});
    REQUIRE(listed.status == 0);
    auto list = parse(listed.out);
    REQUIRE(list["instances"].Size() == 1);
    CHECK(std::string(list["instances"][0]["id"].GetString()) == id);

    // stdin, stdout, stderr, env and the exit status go through.
    auto exec = cli.run({"--config", config, "exec", id, "--env", "GREETING=hello", "--", "cat;",
                         "echo", "$GREETING;", "echo", "oops", ">&2;", "exit", "3"},
                        "from stdin\n");
    CHECK(exec.status == 3);
    CHECK(exec.out == "from stdin\nhello\n");
    CHECK(exec.err == "oops\n");

    REQUIRE(cli.run({"--config", config, "tag", id, "stage=prod"}).status == 0);
    auto by_tag = parse(cli.run({"--config", config, "list", "--tag", "stage=prod", "--json"}).out);
    CHECK(by_tag["instances"].Size() == 1);
    auto other_tag =
        parse(cli.run({"--config", config, "list", "--tag", "stage=dev", "--json"}).out);
    CHECK(other_tag["instances"].Size() == 0);

    auto destroyed = cli.run({"--config", config, "destroy", id});
    CHECK_MESSAGE(destroyed.status == 0, destroyed.err);
    auto after = parse(cli.run({"--config", config, "list", "--json"}).out);
    CHECK(after["instances"].Size() == 0);
    CHECK(cli.instances_on_disk() == 0);
    CHECK(processes_mentioning(cli.state_dir().string()) == 0);
}

TEST_CASE("cloudtest passes on loopback with host key verification by the driver") {
    Cli cli;
    auto r = cli.run({"--config", cli.config(cli.loopback_params()), "cloudtest", "--json",
                      "--command", "test -s instance-secret"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    auto report = parse(r.out);
    CHECK(report["ok"].GetBool());
    std::vector<std::string> names;
    for (const auto &s : report["steps"].GetArray())
        names.push_back(s["name"].GetString());
    CHECK(names == std::vector<std::string>{"pre-existing instances", "create",
                                            "listed immediately", "tags present", "boot probe",
                                            "command", "destroy"});
    CHECK(cli.instances_on_disk() == 0);
}

TEST_CASE("cloudtest passes on loopback through the tag verifier") {
    Cli cli;
    auto r = cli.run(
        {"--config", cli.config(cli.loopback_params(", \"verify_host_key\": false")), "cloudtest"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("cloudtest passed") != std::string::npos);
    CHECK(cli.instances_on_disk() == 0);
}

TEST_CASE("cloudtest fails at the boot probe when the driver skips the InitCommand") {
    Cli cli;
    auto r = cli.run({"--config",
                      cli.config(cli.loopback_params(
                                     ", \"verify_host_key\": false, \"skip_init_command\": true"),
                                 "{\"boot\": \"3s\", \"probe_interval\": \"200ms\", "
                                 "\"sync_interval\": \"100ms\", \"destroy\": \"30s\"}"),
                      "cloudtest", "--json"});
    INFO(r.out << r.err);
    CHECK(r.status == 1);
    auto report = parse(r.out);
    CHECK_FALSE(report["ok"].GetBool());
    std::string failed;
    for (const auto &s : report["steps"].GetArray())
        if (!s["ok"].GetBool() && failed.empty())
            failed = s["name"].GetString();
    CHECK(failed == "boot probe");
    // It still destroyed the instance.
    CHECK(cli.instances_on_disk() == 0);
}

TEST_CASE("cloudtest refuses pre-existing instances unless told to destroy them") {
    Cli cli;
    const std::string config = cli.config(cli.loopback_params());
    REQUIRE(cli.run({"--config", config, "create"}).status == 0);
    auto refused = cli.run({"--config", config, "cloudtest"});
    CHECK(refused.status == 1);
    CHECK(refused.out.find("--destroy-existing") != std::string::npos);
    CHECK(cli.instances_on_disk() == 1);
    auto passed = cli.run({"--config", config, "cloudtest", "--destroy-existing"});
    INFO(passed.out << passed.err);
    CHECK(passed.status == 0);
    CHECK(cli.instances_on_disk() == 0);
}

TEST_CASE("drivers --json gives every bad file its own reason and still lists the good ones") {
    Cli cli;
    const fs::path bad = cli.dir() / "drivers";
    const fs::path fixtures = fs::path(build_root()) / "tests/catalog/fixtures";
    fs::create_directories(bad);
    std::ofstream(bad / "empty.so").flush();
    std::ofstream(bad / "text.so") << "this is not a shared object\n";
    for (const char *name :
         {"fixture-1.0.0.so", "fixture-1.1.0.so", "no-metadata.so", "abi-99.so", "missing-dep.so"})
        fs::copy_file(fixtures / name, bad / name);
    fs::copy_file(fixtures / "fixture-1.1.0.so", bad / "z-duplicate.so");
    {
        // Truncated: the first 100 bytes of a good driver.
        std::ifstream in(fixtures / "fixture-1.0.0.so", std::ios::binary);
        std::string head(100, '\0');
        in.read(head.data(), 100);
        std::ofstream(bad / "truncated.so", std::ios::binary) << head;
        // Another architecture: a good driver with e_machine = EM_AARCH64.
        in.seekg(0);
        std::string whole((std::istreambuf_iterator<char>(in)), {});
        whole[18] = static_cast<char>(183);
        whole[19] = 0;
        std::ofstream(bad / "aarch64.so", std::ios::binary) << whole;
    }

    auto r = cli.run({"drivers", "--json", "--driver-dir", bad.string()});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    auto d = parse(r.out);
    std::map<std::string, std::pair<std::string, std::string>> verdicts; // file → status, reason
    for (const auto &f : d["drivers"].GetArray())
        verdicts[fs::path(f["path"].GetString()).filename().string()] = {f["status"].GetString(),
                                                                         f["reason"].GetString()};
    auto reason = [&](const std::string &file) {
        REQUIRE(verdicts.count(file) == 1);
        CHECK(verdicts[file].first == "rejected");
        return verdicts[file].second;
    };
    CHECK(verdicts.size() == 10);
    CHECK(verdicts["fixture-1.0.0.so"].first == "ok");
    CHECK(verdicts["fixture-1.1.0.so"].first == "ok");
    std::set<std::string> reasons;
    for (const char *file : {"empty.so", "text.so", "truncated.so", "aarch64.so", "no-metadata.so",
                             "abi-99.so", "missing-dep.so", "z-duplicate.so"}) {
        std::string why = reason(file);
        CHECK_MESSAGE(!why.empty(), file);
        reasons.insert(why);
    }
    CHECK(reasons.size() == 8); // each its own reason
    CHECK(reason("aarch64.so").find("AArch64") != std::string::npos);
    CHECK(reason("missing-dep.so").find("missing dependency") != std::string::npos);
    CHECK(reason("z-duplicate.so").find("duplicate") != std::string::npos);
    CHECK(reason("abi-99.so").find("99") != std::string::npos);
}

TEST_CASE("cloudtest fails at create when the driver's Create fails, and names the step") {
    Cli cli;
    fs::path config = cli.dir() / "stub.json";
    std::ofstream(config) << R"({"driver": "stub",
        "driver_parameters": {"cloud": "cloudtest-create-fails", "error_rate_create": 1},
        "instance_types": {"small": {"vcpus": 1, "ram": "1GiB", "price": 0.1}},
        "timeouts": {"boot": "1s", "probe_interval": "100ms", "sync_interval": "100ms"}})";
    auto r = cli.run({"--config", config.string(), "cloudtest", "--json"});
    INFO(r.out << r.err);
    CHECK(r.status == 1);
    auto report = parse(r.out);
    CHECK_FALSE(report["ok"].GetBool());
    const auto &steps = report["steps"].GetArray();
    REQUIRE(steps.Size() == 2);
    CHECK(std::string(steps[1]["name"].GetString()) == "create");
    CHECK_FALSE(steps[1]["ok"].GetBool());
    CHECK(std::string(steps[1]["detail"].GetString()).find("injected") != std::string::npos);
}

TEST_CASE("--log-format json writes one JSON object per log line") {
    Cli cli;
    auto r = cli.run({"--config", cli.config(cli.loopback_params()), "--log-format", "json",
                      "--log-level", "debug", "list"});
    REQUIRE(r.status == 0);
    std::size_t lines = 0;
    std::size_t start = 0;
    while (start < r.err.size()) {
        std::size_t end = r.err.find('\n', start);
        std::string line = r.err.substr(start, end - start);
        start = end == std::string::npos ? r.err.size() : end + 1;
        auto d = parse(line);
        CHECK(d.HasMember("time"));
        CHECK(std::string(d["level"].GetString()) == "debug");
        CHECK(d["msg"].IsString());
        ++lines;
    }
    CHECK(lines >= 2);
}

TEST_CASE("--version names the driver ABI range; --help works for every command") {
    Cli cli;
    auto r = cli.run({"--version"});
    CHECK(r.status == 0);
    CHECK(r.out.rfind("cloudhost ", 0) == 0);
    CHECK(r.out.find(" (driver ABI 1..1)\n") != std::string::npos);
    for (const char *command :
         {"drivers", "create", "list", "tag", "destroy", "exec", "cloudtest"}) {
        auto help = cli.run({command, "--help"});
        CAPTURE(command);
        CHECK(help.status == 0);
        CHECK(help.out.find(command) != std::string::npos);
    }
}

TEST_CASE("cloudtest --json prints only the JSON result") {
    Cli cli;
    auto r = cli.run({"--config", cli.config(cli.loopback_params()), "cloudtest", "--json"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    CHECK(single_line(r.out));
    CHECK(parse(r.out)["ok"].GetBool());
}

TEST_CASE("--tag and tag items obey the tag rules; the error names the flag and its position") {
    Cli cli;
    const std::string config = cli.config(cli.loopback_params());
    auto r = cli.run({"--config", config, "create", "--tag", "a=b", "--tag", "k\x01=v"});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: --tag #2: tag key \"k\\x01\" contains control character \\x01 at "
                   "byte 2 (control characters are not allowed)\n");

    r = cli.run({"--config", config, "create", "--tag", "team=" + std::string(257, 'x')});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: --tag #1: tag \"team\": value is 257 bytes long (at most 256)\n");

    r = cli.run({"--config", config, "create", "--tag", std::string(129, 'k') + "=v"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.find("--tag #1: tag key \"kkkk") != std::string::npos);
    CHECK(r.err.find("is 129 bytes long (at most 128)") != std::string::npos);

    r = cli.run({"--config", config, "create", "--tag", "a=b", "--tag", "a=c"});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: --tag #2: key \"a\" given twice\n");

    // 51 items: refused as a whole. 48 items: each fine, but with the three
    // tags the CLI adds (InstanceSetID, InstanceType, InstanceSecret) one too
    // many; refused before the driver is asked.
    auto tag_flags = [](int n) {
        std::vector<std::string> flags;
        for (int i = 0; i < n; ++i) {
            flags.push_back("--tag");
            flags.push_back("k" + std::to_string(i) + "=v");
        }
        return flags;
    };
    std::vector<std::string> args{"--config", config, "create"};
    auto many = tag_flags(51);
    args.insert(args.end(), many.begin(), many.end());
    r = cli.run(args);
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: --tag: 51 tags (at most 50 per instance)\n");
    args.resize(3);
    many = tag_flags(48);
    args.insert(args.end(), many.begin(), many.end());
    r = cli.run(args);
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: Create InstanceTags: 51 tags (at most 50 per instance)\n");

    r = cli.run({"--config", config, "list", "--tag", "k=\x7f"});
    CHECK(r.status == 2);
    CHECK(r.err.find("cloudhost: --tag #1: tag \"k\": value contains control character \\x7f") ==
          0);
    r = cli.run({"--config", config, "tag", "lo-any", "ok=1", "=v"});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: tag #2: \"=v\" has an empty key\n");
    r = cli.run({"--config", config, "tag", "lo-any", "k=\xff"});
    CHECK(r.status == 2);
    CHECK(r.err ==
          "cloudhost: tag #1: tag \"k\": value is not valid UTF-8 (byte \\xff at byte 1)\n");

    CHECK(cli.instances_on_disk() == 0);
    CHECK(processes_mentioning(cli.state_dir().string()) == 0);
}

TEST_CASE("config tags and instance types are checked with file, line and column") {
    Cli cli;
    const fs::path bad = cli.dir() / "tags.json";
    std::ofstream(bad)
        << "{\"driver\": \"stub\",\n \"resource_tags\": {\n  \"team\\u0000\": \"x\"}}";
    auto r = cli.run({"--config", bad.string(), "list"});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: " + bad.string() +
                       ":3:3: \"resource_tags\": tag key \"team\\x00\" contains control character "
                       "\\x00 at byte 5 (control characters are not allowed)\n");

    std::ofstream(bad)
        << "{\"driver\": \"stub\",\n \"instance_types\": {\"a\": {\"provider_type\": \"\"}}}";
    r = cli.run({"--config", bad.string(), "create"});
    CHECK(r.status == 2);
    CHECK(r.err ==
          "cloudhost: " + bad.string() +
              ":2:44: \"instance_types.a.provider_type\" must not be empty (omit it for the "
              "default)\n");
}

TEST_CASE("flag values that do not parse give one line naming the flag") {
    Cli cli;
    auto r = cli.run({"watch", "--duration", "5parsecs"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.rfind("cloudhost: --duration: bad duration \"5parsecs\"", 0) == 0);
    r = cli.run({"watch", "--duration=-1s"});
    CHECK(r.status == 2);
    CHECK(r.err.rfind("cloudhost: --duration: bad duration \"-1s\"", 0) == 0);
    // CLI11's own errors name the flag on their first line.
    r = cli.run({"list", "--json=maybe"});
    CHECK(r.status == 2);
    CHECK(r.err.find("--json") < r.err.find('\n'));
    r = cli.run({"create", "--tag"});
    CHECK(r.status == 2);
    CHECK(r.err.find("--tag") < r.err.find('\n'));
}

TEST_CASE("CLOUDHOST_DRIVER_PATH chooses the driver directories; --driver-dir overrides it") {
    Cli cli;
    const fs::path first = cli.dir() / "first", second = cli.dir() / "second";
    fs::create_directories(first);
    fs::create_directories(second);
    fs::copy_file(fs::path(build_root()) / "plugins/stub/stub.so", first / "stub.so");
    fs::copy_file(fs::path(build_root()) / "plugins/example/example.so", second / "example.so");
    auto listed = [&](const std::vector<std::string> &args, const std::string &driver_path) {
        auto r = cli.run(args, {}, {{"CLOUDHOST_DRIVER_PATH", driver_path}});
        REQUIRE_MESSAGE(r.status == 0, r.err);
        std::set<std::string> paths;
        const auto report = parse(r.out); // outlives the loop (C++20 range-for)
        for (const auto &f : report["drivers"].GetArray())
            paths.insert(f["path"].GetString());
        return paths;
    };
    CHECK(listed({"drivers", "--json"}, first.string() + "::" + second.string()) ==
          std::set<std::string>{(first / "stub.so").string(), (second / "example.so").string()});
    CHECK(listed({"drivers", "--json", "--driver-dir", second.string()}, first.string()) ==
          std::set<std::string>{(second / "example.so").string()});
    // The setuid case is in tests/trust/elevated_test.cpp.
}

// Issue 10: every command refuses a hostile config in one line, with no
// crash; create --image follows the config's image_id rule.
TEST_CASE("hostile config files and --image: one escaped line, exit 2, no crash") {
    Cli cli;
    const fs::path deep = cli.dir() / "deep.json";
    std::ofstream(deep) << "{\"driver\": \"loopback\", \"driver_parameters\": {\"x\": "
                        << std::string(30000, '[') << std::string(30000, ']') << "}}";
    for (const char *command : {"list", "drivers", "create", "watch", "cloudtest"}) {
        const auto r = cli.run({"--config", deep.string(), command});
        CHECK(r.status == 2); // used to be SIGSEGV
        CHECK(single_line(r.err));
        CHECK(r.err.find(deep.string() + ":1:") != std::string::npos);
        CHECK(r.err.find("nesting deeper than 64 levels") != std::string::npos);
    }
    auto r = cli.run({"--config", "/dev/zero", "list"});
    CHECK(r.status == 2);
    CHECK(r.err == "cloudhost: /dev/zero: cannot read config file: not a regular file (character "
                   "device)\n");
    r = cli.run({"--config", cli.config(cli.loopback_params()), "create", "--image",
                 "ami\x1b]0;owned\x07"});
    CHECK(r.status == 2);
    CHECK(single_line(r.err));
    CHECK(r.err.find("--image \"ami\\x1b]0;owned\\x07\" contains control character \\x1b") !=
          std::string::npos);
    CHECK(r.err.find('\x1b') == std::string::npos);
    CHECK(cli.run({"--config", cli.config(cli.loopback_params()), "list"}).out.find("127.0.0.1") ==
          std::string::npos); // nothing was created
}

// Issue 11: --env took every following word, the instance id included.
TEST_CASE("exec --env takes one value per flag") {
    Cli cli;
    const auto config = cli.config(cli.loopback_params());
    const auto r = cli.run({"--config", config, "exec", "--env", "A=1", "--env", "B=2",
                            "no-such-instance", "--", "true"});
    CHECK(r.status == 2);
    CHECK(r.err.find("no instance \"no-such-instance\"") != std::string::npos);
}

namespace {
// A stub cloud in files (so separate CLI runs share it) whose instances stay
// without an address for ten minutes.
std::string booting_stub_config(Cli &cli) {
    const fs::path config = cli.dir() / "booting-stub.json";
    std::ofstream(config) << R"({"driver": "stub",
        "driver_parameters": {"cloud": "booting", "state_dir": ")"
                          << (cli.dir() / "stub-cloud").string() << R"(", "boot_delay_ms": 600000},
        "instance_types": {"small": {"vcpus": 1, "ram": "1GiB", "price": 0.1}}})";
    fs::create_directories(cli.dir() / "stub-cloud");
    return config.string();
}
} // namespace

// Issue 11: list --json printed the InstanceSecret tag in clear.
TEST_CASE("list --json and create --json redact secret tags unless --show-secrets") {
    Cli cli;
    const std::string config = booting_stub_config(cli);
    const auto created = cli.run({"--config", config, "create", "--json", "--tag",
                                  "db_password=hunter2", "--tag", "team=infra"});
    INFO(created.out << created.err);
    REQUIRE(created.status == 0);
    const auto made = parse(created.out);
    const std::string id = made["id"].GetString();
    CHECK(std::string(made["tags"]["cloudhost-InstanceSecret"].GetString()) == "(redacted)");
    CHECK(std::string(made["tags"]["db_password"].GetString()) == "(redacted)");
    CHECK(std::string(made["tags"]["team"].GetString()) == "infra");

    const auto listed = cli.run({"--config", config, "list", "--json"});
    REQUIRE(listed.status == 0);
    CHECK(listed.out.find("hunter2") == std::string::npos);
    const auto list = parse(listed.out);
    REQUIRE(list["instances"].Size() == 1);
    const auto &tags = list["instances"][0]["tags"];
    CHECK(std::string(tags["cloudhost-InstanceSecret"].GetString()) == "(redacted)");
    CHECK(std::string(tags["db_password"].GetString()) == "(redacted)");

    const auto shown = cli.run({"--config", config, "list", "--json", "--show-secrets"});
    REQUIRE(shown.status == 0);
    const auto clear = parse(shown.out);
    const std::string secret =
        clear["instances"][0]["tags"]["cloudhost-InstanceSecret"].GetString();
    CHECK(secret.size() == 40);
    CHECK(std::string(clear["instances"][0]["tags"]["db_password"].GetString()) == "hunter2");
    CHECK(cli.run({"--config", config, "destroy", id}).status == 0);
}

// Issue 11: exec said only "instance has no address".
TEST_CASE("exec on an instance without an address names it and says it may still be booting") {
    Cli cli;
    const std::string config = booting_stub_config(cli);
    const auto created = cli.run({"--config", config, "create"});
    REQUIRE(created.status == 0);
    const std::string id = created.out.substr(0, created.out.find('\n'));
    const auto r = cli.run({"--config", config, "exec", id, "--", "true"});
    CHECK(r.status == 1);
    CHECK(single_line(r.err));
    CHECK(r.err.find("instance " + id + " has no address yet (it may still be booting)") !=
          std::string::npos);
    CHECK(cli.run({"--config", config, "destroy", id}).status == 0);
}
