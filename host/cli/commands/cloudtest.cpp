// cloudhost cloudtest [--instance-type T] [--image-id I] [--command CMD]
//                     [--destroy-existing] [--json]
#include "../commands.hpp"
#include "../json_output.hpp"
#include "../progress.hpp"

#include "cloudhost/cloudtest.hpp"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>

namespace cloudhost::cli {
namespace {
struct CloudtestFlags {
    std::string instance_type;
    std::string image_id;
    std::string command;
    bool destroy_existing = false;
    bool json = false;
};

void print_table(std::ostream &out, const CloudtestReport &report) {
    out << "\n"
        << std::left << std::setw(24) << "STEP" << std::setw(7) << "RESULT" << std::setw(10)
        << "TIME"
        << "DETAIL\n";
    for (const auto &s : report.steps)
        out << std::setw(24) << s.name << std::setw(7) << (s.ok ? "ok" : "FAIL") << std::setw(10)
            << format_seconds(s.seconds) << s.detail << "\n";
    out << (report.ok ? "cloudtest passed\n" : "cloudtest FAILED\n");
}
} // namespace

Command add_cloudtest_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("cloudtest", "Conformance run against the configured driver");
    auto f = std::make_shared<CloudtestFlags>();
    sub->add_option("--instance-type", f->instance_type,
                    "Instance type name (default: the cheapest configured)");
    sub->add_option("--image-id", f->image_id, "Image id (default: the config's image_id)");
    sub->add_option("--command", f->command, "Command to run once the instance has booted");
    sub->add_flag("--destroy-existing", f->destroy_existing,
                  "Destroy instances left with this InstanceSetID instead of failing");
    sub->add_flag("--json", f->json, "Print {\"ok\",\"steps\":[...]} at the end");
    return {sub, [&context, f] {
                const Config &config = context.config();
                CloudtestOptions options;
                try {
                    options.instance_type = f->instance_type.empty()
                                                ? config.cheapest_instance_type()
                                                : config.instance_type(f->instance_type);
                } catch (const ConfigError &e) {
                    throw UsageError(std::string("--instance-type: ") + e.what());
                }
                options.image_id = f->image_id.empty() ? config.image_id : f->image_id;
                options.tags = config.resource_tags;
                options.tags[config.tag_key_prefix + "CloudTestPID"] = std::to_string(getpid());
                options.tag_key_prefix = config.tag_key_prefix;
                options.instance_init_command = config.instance_init_command;
                options.instance_secret_path = config.effective_instance_secret_path();
                options.public_key = context.deploy_public_key();
                options.boot_probe_command = config.boot_probe_command;
                if (!f->command.empty())
                    options.command = f->command;
                options.destroy_existing = f->destroy_existing;
                options.timeouts = config.timeouts;

                // Progress as it goes in text mode (the steps are the output,
                // terminal or not); --json prints only the result.
                Progress progress(std::cout, !f->json, false);
                CloudtestCallbacks callbacks;
                callbacks.step_started = [&progress](const std::string &name) {
                    progress.line("... " + name);
                };
                callbacks.step_finished = [&progress](const CloudtestStep &s) {
                    progress.line((s.ok ? "ok   " : "FAIL ") + s.name + " (" +
                                  format_seconds(s.seconds) + ")" +
                                  (s.detail.empty() ? "" : ": " + s.detail));
                };
                callbacks.progress = [&progress](const std::string &m) {
                    progress.line("     " + m);
                };
                progress.line("cloudtest: driver " + config.driver + ", instance set " +
                              config.instance_set_id + ", type " + options.instance_type.name);
                CloudtestRunner runner = [&context](const Instance &inst, const std::string &secret,
                                                    const std::string &command) {
                    return context.run_on(inst, secret, command, {}, {});
                };
                CloudtestReport report =
                    run_cloudtest(context.instance_set(), options, runner, callbacks);
                if (f->json) {
                    rapidjson::StringBuffer buffer;
                    JsonWriter w(buffer);
                    w.StartObject();
                    w.Key("ok");
                    w.Bool(report.ok);
                    w.Key("steps");
                    w.StartArray();
                    for (const auto &s : report.steps) {
                        w.StartObject();
                        w.Key("name");
                        write_string(w, s.name);
                        w.Key("ok");
                        w.Bool(s.ok);
                        w.Key("seconds");
                        w.Double(s.seconds);
                        w.Key("detail");
                        write_string(w, s.detail);
                        w.EndObject();
                    }
                    w.EndArray();
                    w.EndObject();
                    std::cout << buffer.GetString() << "\n";
                } else {
                    print_table(std::cout, report);
                }
                return report.ok ? int(exit_ok) : int(exit_failed);
            }};
}

} // namespace cloudhost::cli
