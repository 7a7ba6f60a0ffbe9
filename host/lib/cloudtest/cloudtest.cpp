#include "cloudhost/cloudtest.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/poll_until.hpp"
#include "cloudhost/printable.hpp"
#include "cloudhost/tag_rules.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace cloudhost {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// The rule each step proves (docs/driver-guide.md "Conformance" lists them).
namespace rule {
constexpr const char *pre_existing =
    "no instance of this InstanceSetID is left from an earlier run";
constexpr const char *create = "Create returns the new instance";
constexpr const char *listed = "Instances() lists a created instance at once";
constexpr const char *tags_present = "Instances() returns every tag given to Create";
constexpr const char *boot = "the instance answers SSH, its host verified, before the boot timeout";
constexpr const char *command = "the operator's --command exits 0 on the instance";
constexpr const char *init_command =
    "the InitCommand runs at boot (the instance secret file holds the InstanceSecret tag, mode "
    "0600)";
constexpr const char *remote_user =
    "commands run as RemoteUser(); a RemoteUser other than root can `sudo -n`";
constexpr const char *tags_round_trip =
    "SetTags is reflected by Tags() and by a filtered Instances()";
constexpr const char *filter =
    "an instance of another InstanceSetID is never returned by a filtered Instances()";
constexpr const char *second_set =
    "a new InstanceSet (another process) lists the instance with its tags";
constexpr const char *typed_error = "the configured fault arrives as its typed error";
constexpr const char *destroy = "Destroy removes the instance from Instances()";
constexpr const char *destroy_again = "Destroy of an instance already gone succeeds";
} // namespace rule

std::string first_line(const std::string &s) {
    std::string line = s.substr(0, s.find('\n'));
    return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    return s;
}

constexpr const char *no_ssh_reason =
    "--no-ssh: this driver's instances are declared unreachable over SSH";

// An InstanceSetID of the same shape that is not `ours` (for the foreign
// instance of the filter step).
std::string foreign_set_id(const std::string &ours) {
    std::string id = ours.size() >= 6 ? ours.substr(0, ours.size() - 6) + "cforgn" : ours;
    if (id == ours)
        id.back() = 'm';
    return id;
}

// Records one step's outcome and timing, and reports it as it happens.
class StepRecorder {
  public:
    StepRecorder(CloudtestReport &report, const CloudtestCallbacks &callbacks)
        : report_(report), callbacks_(callbacks) {}

    void start(const std::string &name, const char *rule) {
        current_ = CloudtestStep{};
        current_.name = name;
        current_.rule = rule;
        started_ = SteadyClock::now();
        if (callbacks_.step_started)
            callbacks_.step_started(name);
    }
    // The output of the step's remote command, bounded.
    void output(const CommandOutput &out, bool with_stdout = true) {
        if (with_stdout)
            current_.stdout_excerpt = printable_output(excerpt(out.stdout_data));
        current_.stderr_excerpt = printable_output(excerpt(out.stderr_data));
    }
    bool finish(bool ok, const std::string &detail) {
        current_.ok = ok;
        current_.detail = printable_output(detail);
        current_.seconds = std::chrono::duration<double>(SteadyClock::now() - started_).count();
        report_.steps.push_back(current_);
        if (callbacks_.step_finished)
            callbacks_.step_finished(current_);
        return ok;
    }
    void skip(const std::string &detail) {
        current_.skipped = true;
        finish(true, "skipped: " + detail);
    }
    // A failure naming the rule, what was expected and what was seen.
    bool fail(const std::string &expected, const std::string &seen) {
        return finish(false, std::string("rule broken: ") + current_.rule + "; expected " +
                                 expected + "; saw " + seen);
    }
    void progress(const std::string &message) const {
        if (callbacks_.progress)
            callbacks_.progress(message);
    }

  private:
    CloudtestReport &report_;
    const CloudtestCallbacks &callbacks_;
    CloudtestStep current_;
    SteadyClock::time_point started_;
};

class CloudtestRun {
  public:
    CloudtestRun(InstanceSet &set, const CloudtestOptions &options, const CloudtestRunner &run,
                 const CloudtestCallbacks &callbacks)
        : set_(set), options_(options), run_(run), step_(report_, callbacks),
          set_id_key_(options.tag_key_prefix + "InstanceSetID"),
          our_filter_{{set_id_key_, set.instance_set_id()}} {}

    CloudtestReport run() {
        if (!pre_existing() || stopping())
            return finish();
        if (!create())
            return finish();
        if (!stopping())
            listed_immediately();
        if (!stopping())
            tags_present();
        if (!stopping())
            boot_probe();
        if (options_.command && !stopping())
            command();
        if (options_.conformance) {
            for (auto step : {&CloudtestRun::remote_user, &CloudtestRun::init_command,
                              &CloudtestRun::tags_round_trip, &CloudtestRun::filter,
                              &CloudtestRun::second_set, &CloudtestRun::typed_error}) {
                if (stopping())
                    break;
                (this->*step)();
            }
        }
        // Always, interrupted or not: never leave the instance behind.
        const bool gone = destroy();
        if (options_.conformance && gone && !stopping())
            destroy_again();
        return finish();
    }

  private:
    bool stopping() {
        if (!report_.interrupted && options_.interrupted && options_.interrupted()) {
            report_.interrupted = true;
            step_.progress("interrupted: destroying what this run created");
        }
        return report_.interrupted;
    }
    // Sleeps in short slices so an interruption is noticed at once.
    void pause(Millis duration) {
        const auto until = SteadyClock::now() + duration;
        while (!stopping() && SteadyClock::now() < until)
            std::this_thread::sleep_for(std::min<Millis>(
                Millis(50),
                std::chrono::duration_cast<Millis>(until - SteadyClock::now()) + Millis(1)));
    }
    CloudtestReport finish() {
        report_.ok = !report_.interrupted && !report_.steps.empty();
        for (const auto &s : report_.steps)
            report_.ok = report_.ok && s.ok;
        return report_;
    }

    // The listed instance carrying our secret (or, failing that, our id).
    std::optional<Instance> find_listed(InstanceSet &set, const std::string &id) {
        std::optional<Instance> by_id;
        for (auto &inst : set.instances(our_filter_)) {
            if (!secret_.empty() &&
                secret_from_tags(inst.tags(), options_.tag_key_prefix) == secret_)
                return inst;
            if (!id.empty() && inst.id() == id)
                by_id = inst;
        }
        return by_id;
    }

    // Destroys `instance` until `set` no longer lists it under `filter`, or
    // timeouts.destroy passes. Not interruptible: it is the cleanup.
    bool destroy_until_gone(Instance &instance, InstanceSet &set, const Tags &filter,
                            std::string &detail) {
        const auto deadline = SteadyClock::now() + options_.timeouts.destroy;
        for (;;) {
            try {
                instance.destroy();
            } catch (const std::exception &e) {
                detail = std::string("destroy: ") + e.what();
                step_.progress(detail);
            }
            bool gone = false;
            try {
                const auto listed = set.instances(filter);
                gone = std::none_of(listed.begin(), listed.end(),
                                    [&](const Instance &i) { return i.id() == instance.id(); });
            } catch (const std::exception &e) {
                detail = std::string("listing: ") + e.what();
            }
            if (gone)
                return true;
            if (SteadyClock::now() > deadline)
                return false;
            std::this_thread::sleep_for(options_.timeouts.sync_interval);
        }
    }

    // 1. Instances of this InstanceSetID left over from earlier runs.
    bool pre_existing() {
        step_.start("pre-existing instances", rule::pre_existing);
        try {
            std::vector<Instance> existing;
            for (auto &inst : set_.instances({})) { // unfiltered, as Arvados does
                Tags tags = inst.tags();
                auto it = tags.find(set_id_key_);
                if (it != tags.end() && it->second == set_.instance_set_id())
                    existing.push_back(inst);
            }
            if (!existing.empty() && !options_.destroy_existing)
                return step_.finish(false, std::to_string(existing.size()) + " instance(s) with " +
                                               set_id_key_ + "=" + set_.instance_set_id() +
                                               " exist (first: " + existing.front().id() +
                                               "); destroy them, use --destroy-existing, or "
                                               "choose another instance_set_id");
            for (auto &inst : existing) {
                std::string detail;
                if (!destroy_until_gone(inst, set_, our_filter_, detail))
                    return step_.finish(false, "pre-existing instance " + inst.id() +
                                                   " still listed after destroy" +
                                                   (detail.empty() ? "" : "; " + detail));
            }
            return step_.finish(true, options_.destroy_existing ? "none left" : "none");
        } catch (const std::exception &e) {
            return step_.finish(false, std::string("listing instances failed: ") + e.what());
        }
    }

    // 2. Create, with the instance secret in a tag and in the InitCommand.
    bool create() {
        Tags tags = options_.tags;
        tags[set_id_key_] = set_.instance_set_id();
        PreparedCreate prepared =
            prepare_create(tags, options_.instance_init_command, options_.tag_key_prefix,
                           options_.instance_secret_path);
        tags_ = prepared.tags;
        secret_ = secret_from_tags(tags_, options_.tag_key_prefix);
        boot_deadline_ = SteadyClock::now() + options_.timeouts.boot;

        step_.start("create", rule::create);
        try {
            created_ = set_.create(options_.instance_type, options_.image_id, tags_,
                                   prepared.init_command, options_.public_key);
            step_.progress("created " + created_.id() + " (" + created_.provider_type() + ")");
            step_.finish(true, created_.id());
        } catch (const std::exception &e) {
            step_.finish(false, e.what());
            // As Arvados: a failed Create may still have made an instance. Poll
            // the list until it appears (then go on with it, so it is probed
            // and destroyed) or the boot deadline passes.
            step_.progress("create failed; watching the list until the boot timeout in case the "
                           "instance appears anyway");
            while (!created_.valid() && SteadyClock::now() < boot_deadline_ && !stopping()) {
                try {
                    if (auto appeared = find_listed(set_, ""))
                        created_ = *appeared;
                } catch (const std::exception &list_error) {
                    step_.progress(std::string("listing after the failed create: ") +
                                   list_error.what());
                }
                if (!created_.valid())
                    pause(options_.timeouts.sync_interval);
            }
            if (!created_.valid())
                return false;
            step_.progress("the failed create made " + created_.id() + " anyway");
        }
        listed_ = created_;
        return true;
    }

    // 3. Listed right after Create (no implicit lag allowed).
    void listed_immediately() {
        step_.start("listed immediately", rule::listed);
        try {
            if (auto found = find_listed(set_, created_.id())) {
                listed_ = *found;
                step_.finish(true, listed_.id());
            } else {
                step_.fail(created_.id() + " in Instances()", "it missing");
            }
        } catch (const std::exception &e) {
            step_.finish(false, std::string("listing instances failed: ") + e.what());
        }
    }

    // 4. Every tag given to Create is on the listed instance.
    void tags_present() {
        step_.start("tags present", rule::tags_present);
        try {
            Tags got = listed_.tags();
            for (const auto &[k, v] : tags_) {
                auto it = got.find(k);
                if (it == got.end()) {
                    step_.fail("tag " + k, "tag is missing: " + k);
                    return;
                }
                if (it->second != v) {
                    step_.fail("tag " + k + " as given to Create",
                               "tag " + k + " differs from the value given to Create");
                    return;
                }
            }
            step_.finish(true, std::to_string(tags_.size()) + " tags");
        } catch (const std::exception &e) {
            step_.finish(false, e.what());
        }
    }

    // 5. Boot probe over SSH, verifying the host, until the boot deadline.
    void boot_probe() {
        step_.start("boot probe", rule::boot);
        if (!options_.ssh_reachable) {
            step_.skip(no_ssh_reason);
            return;
        }
        std::string last_error = "no attempt";
        const auto timeout = std::chrono::duration_cast<Millis>(
            std::max(boot_deadline_ - SteadyClock::now(), SteadyClock::duration::zero()));
        const PollResult polled = poll_until(
            timeout, options_.timeouts.probe_interval,
            [&] {
                if (stopping())
                    return false;
                try {
                    if (auto fresh = find_listed(set_, created_.id()))
                        listed_ = *fresh; // refresh the address
                    CommandOutput out = run_(listed_, secret_, options_.boot_probe_command);
                    step_.output(out);
                    if (out.exit_status == 0)
                        return true;
                    last_error =
                        "boot probe command exited " + std::to_string(out.exit_status) +
                        (out.stderr_data.empty() ? "" : ": " + first_line(out.stderr_data));
                } catch (const std::exception &e) {
                    last_error = e.what();
                }
                return false;
            },
            [&, attempts = 0](Millis duration) mutable {
                ++attempts;
                if (attempts == 1 || attempts % 10 == 0)
                    step_.progress("waiting for boot: " + last_error);
                pause(duration);
                return !stopping();
            });
        booted_ = polled.done;
        const std::string waited =
            std::to_string(std::chrono::duration_cast<Millis>(polled.waited).count()) + " ms";
        step_.finish(booted_, booted_ ? std::to_string(polled.attempts) + " attempt(s) in " + waited
                                      : "no successful boot probe before the boot timeout "
                                        "(waited " +
                                            waited + ", " + std::to_string(polled.attempts) +
                                            " attempt(s)); last error: " + last_error);
    }

    // Runs a remote command for the current step; false (step finished) when
    // it could not run.
    std::optional<CommandOutput> remote(const std::string &command, bool keep_stdout = true) {
        try {
            CommandOutput out = run_(listed_, secret_, command);
            step_.output(out, keep_stdout);
            return out;
        } catch (const std::exception &e) {
            step_.fail("`" + command + "` to run", e.what());
            return std::nullopt;
        }
    }
    bool needs_boot() {
        if (booted_)
            return true;
        step_.skip(options_.ssh_reachable ? "the instance did not boot" : no_ssh_reason);
        return false;
    }

    // 6. The operator's command, once.
    void command() {
        step_.start("command", rule::command);
        if (!booted_) {
            step_.finish(false, "skipped: instance did not boot");
            return;
        }
        if (auto out = remote(*options_.command))
            step_.finish(out->exit_status == 0,
                         "exit status " + std::to_string(out->exit_status) +
                             (out->exit_status == 0 || out->stderr_data.empty()
                                  ? ""
                                  : ": " + first_line(out->stderr_data)));
    }

    // The secret file, checked whether or not the host needed it to verify
    // the instance: a driver that verifies host keys itself must still run
    // the InitCommand.
    void init_command() {
        step_.start("init command ran", rule::init_command);
        if (!needs_boot())
            return;
        if (!remote_user_ok_) {
            // The host reads the file as RemoteUser (with sudo unless root).
            step_.skip("RemoteUser() is wrong, so the file cannot be read as the host would");
            return;
        }
        const TagVerifier verifier(std::make_shared<InstanceTarget>(listed_), secret_,
                                   options_.instance_secret_path);
        const auto mode = remote(verifier.secret_mode_command());
        if (!mode)
            return;
        if (mode->exit_status != 0 || trimmed(mode->stdout_data) != "600") {
            step_.fail("`" + verifier.secret_mode_command() + "` to print 600",
                       "exit status " + std::to_string(mode->exit_status) + ", output \"" +
                           printable(trimmed(mode->stdout_data)) + "\"" +
                           (mode->stderr_data.empty()
                                ? ""
                                : ", stderr: " + first_line(mode->stderr_data)));
            return;
        }
        // The content is the secret: compared here, never recorded.
        const auto content = remote(verifier.read_secret_command(), false);
        if (!content)
            return;
        if (content->exit_status != 0 || content->stdout_data != secret_) {
            step_.fail(options_.instance_secret_path + " to hold the " + options_.tag_key_prefix +
                           "InstanceSecret tag's value",
                       content->exit_status != 0
                           ? "`" + verifier.read_secret_command() + "` exit status " +
                                 std::to_string(content->exit_status)
                           : std::to_string(content->stdout_data.size()) +
                                 " bytes that differ from it");
            return;
        }
        step_.finish(true, options_.instance_secret_path + " holds the secret, mode 0600");
    }

    void remote_user() {
        step_.start("remote user and sudo", rule::remote_user);
        if (!needs_boot())
            return;
        std::string user;
        try {
            user = listed_.remote_user();
        } catch (const std::exception &e) {
            step_.fail("RemoteUser() to answer", std::string("error: ") + e.what());
            return;
        }
        if (user.empty()) {
            step_.fail("a RemoteUser() name", "\"\"");
            return;
        }
        const auto who = remote("id -un");
        if (!who)
            return;
        if (who->exit_status != 0 || trimmed(who->stdout_data) != user) {
            step_.fail("`id -un` to print \"" + printable(user) + "\"",
                       "exit status " + std::to_string(who->exit_status) + ", \"" +
                           printable(trimmed(who->stdout_data)) + "\"");
            return;
        }
        if (user != "root") {
            const auto sudo = remote("sudo -n true");
            if (!sudo)
                return;
            if (sudo->exit_status != 0) {
                step_.fail(
                    "`sudo -n true` to exit 0 for " + printable(user),
                    "exit status " + std::to_string(sudo->exit_status) +
                        (sudo->stderr_data.empty() ? "" : ": " + first_line(sudo->stderr_data)));
                return;
            }
        }
        remote_user_ok_ = true;
        step_.finish(true, "commands run as " + printable(user) +
                               (user == "root" ? "" : ", sudo -n works"));
    }

    void tags_round_trip() {
        step_.start("tags round trip", rule::tags_round_trip);
        try {
            // The full set, as the dispatcher's pool sends it: drivers may
            // replace or merge (either keeps every key sent).
            Tags wanted = listed_.tags();
            const std::string key = options_.tag_key_prefix + "CloudTestTagCheck";
            const std::string value = generate_instance_secret().substr(0, 16);
            wanted[key] = value;
            listed_.set_tags(wanted);
            Tags filter = our_filter_;
            filter[key] = value;
            const auto deadline = SteadyClock::now() + options_.settle;
            std::string seen;
            for (;;) {
                const Tags got = listed_.tags();
                const auto it = got.find(key);
                bool listed = false;
                for (const auto &inst : set_.instances(filter))
                    listed = listed || inst.id() == listed_.id();
                const bool kept = std::all_of(wanted.begin(), wanted.end(), [&](const auto &kv) {
                    auto g = got.find(kv.first);
                    return g != got.end() && g->second == kv.second;
                });
                if (it != got.end() && it->second == value && listed && kept) {
                    tags_ = got;
                    step_.finish(true, key + "=" + value + " seen by Tags() and Instances(" + key +
                                           "=" + value + ")");
                    return;
                }
                seen = it == got.end() ? "Tags() without " + key
                       : it->second != value
                           ? "Tags() with " + key + "=\"" + printable(it->second) + "\""
                       : !kept ? "Tags() lost a key that SetTags sent"
                               : "Instances(" + key + "=" + value + ") without the instance";
                if (SteadyClock::now() > deadline || stopping())
                    break;
                pause(options_.timeouts.sync_interval);
            }
            step_.fail(key + "=" + value + " within " +
                           std::to_string(options_.settle.count() / 1000.0).substr(0, 5) + " s",
                       seen);
        } catch (const std::exception &e) {
            step_.fail("SetTags, Tags() and Instances() to succeed", e.what());
        }
    }

    void filter() {
        step_.start("instance set filter", rule::filter);
        if (!options_.open_set) {
            step_.skip("no way to open a second instance set");
            return;
        }
        const std::string foreign_id = foreign_set_id(set_.instance_set_id());
        const Tags foreign_filter{{set_id_key_, foreign_id}};
        InstanceSet foreign;
        Instance stranger;
        std::string problem;
        try {
            foreign = options_.open_set(foreign_id);
            Tags tags = options_.tags;
            tags[set_id_key_] = foreign_id;
            stranger = foreign.create(options_.instance_type, options_.image_id, tags, "true",
                                      options_.public_key);
            if (stranger.id() == created_.id())
                problem = "the instance of " + foreign_id + " got the id " + created_.id() +
                          " of this set's instance (ids must be unique in the cloud)";
            for (const auto &inst : set_.instances(our_filter_)) {
                if (!problem.empty())
                    break;
                if (inst.id() == stranger.id()) {
                    problem = "the instance " + stranger.id() + " of " + foreign_id;
                    break;
                }
                const Tags got = inst.tags();
                const auto it = got.find(set_id_key_);
                if (it == got.end() || it->second != set_.instance_set_id()) {
                    problem = "instance " + inst.id() + " with " + set_id_key_ + "=\"" +
                              printable(it == got.end() ? "" : it->second) + "\"";
                    break;
                }
            }
        } catch (const std::exception &e) {
            problem = std::string("an error: ") + e.what();
        }
        if (stranger.valid()) {
            std::string detail;
            if (!destroy_until_gone(stranger, foreign, foreign_filter, detail))
                problem += (problem.empty() ? "" : "; ") +
                           ("the foreign instance " + stranger.id() + " still listed: " + detail);
        }
        if (problem.empty())
            step_.finish(true, "Instances(" + set_id_key_ + "=" + set_.instance_set_id() +
                                   ") left out " + stranger.id() + " of " + foreign_id);
        else
            step_.fail("only instances of " + set_.instance_set_id(), problem);
    }

    void second_set() {
        step_.start("listed by a new instance set", rule::second_set);
        if (!options_.open_set) {
            step_.skip("no way to open a second instance set");
            return;
        }
        try {
            InstanceSet again = options_.open_set(set_.instance_set_id());
            for (const auto &inst : again.instances(our_filter_)) {
                if (inst.id() != created_.id())
                    continue;
                const std::string secret = secret_from_tags(inst.tags(), options_.tag_key_prefix);
                if (secret != secret_) {
                    step_.fail(inst.id() + " with its " + options_.tag_key_prefix +
                                   "InstanceSecret tag",
                               "the tag missing or changed");
                    return;
                }
                step_.finish(true, inst.id() + " listed, tags intact");
                return;
            }
            step_.fail(created_.id() + " in the new set's Instances()", "it missing");
        } catch (const std::exception &e) {
            step_.fail("a new InstanceSet to list the instance", std::string("error: ") + e.what());
        }
    }

    void typed_error() {
        step_.start("typed error", rule::typed_error);
        if (!options_.fault) {
            step_.skip("no --fault-config: the driver's typed errors were not exercised");
            return;
        }
        const ExpectedError expect = options_.fault->expect;
        const std::string wanted = expected_error_name(expect);
        std::string seen;
        try {
            InstanceSet faulty = options_.fault->open_set();
            Tags tags = tags_;
            tags.erase(options_.tag_key_prefix + "CloudTestTagCheck");
            Instance made = faulty.create(options_.instance_type, options_.image_id, tags, "true",
                                          options_.public_key);
            std::string detail;
            destroy_until_gone(made, faulty, our_filter_, detail);
            seen = "Create succeeded (" + made.id() + ", destroyed)";
        } catch (const QuotaError &e) {
            if (expect == ExpectedError::quota) {
                step_.finish(true, std::string("QuotaError: ") + e.what());
                return;
            }
            seen = std::string("QuotaError: ") + e.what();
        } catch (const CapacityError &e) {
            if (expect == ExpectedError::capacity) {
                step_.finish(true, std::string("CapacityError: ") + e.what());
                return;
            }
            seen = std::string("CapacityError: ") + e.what();
        } catch (const RateLimitError &e) {
            if (expect == ExpectedError::rate_limit) {
                step_.finish(true, std::string("RateLimitError: ") + e.what());
                return;
            }
            seen = std::string("RateLimitError: ") + e.what();
        } catch (const InvalidConfigError &e) {
            if (expect == ExpectedError::invalid_config) {
                step_.finish(true, std::string("InvalidConfigError: ") + e.what());
                return;
            }
            seen = std::string("InvalidConfigError: ") + e.what();
        } catch (const std::exception &e) {
            seen = std::string("an untyped error: ") + e.what();
        }
        step_.fail("a " + wanted + " error", seen);
    }

    bool destroy() {
        step_.start("destroy", rule::destroy);
        std::string detail;
        const bool gone = destroy_until_gone(listed_, set_, our_filter_, detail);
        step_.finish(gone, gone ? "gone"
                                : "still listed after the destroy timeout" +
                                      (detail.empty() ? "" : "; " + detail));
        return gone;
    }

    void destroy_again() {
        step_.start("destroy again", rule::destroy_again);
        try {
            listed_.destroy();
            step_.finish(true, "a second Destroy of " + listed_.id() + " succeeded");
        } catch (const std::exception &e) {
            step_.fail("success (the instance is gone, as asked)",
                       std::string("error: ") + e.what());
        }
    }

    InstanceSet &set_;
    const CloudtestOptions &options_;
    const CloudtestRunner &run_;
    CloudtestReport report_;
    StepRecorder step_;
    const std::string set_id_key_;
    const Tags our_filter_;
    Tags tags_;
    std::string secret_;
    SteadyClock::time_point boot_deadline_;
    Instance created_;
    Instance listed_;
    bool booted_ = false;
    bool remote_user_ok_ = false;
};

} // namespace

std::optional<ExpectedError> expected_error_named(std::string_view name) {
    for (auto e : {ExpectedError::quota, ExpectedError::capacity, ExpectedError::rate_limit,
                   ExpectedError::invalid_config})
        if (name == expected_error_name(e))
            return e;
    return std::nullopt;
}

const char *expected_error_name(ExpectedError error) noexcept {
    switch (error) {
    case ExpectedError::quota:
        return "quota";
    case ExpectedError::capacity:
        return "capacity";
    case ExpectedError::rate_limit:
        return "rate_limit";
    case ExpectedError::invalid_config:
        return "invalid_config";
    }
    return "?";
}

std::string printable_output(std::string_view text) {
    return escape_text(text, {.keep_line_breaks = true});
}

std::string excerpt(std::string_view text, std::size_t limit) {
    if (text.size() <= limit)
        return std::string(text);
    return std::string(text.substr(0, limit)) + "...[" + std::to_string(text.size() - limit) +
           " more bytes]";
}

CloudtestReport run_cloudtest(InstanceSet &set, const CloudtestOptions &options,
                              const CloudtestRunner &run, const CloudtestCallbacks &callbacks) {
    return CloudtestRun(set, options, run, callbacks).run();
}

} // namespace cloudhost
