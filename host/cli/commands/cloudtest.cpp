// cloudhost cloudtest [--instance-type T] [--image-id I] [--command CMD]
//                     [--destroy-existing] [--conformance] [--settle D]
//                     [--fault-config FILE] [--no-ssh] [--json] [--junit FILE]
#include "../commands.hpp"
#include "../error_line.hpp"
#include "../interruption.hpp"
#include "../json_output.hpp"
#include "../progress.hpp"

#include "catalog/file_bytes.hpp"
#include "cloudhost/catalog.hpp"
#include "cloudhost/cloudtest.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/json_depth_limit.hpp"
#include "cloudhost/printable.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace cloudhost::cli {
namespace {

struct CloudtestFlags {
    std::string instance_type;
    std::string image_id;
    std::string command;
    std::string fault_config;
    std::string junit;
    std::string settle = "60s";
    bool destroy_existing = false;
    bool conformance = false;
    bool no_ssh = false;
    bool json = false;
};

// `--fault-config FILE`: {"driver_parameters": {...}, "expect": "quota"}.
struct FaultConfig {
    std::string driver_parameters;
    ExpectedError expect = ExpectedError::quota;
};

constexpr std::size_t max_fault_config_bytes = 1024 * 1024;

std::string line_column(const std::string &text, std::size_t offset) {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return std::to_string(line) + ":" + std::to_string(column);
}

FaultConfig load_fault_config(const std::string &path) {
    // Bounded and from a regular file (not /dev/zero), nesting bounded too,
    // as every JSON the host reads.
    std::string text;
    try {
        const auto bytes = detail::read_file_bytes(path, max_fault_config_bytes);
        text.assign(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    } catch (const LoadError &e) {
        throw UsageError("--fault-config: " + path + ": " + e.what());
    }
    rapidjson::Document doc;
    if (const auto parsed = json::parse_document_with_depth_limit(doc, text); !parsed)
        throw UsageError(path + ":" + line_column(text, parsed.offset()) + ": " + parsed.message());
    if (!doc.IsObject())
        throw UsageError(path + ": expected {\"driver_parameters\": {...}, \"expect\": \"quota\"}");
    FaultConfig fault;
    bool has_parameters = false;
    bool has_expect = false;
    for (const auto &member : doc.GetObject()) {
        const std::string key(member.name.GetString(), member.name.GetStringLength());
        if (key == "driver_parameters") {
            rapidjson::StringBuffer buffer;
            rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
            member.value.Accept(writer);
            fault.driver_parameters = buffer.GetString();
            has_parameters = true;
        } else if (key == "expect") {
            const auto expect = member.value.IsString()
                                    ? expected_error_named(member.value.GetString())
                                    : std::nullopt;
            if (!expect)
                throw UsageError(path + ": \"expect\" must be \"quota\", \"capacity\", "
                                        "\"rate_limit\" or \"invalid_config\"");
            fault.expect = *expect;
            has_expect = true;
        } else {
            throw UsageError(path + ": unknown key \"" + printable_output(key) +
                             "\" (driver_parameters, expect)");
        }
    }
    if (!has_parameters || !has_expect)
        throw UsageError(path + ": needs both \"driver_parameters\" and \"expect\"");
    return fault;
}

// Remote output under a step, indented; already escaped by the library.
void print_output(Progress &progress, const char *label, const std::string &text) {
    if (text.empty())
        return;
    progress.line(std::string("     ") + label + ":");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        progress.line("       | " + line);
}

void print_table(std::ostream &out, const CloudtestReport &report) {
    out << "\n"
        << std::left << std::setw(30) << "STEP" << std::setw(7) << "RESULT" << std::setw(10)
        << "TIME"
        << "DETAIL\n";
    for (const auto &s : report.steps)
        out << std::setw(30) << s.name << std::setw(7)
            << (s.skipped ? "skip"
                : s.ok    ? "ok"
                          : "FAIL")
            << std::setw(10) << format_seconds(s.seconds) << s.detail << "\n";
    if (report.interrupted)
        out << "cloudtest INTERRUPTED (what it created was destroyed)\n";
    out << (report.ok ? "cloudtest passed\n" : "cloudtest FAILED\n");
}

std::string report_json(const CloudtestReport &report) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    w.Key("ok");
    w.Bool(report.ok);
    w.Key("interrupted");
    w.Bool(report.interrupted);
    w.Key("steps");
    w.StartArray();
    for (const auto &s : report.steps) {
        w.StartObject();
        w.Key("name");
        write_string(w, s.name);
        w.Key("rule");
        write_string(w, s.rule);
        w.Key("ok");
        w.Bool(s.ok);
        w.Key("skipped");
        w.Bool(s.skipped);
        w.Key("seconds");
        w.Double(s.seconds);
        w.Key("detail");
        write_string(w, s.detail);
        w.Key("stdout");
        write_string(w, s.stdout_excerpt);
        w.Key("stderr");
        write_string(w, s.stderr_excerpt);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return buffer.GetString();
}

} // namespace

Command add_cloudtest_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("cloudtest", "Conformance run against the configured driver");
    auto f = std::make_shared<CloudtestFlags>();
    sub->add_option("--instance-type", f->instance_type,
                    "Instance type name (default: the cheapest configured)");
    sub->add_option("--image-id", f->image_id, "Image id (default: the config's image_id)");
    sub->add_option("--command", f->command,
                    "Command to run once the instance has booted (its output is shown)");
    sub->add_flag("--destroy-existing", f->destroy_existing,
                  "Destroy instances left with this InstanceSetID instead of failing");
    sub->add_flag("--conformance", f->conformance,
                  "Also prove every rule of the driver contract (SetTags, InitCommand, filter, "
                  "re-adoption, RemoteUser, Destroy twice, typed errors)");
    sub->add_option("--settle", f->settle,
                    "How long SetTags may take to show in Tags() and Instances() (default 60s)");
    sub->add_option("--fault-config", f->fault_config,
                    "JSON {\"driver_parameters\": {...}, \"expect\": \"quota\"|\"capacity\"|"
                    "\"rate_limit\"|\"invalid_config\"}: Create on an instance set with these "
                    "parameters must fail with that typed error (--conformance)");
    sub->add_flag("--no-ssh", f->no_ssh,
                  "The driver's instances never answer SSH (a fake cloud): skip the boot probe "
                  "and the steps that need SSH, each reported as skipped");
    sub->add_flag("--json", f->json, "Print {\"ok\",\"steps\":[...]} at the end");
    sub->add_option("--junit", f->junit, "Also write the steps as JUnit XML to this file");
    return {
        sub, [&context, f] {
            const Config &config = context.config();
            CloudtestOptions options;
            try {
                options.instance_type = f->instance_type.empty()
                                            ? config.cheapest_instance_type()
                                            : config.instance_type(f->instance_type);
            } catch (const ConfigError &e) {
                throw UsageError(std::string("--instance-type: ") + e.what());
            }
            try {
                options.settle = parse_duration(f->settle);
            } catch (const std::exception &e) {
                throw UsageError(std::string("--settle: ") + e.what());
            }
            std::optional<FaultConfig> fault;
            if (!f->fault_config.empty())
                fault = load_fault_config(f->fault_config);
            options.image_id = f->image_id.empty() ? config.image_id : f->image_id;
            options.tags = config.resource_tags;
            options.tags[config.tag_key_prefix + "CloudTestPID"] = std::to_string(getpid());
            options.tag_key_prefix = config.tag_key_prefix;
            options.instance_init_command = config.instance_init_command;
            options.instance_secret_path = config.effective_instance_secret_path();
            options.public_key = context.deploy_public_key();
            options.boot_probe_command = config.boot_probe_command;
            if (!f->command.empty() && f->no_ssh)
                throw UsageError("--command: cannot run on instances declared unreachable "
                                 "by --no-ssh");
            if (!f->command.empty())
                options.command = f->command;
            options.ssh_reachable = !f->no_ssh;
            options.destroy_existing = f->destroy_existing;
            options.timeouts = config.timeouts;
            options.conformance = f->conformance;

            // More instance sets of the same driver: what another process
            // would open (re-adoption), another InstanceSetID (filter),
            // the fault parameters (typed errors).
            auto open_set = [&context](const std::string &parameters,
                                       const std::string &instance_set_id) {
                InstanceSetOptions set_options = context.instance_set_options();
                set_options.config_json = parameters;
                set_options.instance_set_id = instance_set_id;
                return context.open_set(std::move(set_options));
            };
            options.open_set = [open_set, &config](const std::string &id) {
                return open_set(config.driver_parameters, id);
            };
            if (fault)
                options.fault =
                    CloudtestFault{[open_set, &config, parameters = fault->driver_parameters] {
                                       return open_set(parameters, config.instance_set_id);
                                   },
                                   fault->expect};
            options.interrupted = [] { return interrupting_signal() != 0; };

            // Progress as it goes in text mode (the steps are the output,
            // terminal or not); --json prints only the result.
            Progress progress(std::cout, !f->json, false);
            CloudtestCallbacks callbacks;
            callbacks.step_started = [&progress](const std::string &name) {
                progress.line("... " + name);
            };
            callbacks.step_finished = [&progress](const CloudtestStep &s) {
                progress.line((s.skipped ? "skip "
                               : s.ok    ? "ok   "
                                         : "FAIL ") +
                              s.name + " (" + format_seconds(s.seconds) + ")" +
                              (s.detail.empty() ? "" : ": " + s.detail));
                progress.line("     rule: " + s.rule);
                // The command's output always; other steps' on failure.
                if (s.name == "command" || !s.ok)
                    print_output(progress, "stdout", s.stdout_excerpt);
                if (!s.ok)
                    print_output(progress, "stderr", s.stderr_excerpt);
            };
            callbacks.progress = [&progress](const std::string &m) { progress.line("     " + m); };
            progress.line("cloudtest: driver " + config.driver + ", instance set " +
                          config.instance_set_id + ", type " + options.instance_type.name +
                          (f->conformance ? ", conformance" : "") + (f->no_ssh ? ", no SSH" : ""));
            CloudtestRunner runner = [&context](const Instance &inst, const std::string &secret,
                                                const std::string &command) {
                return context.run_on(inst, secret, command, {}, {});
            };
            InstanceSet &set = context.instance_set();
            CloudtestReport report;
            {
                InterruptionGuard guard;
                report = run_cloudtest(set, options, runner, callbacks);
            }
            if (!f->junit.empty()) {
                std::ofstream junit(f->junit, std::ios::binary | std::ios::trunc);
                junit << cloudtest_junit_xml(report, "cloudhost cloudtest " + config.driver);
                if (!junit.flush())
                    print_error_line("cannot write --junit " + terminal_text(f->junit));
            }
            if (f->json)
                std::cout << report_json(report) << "\n";
            else
                print_table(std::cout, report);
            if (report.interrupted)
                return 128 + interrupting_signal();
            return report.ok ? int(exit_ok) : int(exit_failed);
        }};
}

} // namespace cloudhost::cli
