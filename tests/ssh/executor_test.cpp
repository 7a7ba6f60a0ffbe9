// SshExecutor against a real sshd on 127.0.0.1.
#include "cloudhost/errors.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "sshd_fixture.hpp"
#include "test_target.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace cloudhost;
using namespace cloudhost::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Accepts exactly the key the server currently has on disk.
std::shared_ptr<TestTarget> honest_target(const SshdServer &server) {
    return std::make_shared<TestTarget>(server.address(), server.user(),
                                        [&server](const std::string &key, CommandRunner *) {
                                            if (key != server.host_public_key()) {
                                                throw DriverError("host key mismatch");
                                            }
                                        });
}

// A listening socket that never speaks SSH: connects succeed, the banner
// never comes.
class SilentListener {
  public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr *>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    unsigned port() const { return port_; }

  private:
    int fd_ = -1;
    unsigned port_ = 0;
};

} // namespace

TEST_CASE("stdin, stdout, stderr and exit status round trip") {
    SshdServer server;
    SshExecutor executor(honest_target(server), server.client_key());

    CommandOutput out = executor.execute({}, "cat; echo oops >&2; exit 3", "hello\nworld");
    CHECK(out.stdout_data == "hello\nworld");
    // Root's start-up files in this image may add their own complaints.
    CHECK(out.stderr_data.ends_with("oops\n"));
    CHECK(out.exit_status == 3);

    for (int status : {0, 1, 2}) {
        CHECK(executor.execute({}, "exit " + std::to_string(status)).exit_status == status);
    }
}

TEST_CASE("10 MiB of stdout and 3 MiB of stdin pass without deadlock") {
    SshdServer server;
    SshExecutor executor(honest_target(server), server.client_key());

    constexpr size_t ten_mib = 10 * 1024 * 1024;
    CommandOutput big = executor.execute({}, "head -c " + std::to_string(ten_mib) + " /dev/zero");
    CHECK(big.exit_status == 0);
    CHECK(big.stdout_data.size() == ten_mib);
    CHECK(big.stdout_data.find_first_not_of('\0') == std::string::npos);

    // cat echoes stdin while we still send it: both windows must keep moving.
    std::string input(3 * 1024 * 1024, 'x');
    for (size_t i = 0; i < input.size(); i += 4096) {
        input[i] = static_cast<char>('a' + (i / 4096) % 26);
    }
    CommandOutput echoed = executor.execute({}, "cat; cat /dev/null >&2", input);
    CHECK(echoed.exit_status == 0);
    CHECK(echoed.stdout_data == input);
}

TEST_CASE("environment variables reach the command") {
    SshdServer server;
    SshExecutor executor(honest_target(server), server.client_key());
    CommandOutput out = executor.execute({{"CH_FIRST", "a b c"}, {"CH_SECOND", "x=y"}},
                                         "printf '%s|%s' \"$CH_FIRST\" \"$CH_SECOND\"");
    CHECK(out.exit_status == 0);
    CHECK(out.stdout_data == "a b c|x=y");
}

TEST_CASE("a command that outlives its timeout is killed and the connection stays usable") {
    SshdServer server;
    auto target = honest_target(server);
    SshExecutor executor(target, server.client_key());
    const fs::path marker = server.dir() / "survived";

    CHECK(executor.execute({}, "echo warm").stdout_data == "warm\n");
    CHECK_THROWS_AS(executor.execute({}, "sleep 2; touch '" + marker.string() + "'", {}, 300ms),
                    CommandTimeoutError);
    CommandOutput after = executor.execute({}, "echo still here");
    CHECK(after.stdout_data == "still here\n");
    CHECK(target->verify_calls == 1); // same connection, no new setup

    // The timed-out command was signalled, so it never reaches its touch.
    // OpenSSH refuses signal requests on root sessions (no privilege
    // separation after a root login): there the command is only detached.
    if (server.user() != "root") {
        std::this_thread::sleep_for(2500ms);
        CHECK_FALSE(fs::exists(marker));
    }

    // Output that never stops, and a command that closed its output but
    // runs on, time out just the same.
    CHECK_THROWS_AS(executor.execute({}, "yes", {}, 300ms), CommandTimeoutError);
    CHECK_THROWS_AS(executor.execute({}, "exec >&- 2>&-; sleep 3", {}, 300ms), CommandTimeoutError);
    CHECK(executor.execute({}, "echo usable").stdout_data == "usable\n");

    // The executor-wide default applies when execute() gives none.
    SshExecutorOptions options;
    options.command_timeout = 300ms;
    SshExecutor bounded(target, server.client_key(), options);
    CHECK_THROWS_AS(bounded.execute({}, "sleep 5"), CommandTimeoutError);
    CHECK(bounded.execute({}, "echo ok", {}, 60s).stdout_data == "ok\n"); // per call wins
}

TEST_CASE("a refused host key stops the command before it runs") {
    SshdServer server;
    const std::string other_key = SshKey::generate_ed25519().public_key_openssh();
    auto target = std::make_shared<TestTarget>(
        server.address(), server.user(), [&other_key](const std::string &key, CommandRunner *) {
            if (key != other_key) {
                throw DriverError("presented key is not the instance's key");
            }
        });
    SshExecutor executor(target, server.client_key());
    const fs::path marker = server.dir() / "ran";

    for (int attempt = 0; attempt < 2; ++attempt) {
        try {
            executor.execute({}, "touch '" + marker.string() + "'");
            FAIL("execute should have thrown HostKeyError");
        } catch (const HostKeyError &error) {
            CHECK(std::string(error.what()).find("not the instance's key") != std::string::npos);
        }
    }
    CHECK(target->verify_calls == 2); // a refused key is asked about again
    CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("the verifier can run commands on the unverified connection") {
    SshdServer server;
    std::string seen;
    auto target = std::make_shared<TestTarget>(server.address(), server.user(),
                                               [&seen](const std::string &, CommandRunner *runner) {
                                                   REQUIRE(runner != nullptr);
                                                   seen = runner->run("cat", "probe").stdout_data;
                                               });
    SshExecutor executor(target, server.client_key());
    CHECK(executor.execute({}, "echo ok").stdout_data == "ok\n");
    CHECK(seen == "probe");
}

TEST_CASE("the host key is verified once, and again when the server's key changes") {
    SshdServer server;
    auto target = honest_target(server);
    SshExecutor executor(target, server.client_key());

    for (int i = 0; i < 3; ++i) {
        CHECK(executor.execute({}, "echo " + std::to_string(i)).stdout_data ==
              std::to_string(i) + "\n");
    }
    CHECK(target->verify_calls == 1);

    server.restart(/*new_host_key=*/true);
    CHECK(executor.execute({}, "echo after").stdout_data == "after\n");
    CHECK(target->verify_calls == 2);

    // Same key on a new connection: no new verification.
    executor.close();
    CHECK(executor.execute({}, "echo again").stdout_data == "again\n");
    CHECK(target->verify_calls == 2);
}

TEST_CASE("the executor reconnects after the server dropped the connection") {
    SshdServer server;
    auto target = honest_target(server);
    SshExecutor executor(target, server.client_key());
    CHECK(executor.execute({}, "echo one").stdout_data == "one\n");

    server.kill_connections();
    CHECK(executor.execute({}, "echo two").stdout_data == "two\n");

    server.restart(/*new_host_key=*/false);
    CHECK(executor.execute({}, "echo three").stdout_data == "three\n");
    CHECK(target->verify_calls == 1); // same key every time
}

TEST_CASE("an empty address fails with NoAddressError") {
    auto target =
        std::make_shared<TestTarget>("", "nobody", [](const std::string &, CommandRunner *) {});
    SshExecutor executor(target, SshKey::generate_ed25519());
    try {
        executor.execute({}, "true");
        FAIL("execute should have thrown NoAddressError");
    } catch (const NoAddressError &error) {
        CHECK(std::string(error.what()) == "instance has no address yet (it may still be booting)");
    }
    CHECK(target->verify_calls == 0);
}

// Issue 11: the error named neither the instance nor the likely cause.
TEST_CASE("NoAddressError names the target and says it may still be booting") {
    struct NamedTarget final : ExecutorTarget {
        std::string address() const override { return ""; }
        std::string remote_user() const override { return "nobody"; }
        void verify_host_key(const std::string &, CommandRunner *) const override {}
        std::string name() const override { return "i-123\x1b[2J"; }
    };
    SshExecutor executor(std::make_shared<NamedTarget>(), SshKey::generate_ed25519());
    try {
        executor.execute({}, "true");
        FAIL("execute should have thrown NoAddressError");
    } catch (const NoAddressError &error) {
        const std::string message = error.what();
        CHECK(message == "instance i-123\\x1b[2J has no address yet (it may still be booting)");
    }
}

TEST_CASE("an address without a port uses the configured default port") {
    SshdServer server;
    auto target = honest_target(server);
    target->set_address("127.0.0.1");
    SshExecutorOptions options;
    options.default_port = std::to_string(server.port());
    SshExecutor executor(target, server.client_key(), options);
    CHECK(executor.execute({}, "echo via default port").stdout_data == "via default port\n");
}

TEST_CASE("connection failures are reported as SshError") {
    SUBCASE("nothing listening") {
        unsigned port = 0;
        {
            SilentListener reserved; // closed at once: the port is then unused
            port = reserved.port();
        }
        auto target = std::make_shared<TestTarget>("127.0.0.1:" + std::to_string(port), "root",
                                                   [](const std::string &, CommandRunner *) {});
        SshExecutor executor(target, SshKey::generate_ed25519());
        CHECK_THROWS_WITH_AS(executor.execute({}, "true"), doctest::Contains("cannot connect"),
                             SshError);
        CHECK(target->verify_calls == 0);
    }
    SUBCASE("a server that never answers hits the connect timeout") {
        SilentListener silent;
        auto target =
            std::make_shared<TestTarget>("127.0.0.1:" + std::to_string(silent.port()), "root",
                                         [](const std::string &, CommandRunner *) {});
        SshExecutorOptions options;
        options.connect_timeout = 500ms;
        SshExecutor executor(target, SshKey::generate_ed25519(), options);
        CHECK_THROWS_AS(executor.execute({}, "true"), SshError);
        CHECK(target->verify_calls == 0);
    }
    SUBCASE("a key the server does not accept") {
        SshdServer server;
        auto target = honest_target(server);
        SshExecutor executor(target, SshKey::generate_ed25519());
        try {
            executor.execute({}, "true");
            FAIL("execute should have thrown SshError");
        } catch (const HostKeyError &) {
            FAIL("authentication failure reported as a host key error");
        } catch (const SshError &error) {
            CHECK(std::string(error.what()).find("authentication") != std::string::npos);
        }
    }
    SUBCASE("an invalid port") {
        auto target = std::make_shared<TestTarget>("127.0.0.1:ssh!", "root",
                                                   [](const std::string &, CommandRunner *) {});
        SshExecutor executor(target, SshKey::generate_ed25519());
        CHECK_THROWS_WITH_AS(executor.execute({}, "true"), doctest::Contains("invalid SSH port"),
                             SshError);
    }
}

TEST_CASE("eight threads share one executor") {
    SshdServer server;
    auto target = honest_target(server);
    SshExecutor executor(target, server.client_key());
    constexpr int threads = 8;
    constexpr int commands_per_thread = 4;
    std::vector<std::thread> workers;
    std::vector<int> correct(threads, 0);
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&executor, &correct, t] {
            for (int i = 0; i < commands_per_thread; ++i) {
                const std::string word = "t" + std::to_string(t) + "c" + std::to_string(i);
                try {
                    CommandOutput out =
                        executor.execute({{"CH_WORD", word}}, "cat; echo \"$CH_WORD\"", word + ":");
                    correct[static_cast<size_t>(t)] +=
                        out.stdout_data == word + ":" + word + "\n" && out.exit_status == 0;
                } catch (const std::exception &) {
                    // counted as incorrect below
                }
            }
        });
    }
    for (auto &worker : workers) {
        worker.join();
    }
    for (int t = 0; t < threads; ++t) {
        CHECK(correct[static_cast<size_t>(t)] == commands_per_thread);
    }
    CHECK(target->verify_calls == 1); // the setups were shared
}

TEST_CASE("concurrent callers share a failed setup's error") {
    SshdServer server;
    const std::string other_key = SshKey::generate_ed25519().public_key_openssh();
    auto target = std::make_shared<TestTarget>(
        server.address(), server.user(), [&other_key](const std::string &key, CommandRunner *) {
            if (key != other_key) {
                throw DriverError("wrong key");
            }
        });
    SshExecutor executor(target, server.client_key());
    std::atomic<int> refused{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 8; ++t) {
        workers.emplace_back([&] {
            try {
                executor.execute({}, "true");
            } catch (const HostKeyError &) {
                ++refused;
            }
        });
    }
    for (auto &worker : workers) {
        worker.join();
    }
    CHECK(refused == 8);
    CHECK(target->verify_calls >= 1);
    CHECK(target->verify_calls <= 8);
}

TEST_CASE("parse_address") {
    CHECK(parse_address("10.0.0.1", "22") == HostPort{"10.0.0.1", "22"});
    CHECK(parse_address("10.0.0.1:2222", "22") == HostPort{"10.0.0.1", "2222"});
    CHECK(parse_address("host.example:", "22") == HostPort{"host.example", "22"});
    CHECK(parse_address("[fe80::1]:2200", "22") == HostPort{"fe80::1", "2200"});
    CHECK(parse_address("[fe80::1]", "22") == HostPort{"fe80::1", "22"});
    CHECK(parse_address("fe80::1", "2022") == HostPort{"fe80::1", "2022"});
    CHECK_THROWS_AS(parse_address("", "22"), NoAddressError);
}
