// The conformance run of Arvados's `cloudtest` (lib/cloud/cloudtest), step
// by step: pre-existing instances, create, listed immediately, tags present,
// boot probe over SSH with host verification (skipped when the instances are
// declared unreachable), optional command, destroy until gone. With `conformance`, more steps
// between the command and the destroy, each proving one rule of the driver contract
// (docs/driver-guide.md "Conformance"). Exit 0 only if every step passed.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/config.hpp"
#include "cloudhost/instance.hpp"
#include "cloudhost/instance_set.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {

// The typed error a driver was configured to produce (--fault-config).
enum class ExpectedError { quota, capacity, rate_limit, invalid_config };
// "quota", "capacity", "rate_limit", "invalid_config"; nullopt otherwise.
CLOUDHOST_API std::optional<ExpectedError> expected_error_named(std::string_view name);
CLOUDHOST_API const char *expected_error_name(ExpectedError error) noexcept;

struct CLOUDHOST_API CloudtestFault {
    // Opens an InstanceSet of the same driver with the fault parameters
    // (may throw: InvalidConfigError is the answer for invalid_config).
    std::function<InstanceSet()> open_set;
    ExpectedError expect = ExpectedError::quota;
};

struct CLOUDHOST_API CloudtestOptions {
    InstanceType instance_type;
    std::string image_id;
    Tags tags; // extra tags for the test instance (e.g. CloudTestPID)
    std::string tag_key_prefix{default_tag_key_prefix};
    std::string instance_init_command; // operator's, appended to the secret line
    std::string instance_secret_path{default_instance_secret_path};
    std::optional<std::string> public_key; // none when DeployPublicKey is off
    std::string boot_probe_command = "true";
    std::optional<std::string> command; // --command
    // False (--no-ssh): the driver's instances never answer SSH (a fake or
    // mock of a cloud). The boot probe and every step that needs SSH are
    // skipped, each saying so; `command` must then be empty.
    bool ssh_reachable = true;
    bool destroy_existing = false;
    Timeouts timeouts;

    // --conformance: run every contract step, not only Arvados's.
    bool conformance = false;
    // How long a SetTags may take to show in Tags() and Instances().
    std::chrono::milliseconds settle{std::chrono::seconds(60)};
    // Opens another InstanceSet of the same driver and parameters with the
    // given InstanceSetID (re-adoption, foreign instances). Needed by
    // `conformance`.
    std::function<InstanceSet(const std::string &instance_set_id)> open_set;
    // The typed-error step runs only when a fault is configured.
    std::optional<CloudtestFault> fault;
    // Polled between and inside steps; once true, the run skips to destroying
    // what it created (bounded by timeouts.destroy) and returns.
    std::function<bool()> interrupted;
};

struct CLOUDHOST_API CloudtestStep {
    std::string name;
    std::string rule; // the contract rule the step proves
    bool ok = false;
    bool skipped = false; // not run (no fault config, instance not booted); ok stays true
    double seconds = 0;
    std::string detail;
    // The step's remote command output, bounded (excerpt()) and escaped
    // (printable_output()).
    std::string stdout_excerpt;
    std::string stderr_excerpt;
};

struct CLOUDHOST_API CloudtestReport {
    bool ok = false;
    bool interrupted = false;
    std::vector<CloudtestStep> steps;
};

// At most `limit` bytes of `text`, cut on a UTF-8-agnostic byte boundary with
// "...[N more bytes]" appended.
CLOUDHOST_API std::string excerpt(std::string_view text, std::size_t limit = 4096);

// `text` safe for a terminal, JSON and XML: control bytes other than newline
// and tab, and bytes that are not well-formed UTF-8, as \xNN.
CLOUDHOST_API std::string printable_output(std::string_view text);

// Runs `command` on `instance` over SSH, verifying the host first (through
// the instance's VerifyHostKey, or the instance secret `secret` when that is
// not implemented). Throws on connection or verification failure; a
// non-zero exit status is returned, not thrown.
using CloudtestRunner = std::function<CommandOutput(
    const Instance &instance, const std::string &secret, const std::string &command)>;

struct CLOUDHOST_API CloudtestCallbacks {
    std::function<void(const std::string &step)> step_started;
    std::function<void(const CloudtestStep &step)> step_finished;
    std::function<void(const std::string &message)> progress; // hints, retries
};

CLOUDHOST_API CloudtestReport run_cloudtest(InstanceSet &set, const CloudtestOptions &options,
                                            const CloudtestRunner &run,
                                            const CloudtestCallbacks &callbacks);

// JUnit XML (testsuites > testsuite > testcase, <failure message type> for a
// failed step, <skipped/> for a skipped one, <system-out>/<system-err> with
// the excerpts), as Jenkins, GitLab and GitHub test reporters read it.
CLOUDHOST_API std::string cloudtest_junit_xml(const CloudtestReport &report,
                                              std::string_view suite_name);

} // namespace cloudhost
