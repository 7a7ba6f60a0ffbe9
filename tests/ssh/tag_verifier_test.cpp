// The instance-secret verifier: its helpers, its decisions, and the real
// path through sshd (secret written by the "boot" command, read back over
// the unverified connection).
#include "cloudhost/cloudtest.hpp"
#include "cloudhost/config.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/tag_verifier.hpp"
#include "sshd_fixture.hpp"
#include "test_target.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

using namespace cloudhost;
using namespace cloudhost::test;
namespace fs = std::filesystem;

namespace {

bool is_lower_hex(const std::string &text) {
    return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The driver's answer when it has no way to check host keys.
std::shared_ptr<TestTarget> driver_without_key_check(std::string address, std::string user) {
    return std::make_shared<TestTarget>(
        std::move(address), std::move(user),
        [](const std::string &, CommandRunner *) { throw NotImplementedError(); });
}

// Records the commands the verifier asks for and answers with a fixed output.
class ScriptedRunner final : public CommandRunner {
  public:
    explicit ScriptedRunner(CommandOutput answer) : answer_(std::move(answer)) {}
    CommandOutput run(std::string_view command, std::string_view stdin_data) override {
        commands.emplace_back(command);
        stdins.emplace_back(stdin_data);
        return answer_;
    }
    std::vector<std::string> commands;
    std::vector<std::string> stdins;

  private:
    CommandOutput answer_;
};

// Routes spdlog's default logger into a string for the test's lifetime.
class CapturedLog {
  public:
    CapturedLog() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
        auto logger = std::make_shared<spdlog::logger>("captured", sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~CapturedLog() { spdlog::set_default_logger(previous_); }
    std::string text() const { return text_.str(); }

  private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream text_;
};

} // namespace

TEST_CASE("instance secrets are 40 lowercase hex digits, fresh each time") {
    const std::string first = generate_instance_secret();
    const std::string second = generate_instance_secret();
    CHECK(first.size() == 40);
    CHECK(is_lower_hex(first));
    CHECK(first != second);
}

TEST_CASE("the init command writes the secret with umask 0177") {
    CHECK(instance_secret_init_command("0123abcd", "/var/run/arvados-instance-secret") ==
          "umask 0177 && echo -n \"0123abcd\" >/var/run/arvados-instance-secret");
    CHECK(instance_secret_init_command("ab", "/tmp/my secret's file") ==
          "umask 0177 && echo -n \"ab\" >'/tmp/my secret'\\''s file'");
    CHECK_THROWS_AS(instance_secret_init_command("ab", ""), std::invalid_argument);
    try {
        instance_secret_init_command("bad\"secret", "/x");
        FAIL("a secret with a quote must be refused");
    } catch (const std::invalid_argument &error) {
        CHECK(std::string(error.what()).find("bad\"secret") == std::string::npos);
    }
}

TEST_CASE("prepare_create adds the secret tag and prepends the init line") {
    PreparedCreate prepared =
        prepare_create({{"ArvadosInstanceSetID", "zzzzz-zzzzz-zzzzzzcloudtest"}}, "apt-get update",
                       "Arvados", "/run/secret");
    const std::string secret = secret_from_tags(prepared.tags, "Arvados");
    CHECK(secret.size() == 40);
    CHECK(is_lower_hex(secret));
    CHECK(prepared.tags.size() == 2);
    CHECK(prepared.tags.at("ArvadosInstanceSetID") == "zzzzz-zzzzz-zzzzzzcloudtest");
    CHECK(prepared.init_command ==
          instance_secret_init_command(secret, "/run/secret") + "\napt-get update");

    PreparedCreate custom = prepare_create({}, "", "Ch", "/s");
    CHECK(custom.tags.count("ChInstanceSecret") == 1);
    CHECK(custom.init_command.back() == '\n'); // as Arvados: line + "\n" + (empty) command
    CHECK(secret_from_tags(custom.tags, "Arvados").empty());
}

TEST_CASE("the driver's own answer wins unless it is NotImplemented") {
    ScriptedRunner runner({"ignored", "", 0});

    auto accepting =
        std::make_shared<TestTarget>("h", "root", [](const std::string &, CommandRunner *) {});
    TagVerifier accepts(accepting, "");
    CHECK_NOTHROW(accepts.verify_host_key("ssh-ed25519 AAAA", &runner));

    auto refusing =
        std::make_shared<TestTarget>("h", "root", [](const std::string &, CommandRunner *) {
            throw QuotaError("driver says no");
        });
    TagVerifier refuses(refusing, "0123");
    CHECK_THROWS_WITH_AS(refuses.verify_host_key("ssh-ed25519 AAAA", &runner), "driver says no",
                         QuotaError);
    CHECK(runner.commands.empty()); // neither ran a command

    TagVerifier no_secret(driver_without_key_check("h", "root"), "");
    CHECK_THROWS_WITH_AS(no_secret.verify_host_key("ssh-ed25519 AAAA", &runner),
                         "instance has no InstanceSecret tag", NotImplementedError);

    TagVerifier no_runner(driver_without_key_check("h", "root"), "0123");
    CHECK_THROWS_AS(no_runner.verify_host_key("ssh-ed25519 AAAA", nullptr), DriverError);
    CHECK(runner.commands.empty());
}

TEST_CASE("the secret is read with sudo unless the remote user is root") {
    const std::string secret = generate_instance_secret();
    ScriptedRunner runner({secret, "", 0});
    TagVerifier as_root(driver_without_key_check("h", "root"), secret, "/run/s");
    TagVerifier as_admin(driver_without_key_check("h", "admin"), secret, "/run/s");
    CHECK_NOTHROW(as_root.verify_host_key("k", &runner));
    CHECK_NOTHROW(as_admin.verify_host_key("k", &runner));
    CHECK(runner.commands == std::vector<std::string>{"cat /run/s", "sudo cat /run/s"});
    CHECK(runner.stdins == std::vector<std::string>{"", ""});

    ScriptedRunner trailing_newline({secret + "\n", "", 0});
    CHECK_THROWS_WITH_AS(as_root.verify_host_key("k", &trailing_newline), "bad instance secret",
                         DriverError);
}

TEST_CASE("end to end through sshd: good, wrong, missing and absent secrets") {
    SshdServer server;
    CapturedLog log;
    const std::string wrong = generate_instance_secret();
    const fs::path secret_file = server.dir() / "instance-secret";

    // "Boot": run the init command as the instance would, over a connection
    // verified the ordinary way.
    auto boot_target = std::make_shared<TestTarget>(
        server.address(), server.user(), [&server](const std::string &key, CommandRunner *) {
            if (key != server.host_public_key()) {
                throw DriverError("mismatch");
            }
        });
    SshExecutor boot(boot_target, server.client_key());
    PreparedCreate prepared = prepare_create({}, "echo booted", "Arvados", secret_file.string());
    const std::string tagged_secret = secret_from_tags(prepared.tags, "Arvados");
    CommandOutput booted = boot.execute({}, prepared.init_command);
    REQUIRE(booted.exit_status == 0);
    CHECK(booted.stdout_data == "booted\n");
    struct stat info {};
    REQUIRE(::stat(secret_file.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);

    std::vector<std::string> messages;
    auto verify_with = [&](const std::string &claimed_secret) {
        auto verifier =
            std::make_shared<TagVerifier>(driver_without_key_check(server.address(), server.user()),
                                          claimed_secret, secret_file.string());
        SshExecutor executor(verifier, server.client_key());
        try {
            CommandOutput out = executor.execute({}, "echo verified");
            return out.stdout_data;
        } catch (const HostKeyError &error) {
            messages.emplace_back(error.what());
            return std::string("refused: ") + error.what();
        }
    };

    CHECK(verify_with(tagged_secret) == "verified\n");
    CHECK(verify_with(wrong).find("bad instance secret") != std::string::npos);
    CHECK(verify_with("").find("instance has no InstanceSecret tag") != std::string::npos);
    fs::remove(secret_file);
    CHECK(verify_with(tagged_secret).find("exited with status 1") != std::string::npos);

    REQUIRE(messages.size() == 3);
    for (const auto &message : messages) {
        CHECK(message.find(tagged_secret) == std::string::npos);
        CHECK(message.find(wrong) == std::string::npos);
    }
    const std::string logged = log.text();
    CHECK(logged.find("refused") != std::string::npos); // the log was captured at all
    CHECK(logged.find(tagged_secret) == std::string::npos);
    CHECK(logged.find(wrong) == std::string::npos);
}

// Issue 11: prepare_create's defaults were Arvados's ("Arvados",
// /var/run/arvados-instance-secret) while the config's were cloudhost's.
TEST_CASE("prepare_create's defaults are the config's and cloudtest's") {
    cloudhost::Config config;
    config.driver = "stub"; // loopback keeps its secret beside each instance
    const cloudhost::CloudtestOptions cloudtest;
    CHECK(config.tag_key_prefix == cloudtest.tag_key_prefix);
    CHECK(config.effective_instance_secret_path() == cloudtest.instance_secret_path);

    const PreparedCreate prepared = prepare_create({}, "");
    const std::string secret = secret_from_tags(prepared.tags, config.tag_key_prefix);
    CHECK(secret.size() == 40);
    CHECK(prepared.tags.count(config.tag_key_prefix + "InstanceSecret") == 1);
    CHECK(prepared.init_command ==
          instance_secret_init_command(secret, config.effective_instance_secret_path()) + "\n");
}
