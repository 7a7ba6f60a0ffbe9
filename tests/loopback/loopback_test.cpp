// The loopback driver end to end: the real loopback.so through its C table,
// real cloudhost-loopback-server processes, a real libssh client.
#include "loopback_harness.hpp"
#include "ssh_test_client.hpp"

#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <thread>

using namespace loopback_test;
namespace fs = std::filesystem;

namespace {

std::string current_user() {
    const passwd *user = getpwuid(geteuid());
    REQUIRE(user != nullptr);
    return user->pw_name;
}

std::string read_text(const fs::path &path) {
    std::ifstream file(path);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// A state dir, the driver, one instance set and one client key.
struct Fixture {
    cloudhost::test::TempDir temp{"loopback-test"};
    fs::path state_dir = temp / "state";
    std::shared_ptr<cloudhost::DriverLibrary> driver = open_loopback_driver();
    ClientKey key;

    CreateRequest request(const std::string &init_command = {}) const {
        CreateRequest r;
        r.public_key = key.public_line();
        r.init_command = init_command;
        r.tags = {{"cloudhostInstanceSetID", "zzzzz-zzzzz-loopbacktests00"}};
        return r;
    }

    // Destroys whatever a failed test left behind, so no server outlives it.
    ~Fixture() {
        try {
            InstanceSet set(driver, config_json(state_dir));
            for (auto &instance : set.instances())
                instance.destroy();
        } catch (...) {
            // Already reported by the failing assertion.
        }
    }
};

std::unique_ptr<SshTestClient> logged_in_client(const Instance &instance, const ClientKey &key) {
    auto client = std::make_unique<SshTestClient>(instance.wait_for_address());
    REQUIRE(client->authenticate(instance.remote_user(), key));
    return client;
}

} // namespace

TEST_CASE("an instance boots, proves its host key and runs commands over SSH") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir));
    const Instance instance = set.create_ok(f.request());
    CHECK(instance.id().starts_with("lo-"));
    CHECK(instance.provider_type() == "localhost");
    CHECK(instance.remote_user() == current_user());

    const std::string address = instance.wait_for_address();
    CHECK(address.starts_with("127.0.0.1:"));
    auto connection = std::make_unique<SshTestClient>(address);
    SshTestClient &client = *connection;

    SUBCASE("the host key the client sees verifies, another one does not") {
        const Outcome good = instance.verify_host_key(client.host_key());
        CHECK_MESSAGE(good.ok(), good.message);
        ClientKey other;
        const Outcome bad = instance.verify_host_key(other.public_line());
        CHECK(bad.status == CH_ERR_GENERIC);
        CHECK(bad.message.find("host key mismatch") != std::string::npos);
    }

    SUBCASE("only the key given to Create may log in, under any user name") {
        ClientKey stranger;
        CHECK_FALSE(client.authenticate(current_user(), stranger));
        SshTestClient second(address);
        CHECK(second.authenticate("any-name", f.key));
        CHECK(second.run("whoami").out == current_user() + "\n");
    }

    SUBCASE("stdin, stdout, stderr and the exit status make the round trip") {
        REQUIRE(client.authenticate(current_user(), f.key));
        const CommandOutput cat = client.run("cat; echo to-stderr >&2; exit 3", "from stdin\n");
        CHECK(cat.out == "from stdin\n");
        CHECK(cat.err == "to-stderr\n");
        CHECK(cat.exit_status == 3);

        const CommandOutput env = client.run("printf %s \"$LOOPBACK_TEST_VAR\"", {},
                                             {{"LOOPBACK_TEST_VAR", "value with spaces"}});
        CHECK(env.out == "value with spaces");
        CHECK(env.exit_status == 0);

        // Commands run in the instance directory.
        const CommandOutput pwd = client.run("pwd -P");
        CHECK(pwd.out == fs::canonical(f.state_dir / instance.id()).string() + "\n");

        // A leading "sudo " is dropped, as Arvados's loopback driver does.
        CHECK(client.run("sudo whoami").out == client.run("whoami").out);

        // Death by signal reads as 128 + signal, as in a shell.
        CHECK(client.run("kill -TERM $$").exit_status == 128 + SIGTERM);
    }

    SUBCASE("10 MiB of stdout arrive whole") {
        REQUIRE(client.authenticate(current_user(), f.key));
        const CommandOutput big = client.run("head -c 10485760 /dev/zero | tr '\\0' x");
        CHECK(big.exit_status == 0);
        CHECK(big.out.size() == 10485760u);
        CHECK(big.out.find_first_not_of('x') == std::string::npos);
    }

    SUBCASE("pty, shell and subsystem requests are refused") {
        REQUIRE(client.authenticate(current_user(), f.key));
        CHECK_FALSE(client.grants("pty-req"));
        CHECK_FALSE(client.grants("shell"));
        CHECK_FALSE(client.grants("subsystem"));
        CHECK(client.run("true").exit_status == 0); // the connection is still fine
    }

    connection.reset();
    CHECK(connection_failures(f.state_dir / instance.id()) == "");
    CHECK(instance.destroy().ok());
}

TEST_CASE("commands on one connection run concurrently and die with their channel") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir));
    const Instance instance = set.create_ok(f.request());
    auto client = logged_in_client(instance, f.key);

    SUBCASE("a waiting command does not block a later one on the same connection") {
        auto waiter = client->start(
            "for i in $(seq 1000); do [ -e go ] && break; sleep 0.05; done; [ -e go ] && echo go");
        const CommandOutput touch = client->run("touch go");
        CHECK(touch.exit_status == 0);
        const CommandOutput waited = waiter.finish();
        CHECK(waited.out == "go\n");
        CHECK(waited.exit_status == 0);
    }

    SUBCASE("closing a channel early kills its command; the connection stays usable") {
        auto sleeper = client->start("echo $$ > sleeper.pid; exec sleep 300");
        const fs::path pid_file = f.state_dir / instance.id() / "sleeper.pid";
        REQUIRE(eventually([&] { return !read_text(pid_file).empty(); }, std::chrono::seconds(30)));
        const pid_t pid = static_cast<pid_t>(std::stol(read_text(pid_file)));
        CHECK(process_alive(pid));
        sleeper.abandon();
        CHECK(eventually([&] { return !process_alive(pid); }, std::chrono::seconds(30)));
        CHECK(client->run("echo still here").out == "still here\n");
    }

    SUBCASE("a client that disconnects under a running command takes the command with it") {
        auto sleeper = client->start("echo $$ > sleeper.pid; exec sleep 302");
        const fs::path pid_file = f.state_dir / instance.id() / "sleeper.pid";
        REQUIRE(eventually([&] { return !read_text(pid_file).empty(); }, std::chrono::seconds(30)));
        const pid_t pid = static_cast<pid_t>(std::stol(read_text(pid_file)));
        sleeper.leave_open();
        client.reset();
        CHECK(eventually([&] { return !process_alive(pid); }, std::chrono::seconds(30)));
    }

    client.reset();
    CHECK(connection_failures(f.state_dir / instance.id()) == "");
    CHECK(instance.destroy().ok());
}

TEST_CASE("the InitCommand runs at boot in the instance directory, unless configured off") {
    Fixture f;
    const std::string init = "umask 0177 && echo -n \"s3cr3t\" >instance-secret";

    SUBCASE("it runs and its file is readable over SSH") {
        InstanceSet set(f.driver, config_json(f.state_dir));
        const Instance instance = set.create_ok(f.request(init));
        const auto client = logged_in_client(instance, f.key);
        const fs::path secret = f.state_dir / instance.id() / "instance-secret";
        CHECK(read_text(secret) == "s3cr3t");
        CHECK((fs::status(secret).permissions() & fs::perms::all) ==
              (fs::perms::owner_read | fs::perms::owner_write)); // umask 0177
        CHECK(client->run("sudo cat instance-secret").out == "s3cr3t");
        CHECK(instance.destroy().ok());
    }

    SUBCASE("a failing InitCommand still boots, like a VM whose cloud-init failed") {
        InstanceSet set(f.driver, config_json(f.state_dir));
        const Instance instance = set.create_ok(f.request("echo init-was-here; exit 7"));
        const auto client = logged_in_client(instance, f.key);
        const std::string log = read_text(f.state_dir / instance.id() / "server.log");
        CHECK(log.find("init-was-here") != std::string::npos);
        CHECK(log.find("init command failed with status 7") != std::string::npos);
        CHECK(instance.destroy().ok());
    }

    SUBCASE("skip_init_command: the instance boots without running it") {
        InstanceSet set(f.driver, config_json(f.state_dir, "\"skip_init_command\": true"));
        const Instance instance = set.create_ok(f.request(init));
        const auto client = logged_in_client(instance, f.key);
        CHECK_FALSE(fs::exists(f.state_dir / instance.id() / "instance-secret"));
        CHECK(client->run("cat instance-secret").exit_status != 0);
        CHECK(instance.destroy().ok());
    }
}

TEST_CASE("Create beyond max_instances is a QuotaError, and room comes back after Destroy") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir, "\"max_instances\": 2"));
    const Instance first = set.create_ok(f.request());
    const Instance second = set.create_ok(f.request());
    std::optional<Instance> third;
    const Outcome refused = set.create(f.request(), third);
    CHECK(refused.status == CH_ERR_QUOTA);
    CHECK(refused.message.find("maximum of 2") != std::string::npos);
    CHECK_FALSE(third.has_value());
    CHECK(set.instances().size() == 2);

    CHECK(first.destroy().ok());
    const Instance replacement = set.create_ok(f.request());
    CHECK(set.instances().size() == 2);
    CHECK(second.destroy().ok());
    CHECK(replacement.destroy().ok());
}

TEST_CASE("concurrent Creates respect max_instances") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir, "\"max_instances\": 3"));
    constexpr int attempts = 8;
    std::vector<Outcome> outcomes(attempts);
    std::vector<std::optional<Instance>> created(attempts);
    {
        // Each Create opens the lock file itself, so threads contend on
        // flock() exactly as processes do.
        std::vector<std::thread> threads;
        for (int i = 0; i < attempts; ++i)
            threads.emplace_back([&, i] { outcomes[i] = set.create(f.request(), created[i]); });
        for (auto &thread : threads)
            thread.join();
    }
    int succeeded = 0, refused = 0;
    for (const auto &outcome : outcomes) {
        succeeded += outcome.ok();
        refused += outcome.status == CH_ERR_QUOTA;
    }
    CHECK(succeeded == 3);
    CHECK(refused == attempts - 3);
    CHECK(set.instances().size() == 3);
    for (const auto &instance : created)
        if (instance)
            CHECK(instance->destroy().ok());
}

TEST_CASE("instances and their tags are seen and managed by another instance set") {
    Fixture f;
    const std::string config = config_json(f.state_dir);
    std::string id;
    fs::path instance_dir;
    {
        InstanceSet creator(f.driver, config, "zzzzz-zzzzz-loopbacktests01");
        auto request = f.request();
        request.tags["Role"] = "worker";
        const Instance instance = creator.create_ok(request);
        id = instance.id();
        instance_dir = f.state_dir / id;
        CHECK(instance.tags() == request.tags);
        CHECK(instance
                  .set_tags({{"cloudhostInstanceSetID", "zzzzz-zzzzz-loopbacktests00"},
                             {"Role", "spare"}})
                  .ok());
        instance.wait_for_address();
    } // the creating set is gone; the server is not (instances outlive the host)

    const auto pid = server_pid(instance_dir);
    REQUIRE(pid.has_value());
    CHECK(process_alive(*pid));

    InstanceSet adopter(f.driver, config, "zzzzz-zzzzz-loopbacktests02");
    const auto spares = adopter.instances({{"Role", "spare"}});
    REQUIRE(spares.size() == 1);
    CHECK(spares[0].id() == id);
    CHECK(spares[0].listed_tags().at("Role") == "spare");
    CHECK(adopter.instances({{"Role", "worker"}}).empty());
    CHECK(spares[0].address().starts_with("127.0.0.1:"));

    // SetTags replaces, and is visible through every other handle at once.
    InstanceSet observer(f.driver, config);
    const auto observed = observer.instances();
    REQUIRE(observed.size() == 1);
    CHECK(spares[0].set_tags({{"Only", "this"}}).ok());
    CHECK(observed[0].tags() == Tags{{"Only", "this"}});

    // The adopter can log in with the creator's key and destroy it.
    const auto client = logged_in_client(spares[0], f.key);
    CHECK(client->run("echo adopted").out == "adopted\n");
    CHECK(spares[0].destroy().ok());
    CHECK(observer.instances().empty());
    // Tags of a destroyed instance: the last known ones; SetTags fails.
    CHECK(observed[0].tags() == Tags{{"Only", "this"}});
    CHECK_FALSE(observed[0].set_tags({{"Too", "late"}}).ok());
}

TEST_CASE("Destroy stops the server and everything it started, and removes the state") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir));
    const Instance instance = set.create_ok(f.request());
    const fs::path instance_dir = f.state_dir / instance.id();
    const auto client = logged_in_client(instance, f.key);
    // A background process that outlives its command, and a running command.
    CHECK(client->run("sleep 300 >/dev/null 2>&1 & echo started").out == "started\n");
    auto running = client->start("exec sleep 301");

    const auto pid = server_pid(instance_dir);
    REQUIRE(pid.has_value());
    CHECK(session_members(*pid).size() >= 4); // server, connection, two sleeps

    CHECK(instance.destroy().ok());
    CHECK_FALSE(process_alive(*pid));
    CHECK(session_members(*pid).empty());
    CHECK_FALSE(fs::exists(instance_dir));
    CHECK(state_dir_entries(f.state_dir).empty());
    CHECK(set.instances().empty());

    // Destroying again, or through a stale handle, is fine.
    CHECK(instance.destroy().ok());
    running.abandon();
}

TEST_CASE("VerifyHostKey answers NotImplemented when configured off, and waits for boot") {
    Fixture f;
    SUBCASE("verify_host_key false") {
        InstanceSet set(f.driver, config_json(f.state_dir, "\"verify_host_key\": false"));
        const Instance instance = set.create_ok(f.request());
        SshTestClient client(instance.wait_for_address());
        const Outcome outcome = instance.verify_host_key(client.host_key());
        CHECK(outcome.status == CH_ERR_NOT_IMPLEMENTED);
        CHECK(instance.destroy().ok());
    }
    SUBCASE("an instance still running its InitCommand has no host key to compare yet") {
        InstanceSet set(f.driver, config_json(f.state_dir));
        const Instance instance = set.create_ok(
            f.request("for i in $(seq 600); do [ -e go ] && exit 0; sleep 0.1; done"));
        const fs::path dir = f.state_dir / instance.id();
        // The host key exists before the init command starts: wait for the
        // init command to run, then the address must still be empty.
        REQUIRE(eventually(
            [&] { return read_text(dir / "server.log").find("running init") != std::string::npos; },
            std::chrono::seconds(30)));
        CHECK(instance.address().empty());
        std::ofstream(dir / "go").put('\n');
        CHECK(instance.wait_for_address().starts_with("127.0.0.1:"));
        CHECK(instance.destroy().ok());
    }
}

TEST_CASE("bad config and bad Create arguments are clear errors") {
    Fixture f;
    struct Case {
        std::string extra;
        std::string names;
    };
    for (const Case &c :
         {Case{"\"max_instances\": 0", "max_instances"},
          Case{"\"max_instances\": \"3\"", "max_instances"},
          Case{"\"verify_host_key\": 1", "verify_host_key"},
          Case{"\"skip_init_command\": null", "skip_init_command"},
          Case{"\"colour\": \"blue\"", "unknown key \"colour\""},
          // config_json names the built server already.
          Case{"\"server_path\": \"/nonexistent/server\"", "duplicate key \"server_path\""}}) {
        CAPTURE(c.extra);
        const Outcome outcome = InstanceSet::try_open(f.driver, config_json(f.state_dir, c.extra));
        CHECK(outcome.status == CH_ERR_INVALID_CONFIG);
        CHECK(outcome.message.find(c.names) != std::string::npos);
    }
    const Outcome bad_server =
        InstanceSet::try_open(f.driver, "{\"state_dir\": \"" + f.state_dir.string() +
                                            "\", \"server_path\": \"/nonexistent/server\"}");
    CHECK(bad_server.status == CH_ERR_INVALID_CONFIG);
    CHECK(bad_server.message.find("/nonexistent/server") != std::string::npos);
    // Without "server_path", $CLOUDHOST_LOOPBACK_SERVER comes first.
    REQUIRE(setenv("CLOUDHOST_LOOPBACK_SERVER", "/nonexistent/env-server", 1) == 0);
    const Outcome from_env =
        InstanceSet::try_open(f.driver, "{\"state_dir\": \"" + f.state_dir.string() + "\"}");
    unsetenv("CLOUDHOST_LOOPBACK_SERVER");
    CHECK(from_env.status == CH_ERR_INVALID_CONFIG);
    CHECK(from_env.message.find("CLOUDHOST_LOOPBACK_SERVER") != std::string::npos);

    const Outcome not_json = InstanceSet::try_open(f.driver, "{\"state_dir\": ");
    CHECK(not_json.status == CH_ERR_INVALID_CONFIG);
    CHECK(not_json.message.find("1:15: invalid JSON") != std::string::npos);

    InstanceSet set(f.driver, config_json(f.state_dir));
    std::optional<Instance> created;
    auto no_key = f.request();
    no_key.public_key.clear();
    const Outcome keyless = set.create(no_key, created);
    CHECK(keyless.status == CH_ERR_INVALID_CONFIG);
    CHECK(keyless.message.find("public key") != std::string::npos);
    auto bad_key = f.request();
    bad_key.public_key = "ssh-ed25519 not-base64!";
    CHECK(set.create(bad_key, created).status == CH_ERR_INVALID_CONFIG);
    CHECK_FALSE(created.has_value());
    CHECK(state_dir_entries(f.state_dir).empty());
}

TEST_CASE("without root, an instance runs commands as that user") {
    if (geteuid() != 0) {
        // Already not root: the other cases cover it.
        CHECK(current_user() != "root");
        return;
    }
    const passwd *nobody = getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    if (!others_can_enter_tmp()) {
        MESSAGE("skipped: /tmp is not a world-writable directory other users can enter, so "
                "there is nowhere to give `nobody` a directory");
        return;
    }
    Fixture f;
    // Not below TMPDIR, which may lie under a directory `nobody` cannot
    // enter (/root): a 0711 directory straight under /tmp, with the state
    // directory and a copy of the server (the build tree may be out of
    // reach too) owned by nobody inside it.
    const SharedTempDir shared("loopback-nobody");
    const fs::path state_dir = shared.path() / "state";
    fs::create_directories(state_dir);
    REQUIRE(chown(state_dir.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
    const fs::path server = shared.path() / "cloudhost-loopback-server";
    fs::copy_file(built_server(), server);
    REQUIRE(chown(server.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);

    // A child process becomes `nobody` and drives the driver; its exit code
    // says which step failed.
    const std::string config = "{\"state_dir\": \"" + state_dir.string() +
                               "\", \"server_path\": \"" + server.string() + "\"}";
    const std::string public_key = f.key.public_line();
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)
            _exit(10);
        int code = 0;
        try {
            InstanceSet set(f.driver, config);
            CreateRequest request;
            request.public_key = public_key;
            request.init_command = "id -u > init-uid";
            const Instance instance = set.create_ok(request);
            SshTestClient client(instance.wait_for_address());
            if (!client.authenticate(instance.remote_user(), f.key))
                code = 11;
            else if (client.run("id -u").out != std::to_string(nobody->pw_uid) + "\n")
                code = 12;
            else if (read_text(state_dir / instance.id() / "init-uid") !=
                     std::to_string(nobody->pw_uid) + "\n")
                code = 13;
            if (!instance.destroy().ok())
                code = 14;
        } catch (...) {
            code = 15;
        }
        _exit(code);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(state_dir_entries(state_dir).empty());
}
