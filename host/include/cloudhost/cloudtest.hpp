// The conformance run of Arvados's `cloudtest` (lib/cloud/cloudtest), step
// by step: pre-existing instances, create, listed immediately, tags present,
// boot probe over SSH with host verification, optional command, destroy
// until gone. Exit 0 only if every step passed.
#pragma once

#include "cloudhost/config.hpp"
#include "cloudhost/instance.hpp"
#include "cloudhost/instance_set.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost {

struct CloudtestOptions {
    InstanceType instance_type;
    std::string image_id;
    Tags tags; // extra tags for the test instance (e.g. CloudTestPID)
    std::string tag_key_prefix = "cloudhost-";
    std::string instance_init_command; // operator's, appended to the secret line
    std::string instance_secret_path = "/var/run/cloudhost-instance-secret";
    std::optional<std::string> public_key; // none when DeployPublicKey is off
    std::string boot_probe_command = "true";
    std::optional<std::string> command; // --command
    bool destroy_existing = false;
    Timeouts timeouts;
};

struct CloudtestStep {
    std::string name;
    bool ok = false;
    double seconds = 0;
    std::string detail;
};

struct CloudtestReport {
    bool ok = false;
    std::vector<CloudtestStep> steps;
};

// Runs `command` on `instance` over SSH, verifying the host first (through
// the instance's VerifyHostKey, or the instance secret `secret` when that is
// not implemented). Throws on connection or verification failure; a
// non-zero exit status is returned, not thrown.
using CloudtestRunner = std::function<CommandOutput(
    const Instance &instance, const std::string &secret, const std::string &command)>;

struct CloudtestCallbacks {
    std::function<void(const std::string &step)> step_started;
    std::function<void(const CloudtestStep &step)> step_finished;
    std::function<void(const std::string &message)> progress; // hints, retries
};

CloudtestReport run_cloudtest(InstanceSet &set, const CloudtestOptions &options,
                              const CloudtestRunner &run, const CloudtestCallbacks &callbacks);

} // namespace cloudhost
