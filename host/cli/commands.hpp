// One function per subcommand: it declares the subcommand and its flags on
// `app` and returns the function that runs it (after parsing), which
// returns the exit status.
#pragma once

#include "cli_context.hpp"
#include "key_value.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace cloudhost::cli {

struct Command {
    CLI::App *subcommand;
    std::function<int()> run;
};

Command add_drivers_command(CLI::App &app, CliContext &context);
Command add_create_command(CLI::App &app, CliContext &context);
Command add_list_command(CLI::App &app, CliContext &context);
Command add_tag_command(CLI::App &app, CliContext &context);
Command add_destroy_command(CLI::App &app, CliContext &context);
Command add_exec_command(CLI::App &app, CliContext &context);
Command add_cloudtest_command(CLI::App &app, CliContext &context);
Command add_watch_command(CLI::App &app, CliContext &context);
Command add_verify_command(CLI::App &app, CliContext &context);

} // namespace cloudhost::cli
