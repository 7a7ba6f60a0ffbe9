// Twenty loopback instances at once: created, booted, used concurrently and
// destroyed with nothing left behind.
#include "loopback_harness.hpp"
#include "ssh_test_client.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace loopback_test;
namespace fs = std::filesystem;

TEST_CASE("20 instances boot, run a command each concurrently and leave nothing behind") {
    constexpr int count = 20;
    cloudhost::test::TempDir temp{"loopback-many"};
    const fs::path state_dir = temp / "state";
    const auto driver = open_loopback_driver();
    const ClientKey key;
    InstanceSet set(driver, config_json(state_dir));

    CreateRequest request;
    request.public_key = key.public_line();
    request.init_command = "umask 0177 && echo -n \"$PWD\" >instance-secret";
    std::vector<Instance> instances;
    for (int i = 0; i < count; ++i)
        instances.push_back(set.create_ok(request));
    CHECK(set.instances().size() == count);

    std::vector<std::string> addresses;
    for (const auto &instance : instances)
        addresses.push_back(instance.wait_for_address());
    std::vector<pid_t> servers;
    for (const auto &instance : instances) {
        const auto pid = server_pid(state_dir / instance.id());
        REQUIRE(pid.has_value());
        servers.push_back(*pid);
    }

    // Each instance answers with its own directory: its own server and its
    // own InitCommand output.
    std::vector<std::string> answers(count);
    std::vector<std::string> host_key_verdicts(count);
    std::atomic<int> failures{0};
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < count; ++i)
            threads.emplace_back([&, i] {
                try {
                    SshTestClient client(addresses[i]);
                    const Outcome verdict = instances[i].verify_host_key(client.host_key());
                    host_key_verdicts[i] = verdict.ok() ? "ok" : verdict.message;
                    if (!client.authenticate("worker", key))
                        throw std::runtime_error("authentication refused");
                    answers[i] = client.run("cat instance-secret").out;
                } catch (const std::exception &e) {
                    answers[i] = e.what();
                    ++failures;
                }
            });
        for (auto &thread : threads)
            thread.join();
    }
    CHECK(failures == 0);
    for (int i = 0; i < count; ++i) {
        CAPTURE(i);
        CHECK(host_key_verdicts[i] == "ok");
        CHECK(answers[i] == (state_dir / instances[i].id()).string());
        CHECK(connection_failures(state_dir / instances[i].id()) == "");
    }

    {
        std::vector<std::thread> threads;
        for (const auto &instance : instances)
            threads.emplace_back([&instance, &failures] {
                if (!instance.destroy().ok())
                    ++failures;
            });
        for (auto &thread : threads)
            thread.join();
    }
    CHECK(failures == 0);
    for (pid_t server : servers) {
        CAPTURE(server);
        CHECK_FALSE(process_alive(server));
        CHECK(session_members(server).empty());
    }
    CHECK(set.instances().empty());
    CHECK(state_dir_entries(state_dir).empty());
}
