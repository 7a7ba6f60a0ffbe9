#include "cloudhost/cloudtest.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <chrono>
#include <thread>

namespace cloudhost {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Records one step's outcome and timing, and reports it as it happens.
class StepRecorder {
  public:
    StepRecorder(CloudtestReport &report, const CloudtestCallbacks &callbacks)
        : report_(report), callbacks_(callbacks) {}

    void start(const std::string &name) {
        name_ = name;
        started_ = SteadyClock::now();
        if (callbacks_.step_started)
            callbacks_.step_started(name);
    }
    bool finish(bool ok, const std::string &detail) {
        CloudtestStep step;
        step.name = name_;
        step.ok = ok;
        step.detail = detail;
        step.seconds = std::chrono::duration<double>(SteadyClock::now() - started_).count();
        report_.steps.push_back(step);
        if (callbacks_.step_finished)
            callbacks_.step_finished(step);
        return ok;
    }
    void progress(const std::string &message) const {
        if (callbacks_.progress)
            callbacks_.progress(message);
    }

  private:
    CloudtestReport &report_;
    const CloudtestCallbacks &callbacks_;
    std::string name_;
    SteadyClock::time_point started_;
};

// The listed instance carrying our secret (or, failing that, our id).
std::optional<Instance> find_listed(InstanceSet &set, const Tags &filter,
                                    const std::string &secret_key, const std::string &secret,
                                    const std::string &id) {
    std::optional<Instance> by_id;
    for (auto &inst : set.instances(filter)) {
        if (!secret.empty()) {
            Tags tags = inst.tags();
            auto it = tags.find(secret_key);
            if (it != tags.end() && it->second == secret)
                return inst;
        }
        if (!id.empty() && inst.id() == id)
            by_id = inst;
    }
    return by_id;
}

std::string first_line(const std::string &s) {
    std::string line = s.substr(0, s.find('\n'));
    return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

} // namespace

CloudtestReport run_cloudtest(InstanceSet &set, const CloudtestOptions &options,
                              const CloudtestRunner &run, const CloudtestCallbacks &callbacks) {
    CloudtestReport report;
    StepRecorder step(report, callbacks);
    const std::string set_id_key = options.tag_key_prefix + "InstanceSetID";
    const std::string secret_key = options.tag_key_prefix + "InstanceSecret";
    const Tags our_filter{{set_id_key, set.instance_set_id()}};
    auto sleep_for = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };

    // 1. Instances of this InstanceSetID left over from earlier runs.
    step.start("pre-existing instances");
    try {
        std::vector<Instance> existing;
        for (auto &inst : set.instances({})) { // unfiltered, as Arvados does
            Tags tags = inst.tags();
            auto it = tags.find(set_id_key);
            if (it != tags.end() && it->second == set.instance_set_id())
                existing.push_back(inst);
        }
        if (!existing.empty() && !options.destroy_existing) {
            step.finish(false, std::to_string(existing.size()) + " instance(s) with " + set_id_key +
                                   "=" + set.instance_set_id() +
                                   " exist (first: " + existing.front().id() +
                                   "); destroy them, use --destroy-existing, or choose another "
                                   "instance_set_id");
            return report;
        }
        const auto deadline = SteadyClock::now() + options.timeouts.destroy;
        while (!existing.empty()) {
            for (auto &inst : existing) {
                try {
                    inst.destroy();
                } catch (const std::exception &e) {
                    step.progress("destroy " + inst.id() + ": " + e.what());
                }
            }
            if (SteadyClock::now() > deadline) {
                step.finish(false, std::to_string(existing.size()) +
                                       " pre-existing instance(s) still listed after destroy");
                return report;
            }
            sleep_for(options.timeouts.sync_interval);
            existing = set.instances(our_filter);
        }
        step.finish(true, options.destroy_existing ? "none left" : "none");
    } catch (const std::exception &e) {
        step.finish(false, std::string("listing instances failed: ") + e.what());
        return report;
    }

    // 2. Create, with the instance secret in a tag and in the InitCommand.
    const std::string secret = generate_instance_secret();
    Tags tags = options.tags;
    tags[set_id_key] = set.instance_set_id();
    tags[secret_key] = secret;
    std::string init = instance_secret_init_command(secret, options.instance_secret_path);
    if (!options.instance_init_command.empty())
        init += "\n" + options.instance_init_command;
    const auto boot_deadline = SteadyClock::now() + options.timeouts.boot;

    step.start("create");
    Instance created;
    try {
        created =
            set.create(options.instance_type, options.image_id, tags, init, options.public_key);
        step.progress("created " + created.id() + " (" + created.provider_type() + ")");
        step.finish(true, created.id());
    } catch (const std::exception &e) {
        step.finish(false, e.what());
        // As Arvados: a failed Create may still have made an instance. Poll the
        // list until it appears (then go on with it, so it is probed and
        // destroyed) or the boot deadline passes.
        step.progress("create failed; watching the list until the boot timeout in case the "
                      "instance appears anyway");
        while (!created.valid() && SteadyClock::now() < boot_deadline) {
            try {
                if (auto appeared = find_listed(set, our_filter, secret_key, secret, ""))
                    created = *appeared;
            } catch (const std::exception &list_error) {
                step.progress(std::string("listing after the failed create: ") + list_error.what());
            }
            if (!created.valid())
                sleep_for(options.timeouts.sync_interval);
        }
        if (!created.valid())
            return report;
        step.progress("the failed create made " + created.id() + " anyway");
    }

    // 3. Listed right after Create (no implicit lag allowed).
    Instance listed = created;
    step.start("listed immediately");
    try {
        auto found = find_listed(set, our_filter, secret_key, secret, created.id());
        if (found) {
            listed = *found;
            step.finish(true, listed.id());
        } else {
            step.finish(false, "Create succeeded, but instance is not in list");
        }
    } catch (const std::exception &e) {
        step.finish(false, std::string("listing instances failed: ") + e.what());
    }

    // 4. Every tag given to Create is on the listed instance.
    step.start("tags present");
    try {
        Tags got = listed.tags();
        std::string problem;
        for (const auto &[k, v] : tags) {
            auto it = got.find(k);
            if (it == got.end()) {
                problem = "tag is missing: " + k;
                break;
            }
            if (it->second != v) {
                problem = "tag " + k + " differs from the value given to Create";
                break;
            }
        }
        step.finish(problem.empty(),
                    problem.empty() ? std::to_string(tags.size()) + " tags" : problem);
    } catch (const std::exception &e) {
        step.finish(false, e.what());
    }

    // 5. Boot probe over SSH, verifying the host, until the boot deadline.
    step.start("boot probe");
    bool booted = false;
    std::string last_error = "no attempt";
    int attempts = 0;
    while (!booted) {
        ++attempts;
        try {
            if (auto fresh = find_listed(set, our_filter, secret_key, secret, created.id()))
                listed = *fresh; // refresh the address
            CommandOutput out = run(listed, secret, options.boot_probe_command);
            if (out.exit_status == 0) {
                booted = true;
                break;
            }
            last_error = "boot probe command exited " + std::to_string(out.exit_status) +
                         (out.stderr_data.empty() ? "" : ": " + first_line(out.stderr_data));
        } catch (const std::exception &e) {
            last_error = e.what();
        }
        if (SteadyClock::now() + options.timeouts.probe_interval > boot_deadline)
            break;
        if (attempts == 1 || attempts % 10 == 0)
            step.progress("waiting for boot: " + last_error);
        sleep_for(options.timeouts.probe_interval);
    }
    step.finish(booted, booted ? std::to_string(attempts) + " attempt(s)"
                               : "no successful boot probe before the boot timeout; last error: " +
                                     last_error);

    // 6. The operator's command, once.
    if (options.command) {
        step.start("command");
        if (!booted) {
            step.finish(false, "skipped: instance did not boot");
        } else {
            try {
                CommandOutput out = run(listed, secret, *options.command);
                step.finish(out.exit_status == 0,
                            "exit status " + std::to_string(out.exit_status) +
                                (out.exit_status == 0 || out.stderr_data.empty()
                                     ? ""
                                     : ": " + first_line(out.stderr_data)));
            } catch (const std::exception &e) {
                step.finish(false, e.what());
            }
        }
    }

    // 7. Destroy until the instance is gone from the list.
    step.start("destroy");
    const auto destroy_deadline = SteadyClock::now() + options.timeouts.destroy;
    std::string destroy_detail;
    bool gone = false;
    while (!gone) {
        try {
            listed.destroy();
        } catch (const std::exception &e) {
            destroy_detail = std::string("destroy: ") + e.what();
            step.progress(destroy_detail);
        }
        try {
            gone = !find_listed(set, our_filter, secret_key, secret, created.id());
        } catch (const std::exception &e) {
            destroy_detail = std::string("listing: ") + e.what();
            if (SteadyClock::now() > destroy_deadline)
                break;
            continue; // list error: retry at once, as Arvados does
        }
        if (gone || SteadyClock::now() > destroy_deadline)
            break;
        sleep_for(options.timeouts.sync_interval);
    }
    step.finish(gone, gone ? "gone"
                           : "still listed after the destroy timeout" +
                                 (destroy_detail.empty() ? "" : "; " + destroy_detail));

    report.ok = true;
    for (const auto &s : report.steps)
        report.ok = report.ok && s.ok;
    return report;
}

} // namespace cloudhost
