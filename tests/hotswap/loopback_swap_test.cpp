// The hot swap on real instances: loopback instances (SSH server processes)
// created under version 1 are listed, executed on over SSH (host key verified
// through version 2) and destroyed after the swap to version 2, and version 1
// is unloaded once nothing refers to it.
#include "swap_fixture.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"

#include <set>

using cloudhost::SwapEventKind;

namespace {

// Runs `command` on `instance`, waiting (bounded) for its server to boot.
cloudhost::CommandOutput run_on(const cloudhost::Instance &instance, const cloudhost::SshKey &key,
                                const std::string &command) {
    cloudhost::SshExecutorOptions options;
    options.connect_timeout = std::chrono::seconds(10);
    cloudhost::SshExecutor ssh(std::make_shared<cloudhost::InstanceTarget>(instance), key, options);
    for (int attempt = 0;; ++attempt) {
        try {
            return ssh.execute({{"WHO", instance.id()}}, command);
        } catch (const cloudhost::NoAddressError &) {
            if (attempt >= 300)
                throw;
        } catch (const cloudhost::HostKeyError &) {
            throw; // never retried: a wrong key is a failure
        } catch (const cloudhost::SshError &) {
            if (attempt >= 300)
                throw;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::set<std::string> ids(const std::vector<cloudhost::Instance> &list) {
    std::set<std::string> out;
    for (const auto &i : list)
        out.insert(i.id());
    return out;
}

} // namespace

TEST_CASE("loopback instances made under version 1 are listed, run commands and are destroyed "
          "after the swap to 2") {
    SwapFixture f("loopback");
    f.install_by_copy("loopback_v1");
    const auto key = cloudhost::SshKey::generate_ed25519();
    fs::path v1_library;
    {
        cloudhost::HotSwappableInstanceSet hot(f.catalog(), f.set_options(), f.swap_options());
        REQUIRE(hot.active().version == "1.0.0");
        v1_library = f.log.last(SwapEventKind::loaded).library;
        auto set = hot.instance_set();
        cloudhost::InstanceType type;
        type.name = type.provider_type = "localhost";
        std::vector<cloudhost::Instance> made;
        for (int i = 0; i < 2; ++i)
            made.push_back(set.create(type, "loopback-image", {{"n", std::to_string(i)}},
                                      "echo booted >init-ran", key.public_key_openssh()));
        const auto before = run_on(made[0], key, "echo v1 $WHO");
        CHECK(before.exit_status == 0);
        CHECK(before.stdout_data == "v1 " + made[0].id() + "\n");

        f.install_by_rename("loopback_v2");
        REQUIRE(hot.sync());
        CHECK(hot.active().version == "2.0.0");
        CHECK(f.log.last(SwapEventKind::swapped).from_version == "1.0.0");
        CHECK(ids(set.instances()) == std::set<std::string>{made[0].id(), made[1].id()});

        // Old handles re-bind to version 2, which verifies the host keys.
        for (const auto &instance : made) {
            const auto after = run_on(instance, key, "echo v2 $WHO; cat init-ran");
            CHECK(after.exit_status == 0);
            CHECK(after.stdout_data == "v2 " + instance.id() + "\nbooted\n");
        }
        CHECK(made[1].tags().at("n") == "1");
        for (auto &instance : made)
            instance.destroy();
        CHECK(set.instances().empty());
        CHECK(set.library()->info().version == "2.0.0");
    }
    CHECK_FALSE(cloudhost::is_library_loaded(v1_library));
    // Destroy removed each instance's state directory (and stopped its server).
    CHECK(f.loopback_instance_dirs() == 0);
}
