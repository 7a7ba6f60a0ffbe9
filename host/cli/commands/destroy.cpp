// cloudhost destroy ID...
#include "../commands.hpp"

#include <iostream>

namespace cloudhost::cli {

Command add_destroy_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("destroy", "Destroy instances");
    auto ids = std::make_shared<std::vector<std::string>>();
    sub->add_option("ids", *ids, "Instance ids")->required();
    return {sub, [&context, ids] {
                // Resolve every id first: an unknown one destroys nothing.
                std::vector<Instance> instances;
                for (const auto &id : *ids)
                    instances.push_back(context.find_instance(id));
                int status = exit_ok;
                for (auto &inst : instances) {
                    try {
                        inst.destroy();
                    } catch (const std::exception &e) {
                        std::cerr << "cloudhost: destroy " << inst.id() << ": " << e.what() << "\n";
                        status = exit_failed;
                    }
                }
                return status;
            }};
}

} // namespace cloudhost::cli
