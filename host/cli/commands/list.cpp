// cloudhost list [--tag K=V]... [--json]: the instances of this InstanceSetID.
#include "../commands.hpp"
#include "../json_output.hpp"

#include "cloudhost/printable.hpp"

#include <iomanip>
#include <iostream>

namespace cloudhost::cli {
namespace {
struct ListFlags {
    std::vector<std::string> tags;
    bool json = false;
    bool show_secrets = false;
};
} // namespace

Command add_list_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("list", "List the instances of this instance set");
    auto f = std::make_shared<ListFlags>();
    sub->add_option("--tag", f->tags, "Only instances with tag K=V (repeatable)");
    sub->add_flag("--json", f->json, "Print {\"instances\":[...]}");
    sub->add_flag("--show-secrets", f->show_secrets,
                  "Print secret tags (the InstanceSecret, keys naming a secret) in clear");
    return {sub, [&context, f] {
                Tags filter = parse_tags(f->tags, "--tag");
                for (const auto &[k, v] : context.instance_set_filter())
                    filter[k] = v;
                auto instances = context.instance_set().instances(filter);
                if (f->json) {
                    rapidjson::StringBuffer buffer;
                    JsonWriter w(buffer);
                    w.StartObject();
                    w.Key("instances");
                    w.StartArray();
                    for (const auto &inst : instances)
                        write_instance(w, inst, context.secret_tags(f->show_secrets));
                    w.EndArray();
                    w.EndObject();
                    std::cout << buffer.GetString() << "\n";
                    return int(exit_ok);
                }
                std::cout << std::left << std::setw(28) << "ID" << std::setw(14) << "TYPE"
                          << std::setw(24) << "ADDRESS"
                          << "USER\n";
                for (const auto &inst : instances) {
                    // Driver text: escaped, so it cannot drive the terminal.
                    std::string address = inst.address();
                    std::cout << std::setw(28) << terminal_text(inst.id()) << std::setw(14)
                              << terminal_text(inst.provider_type()) << std::setw(24)
                              << (address.empty() ? "-" : terminal_text(address))
                              << terminal_text(inst.remote_user()) << "\n";
                }
                return int(exit_ok);
            }};
}

} // namespace cloudhost::cli
