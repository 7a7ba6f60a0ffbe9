// The README's dispatcher example: open the host, get an InstanceSet from the
// loopback driver, create an instance, run a command on it over SSH with host
// verification, destroy it. Built and run by the test suite (suite 'docs').
//
// Usage: dispatcher_ssh DRIVER_DIR STATE_DIR
#include "cloudhost/catalog.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

int run(const std::string &driver_dir, const std::string &state_dir) {
    // [guide:dispatcher]
    using namespace cloudhost;

    // Judge the driver directory and load the highest good version of "loopback".
    CatalogOptions catalog_options;
    catalog_options.dirs = {driver_dir};
    std::shared_ptr<DriverLibrary> driver = Catalog(catalog_options).load("loopback");

    // One InstanceSet per InstanceSetID; the host adds tag filtering, shared
    // tags, an ops/s limiter and rate-limit suspension around the driver.
    InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-dispatcherguide";
    options.config_json = R"({"state_dir": ")" + state_dir + R"("})";
    options.shared_resource_tags = {{"team", "batch"}};
    InstanceSet set = InstanceSet::open(driver, options);

    // Create with the instance secret (tag + InitCommand), so the host can
    // prove the instance's identity even if the driver cannot check host keys.
    SshKey key = SshKey::generate_ed25519();
    PreparedCreate prepared = prepare_create({{"cloudhost-InstanceSetID", set.instance_set_id()}},
                                             "", "cloudhost-", "instance-secret");
    InstanceType type;
    type.name = type.provider_type = "localhost";
    Instance instance =
        set.create(type, "", prepared.tags, prepared.init_command, key.public_key_openssh());

    // Run a command over SSH; the host key is verified before it runs.
    auto target = std::make_shared<TagVerifier>(std::make_shared<InstanceTarget>(instance),
                                                secret_from_tags(prepared.tags, "cloudhost-"),
                                                "instance-secret");
    SshExecutor ssh(target, key);
    CommandOutput out;
    for (int attempt = 0; attempt < 100; ++attempt) { // wait for boot
        try {
            out = ssh.execute({{"GREETING", "hello"}}, "echo $GREETING from $(hostname)");
            break;
        } catch (const SshError &) { // not booted yet
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    std::printf("%s: %s", instance.id().c_str(), out.stdout_data.c_str());

    instance.destroy();
    // [/guide:dispatcher]
    return out.exit_status == 0 && set.instances().empty() ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s DRIVER_DIR STATE_DIR\n", argv[0]);
        return 2;
    }
    try {
        return run(argv[1], argv[2]);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "dispatcher_ssh: %s\n", e.what());
        return 1;
    }
}
