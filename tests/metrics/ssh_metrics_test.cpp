// The SSH executor's and the tag verifier's metrics (default registry), on a
// real loopback instance (a libssh server on 127.0.0.1) whose driver cannot
// check host keys, so every connection is verified by the instance secret.
#include "promtool_check.hpp"
#include "temp_dir.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "cloudhost/metrics.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

using namespace cloudhost;
using metrics_test::check_with_promtool;
using metrics_test::sample;

TEST_CASE("SSH connections, commands and instance-secret checks are counted by outcome") {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE(root != nullptr);
    const std::string path = std::string(root) + "/plugins/loopback/loopback.so";
    test::TempDir state("cloudhost-ssh-metrics");
    InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-zzzzzzsshmetric";
    options.config_json =
        R"({"state_dir": ")" + state.path().string() + R"(", "verify_host_key": false})";
    InstanceSet set =
        InstanceSet::open(DriverLibrary::open(path, read_driver_metadata(path)), options);
    SshKey key = SshKey::generate_ed25519();
    PreparedCreate prepared = prepare_create({}, "", "cloudhost-", "instance-secret");
    InstanceType type;
    type.name = type.provider_type = "localhost";
    Instance instance =
        set.create(type, "", prepared.tags, prepared.init_command, key.public_key_openssh());

    const std::string before = metrics_text();
    {
        SshExecutor ssh(std::make_shared<TagVerifier>(std::make_shared<InstanceTarget>(instance),
                                                      secret_from_tags(prepared.tags, "cloudhost-"),
                                                      "instance-secret"),
                        key);
        bool ran = false;
        for (int attempt = 0; attempt < 100 && !ran; ++attempt) { // boot: bounded
            try {
                ssh.execute({}, "true");
                ran = true;
            } catch (const SshError &) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
        REQUIRE(ran);
        ssh.execute({}, "true"); // the same connection again
    }
    const std::string booted = metrics_text();
    auto delta = [](const std::string &a, const std::string &b, const std::string &series) {
        return sample(b, series, 0) - sample(a, series, 0);
    };
    CHECK(delta(before, booted, "cloudhost_ssh_commands_total{outcome=\"ok\"}") == 2);
    CHECK(delta(before, booted, "cloudhost_ssh_connections_total{outcome=\"ok\"}") == 1);
    CHECK(delta(before, booted, "cloudhost_tag_verifier_checks_total{outcome=\"verified\"}") == 1);
    CHECK(delta(before, booted, "cloudhost_ssh_command_duration_seconds_count") ==
          delta(before, booted, "cloudhost_ssh_commands_total{outcome=\"ok\"}") +
              delta(before, booted, "cloudhost_ssh_commands_total{outcome=\"failed\"}") +
              delta(before, booted, "cloudhost_ssh_commands_total{outcome=\"timeout\"}"));

    // Someone else's secret: the instance is refused, the connection and the
    // command count as failed.
    {
        SshExecutor impostor(
            std::make_shared<TagVerifier>(std::make_shared<InstanceTarget>(instance),
                                          std::string(40, 'a'), "instance-secret"),
            key);
        CHECK_THROWS_AS(impostor.execute({}, "true"), HostKeyError);
    }
    const std::string refused = metrics_text();
    CHECK(delta(booted, refused, "cloudhost_tag_verifier_checks_total{outcome=\"refused\"}") == 1);
    CHECK(delta(booted, refused, "cloudhost_ssh_connections_total{outcome=\"failed\"}") == 1);
    CHECK(delta(booted, refused, "cloudhost_ssh_commands_total{outcome=\"failed\"}") == 1);
    CHECK(delta(booted, refused, "cloudhost_ssh_commands_total{outcome=\"ok\"}") == 0);
    check_with_promtool(refused);
    instance.destroy();
}
