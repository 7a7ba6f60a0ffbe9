// cloudhost create --type T [--image I] [--tag K=V]... [--init-command CMD] [--wait] [--json]
#include "../commands.hpp"
#include "../error_line.hpp"
#include "../interruption.hpp"
#include "../json_output.hpp"
#include "../progress.hpp"

#include "cloudhost/config.hpp"
#include "cloudhost/printable.hpp"
#include "cloudhost/tag_rules.hpp"

#include <iostream>

namespace cloudhost::cli {
namespace {
struct CreateFlags {
    std::string type;
    std::string image;
    std::vector<std::string> tags;
    std::string init_command;
    bool wait = false;
    bool json = false;
    bool show_secrets = false;
};

// Runs the boot probe command over SSH (host verified) until it succeeds or
// the boot timeout passes, as the dispatcher and cloudtest do.
bool wait_for_boot(CliContext &context, const Instance &instance, bool json) {
    const Config &config = context.config();
    const std::string secret = context.secret_of(instance);
    Progress progress = Progress::on_terminal(json);
    const WaitResult booted = wait_with_progress(
        progress, "waiting for " + terminal_text(instance.id()) + " to boot", config.timeouts.boot,
        config.timeouts.probe_interval, [&](std::string &detail) {
            try {
                const CommandOutput out =
                    context.run_on(instance, secret, config.boot_probe_command, {}, {});
                if (out.exit_status == 0)
                    return true;
                detail = "boot probe command exited " + std::to_string(out.exit_status);
            } catch (const std::exception &e) {
                detail = e.what();
            }
            return false;
        });
    if (booted.interrupted) {
        progress.end_status();
        return false;
    }
    if (booted.done) {
        progress.line(terminal_text(instance.id()) + " booted in " +
                      format_seconds(booted.seconds));
        return true;
    }
    progress.end_status(); // the last status stays above the error
    print_error_line(
        "create: " + terminal_text(instance.id()) + " did not boot within timeouts.boot (" +
        format_seconds(std::chrono::duration<double>(config.timeouts.boot).count()) + ": waited " +
        format_seconds(booted.seconds) + "); last error: " + terminal_text(booted.last_detail));
    return false;
}
} // namespace

Command add_create_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("create", "Create one instance");
    sub->footer("Prints the instance's id (--json: the instance) once the driver has answered.\n"
                "--wait first waits until it answers SSH: the config's boot_probe_command runs\n"
                "on it, host verified, every timeouts.probe_interval until timeouts.boot.\n"
                "Progress shows on stderr when it is a terminal, never with --json. If the\n"
                "instance does not boot, it is still printed (destroy it) and the exit status\n"
                "is 1. Interrupted (SIGINT, SIGTERM), it destroys the instance it created and\n"
                "exits 128+signal; a second signal exits at once.");
    auto f = std::make_shared<CreateFlags>();
    sub->add_option("--type", f->type, "Instance type name (default: the cheapest configured)");
    sub->add_option("--image", f->image, "Image id (default: the config's image_id)");
    sub->add_option("--tag", f->tags, "Tag K=V (repeatable)");
    sub->add_option("--init-command", f->init_command, "Shell command to run at boot");
    sub->add_flag("--wait", f->wait,
                  "Wait until the instance answers SSH (boot_probe_command, timeouts.boot)");
    sub->add_flag("--json", f->json, "Print the instance as JSON");
    sub->add_flag("--show-secrets", f->show_secrets,
                  "Print secret tags (the InstanceSecret, keys naming a secret) in clear");
    return {sub, [&context, f] {
                Tags tags = parse_tags(f->tags, "--tag");
                // The config's image_id rule, for the flag too.
                if (auto problem = image_id_problem(f->image))
                    throw UsageError("--image \"" + printable(f->image) + "\" " + *problem);
                const Config &config = context.config();
                InstanceType type;
                try {
                    type = f->type.empty() ? config.cheapest_instance_type()
                                           : config.instance_type(f->type);
                } catch (const ConfigError &e) {
                    throw UsageError(std::string("--type: ") + e.what());
                }
                // From before the driver is asked: an instance created
                // while a SIGINT/SIGTERM is pending is destroyed, never left
                // behind unprinted. A second signal exits at once.
                InterruptionGuard guard;
                Instance instance = context.create_instance(type, f->image, tags, f->init_command);
                const bool booted = !f->wait || wait_for_boot(context, instance, f->json);
                if (const int signal_number = interrupting_signal()) {
                    print_error_line(std::string("create: interrupted by ") +
                                     signal_name(signal_number) + "; destroying " +
                                     terminal_text(instance.id()));
                    instance.destroy();
                    return 128 + signal_number;
                }
                if (f->json) {
                    rapidjson::StringBuffer buffer;
                    JsonWriter w(buffer);
                    write_instance(w, instance, context.secret_tags(f->show_secrets));
                    std::cout << buffer.GetString() << "\n";
                } else {
                    std::cout << terminal_text(instance.id()) << "\n";
                }
                return booted ? int(exit_ok) : int(exit_failed);
            }};
}

} // namespace cloudhost::cli
