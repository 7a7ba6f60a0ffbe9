// cloudhost drivers [--json]: judge every file in the driver directories.
#include "../commands.hpp"

#include "cloudhost/internal/drivers_report.hpp"

#include <iostream>

namespace cloudhost::cli {

Command add_drivers_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("drivers", "Scan the driver directories and judge each file");
    auto json = std::make_shared<bool>(false);
    sub->add_flag("--json", *json, "Print {\"drivers\":[...]} instead of a table");
    return {sub, [&context, json] {
                // Judging files never fails the command: each verdict says why.
                auto files = context.catalog().scan();
                // Where each file's code would run under the config's
                // "isolation".
                const IsolationMode isolation = context.config().isolation.mode;
                if (*json)
                    write_drivers_json(std::cout, files, isolation);
                else
                    write_drivers_table(std::cout, files, isolation);
                std::cout.flush();
                return int(exit_ok);
            }};
}

} // namespace cloudhost::cli
