// cloudhost destroy ID... [--wait]
#include "../commands.hpp"
#include "../error_line.hpp"
#include "../progress.hpp"

#include "cloudhost/printable.hpp"

#include <iostream>
#include <set>

namespace cloudhost::cli {
namespace {

// Lists the instance set until none of `ids` is in it or the destroy timeout
// passes; false (with a message) if some are still listed.
bool wait_until_gone(CliContext &context, std::set<std::string> ids) {
    const Config &config = context.config();
    Progress progress = Progress::on_terminal(false);
    const std::size_t total = ids.size();
    const WaitResult gone = wait_with_progress(
        progress, "waiting for the instances to go", config.timeouts.destroy,
        config.timeouts.sync_interval, [&](std::string &detail) {
            std::set<std::string> listed;
            try {
                for (const auto &inst :
                     context.instance_set().instances(context.instance_set_filter()))
                    if (ids.count(inst.id()))
                        listed.insert(inst.id());
            } catch (const std::exception &e) {
                detail = std::string("listing failed: ") + e.what();
                return false;
            }
            ids = std::move(listed);
            detail = std::to_string(total - ids.size()) + " of " + std::to_string(total) + " gone" +
                     (ids.empty() ? "" : ", still listed: " + terminal_text(*ids.begin()));
            return ids.empty();
        });
    if (gone.done) {
        progress.line(std::to_string(total) + " instance(s) gone after " +
                      format_seconds(gone.seconds));
        return true;
    }
    progress.end_status(); // the last status stays above the error
    print_error_line(
        "destroy: still listed after timeouts.destroy (" +
        format_seconds(std::chrono::duration<double>(config.timeouts.destroy).count()) +
        "): " + terminal_text(gone.last_detail));
    return false;
}

} // namespace

Command add_destroy_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("destroy", "Destroy instances");
    sub->footer("Returns once the driver has accepted every destroy. --wait then lists the\n"
                "instance set every timeouts.sync_interval until they are gone (exit status 1\n"
                "if some are still listed after timeouts.destroy). Progress shows on stderr\n"
                "when it is a terminal.");
    auto ids = std::make_shared<std::vector<std::string>>();
    auto wait = std::make_shared<bool>(false);
    sub->add_option("ids", *ids, "Instance ids")->required();
    sub->add_flag("--wait", *wait, "Wait until the instances are no longer listed");
    return {sub, [&context, ids, wait] {
                // Resolve every id first: an unknown one destroys nothing.
                std::vector<Instance> instances;
                for (const auto &id : *ids)
                    instances.push_back(context.find_instance(id));
                int status = exit_ok;
                std::set<std::string> destroyed;
                for (auto &inst : instances) {
                    try {
                        inst.destroy();
                        destroyed.insert(inst.id());
                    } catch (const std::exception &e) {
                        print_error_line("destroy " + terminal_text(inst.id()) + ": " +
                                         terminal_text(e.what()));
                        status = exit_failed;
                    }
                }
                if (*wait && !destroyed.empty() && !wait_until_gone(context, destroyed))
                    status = exit_failed;
                return status;
            }};
}

} // namespace cloudhost::cli
