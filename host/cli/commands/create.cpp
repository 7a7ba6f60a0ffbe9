// cloudhost create --type T [--image I] [--tag K=V]... [--init-command CMD] [--json]
#include "../commands.hpp"
#include "../json_output.hpp"

#include <iostream>

namespace cloudhost::cli {
namespace {
struct CreateFlags {
    std::string type;
    std::string image;
    std::vector<std::string> tags;
    std::string init_command;
    bool json = false;
};
} // namespace

Command add_create_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("create", "Create one instance");
    auto f = std::make_shared<CreateFlags>();
    sub->add_option("--type", f->type, "Instance type name (default: the cheapest configured)");
    sub->add_option("--image", f->image, "Image id (default: the config's image_id)");
    sub->add_option("--tag", f->tags, "Tag K=V (repeatable)");
    sub->add_option("--init-command", f->init_command, "Shell command to run at boot");
    sub->add_flag("--json", f->json, "Print the instance as JSON");
    return {sub, [&context, f] {
                Tags tags = parse_tags(f->tags, "--tag");
                const Config &config = context.config();
                InstanceType type;
                try {
                    type = f->type.empty() ? config.cheapest_instance_type()
                                           : config.instance_type(f->type);
                } catch (const ConfigError &e) {
                    throw UsageError(std::string("--type: ") + e.what());
                }
                Instance instance = context.create_instance(type, f->image, tags, f->init_command);
                if (f->json) {
                    rapidjson::StringBuffer buffer;
                    JsonWriter w(buffer);
                    write_instance(w, instance);
                    std::cout << buffer.GetString() << "\n";
                } else {
                    std::cout << instance.id() << "\n";
                }
                return int(exit_ok);
            }};
}

} // namespace cloudhost::cli
