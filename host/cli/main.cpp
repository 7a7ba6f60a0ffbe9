// cloudhost — the command line: inspect drivers, manage instances, run
// commands on them over SSH, and validate a driver with cloudtest.
//
// Exit status: 0 success, 1 the operation failed, 2 bad usage or bad input.
#include "cli_context.hpp"
#include "commands.hpp"
#include "error_line.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/errors.hpp"
#include "cloudhost/printable.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

using namespace cloudhost;
using namespace cloudhost::cli;

int main(int argc, char **argv) {
    CLI::App app{"cloudhost: a host for cloud VM drivers shipped as shared objects", "cloudhost"};
    app.set_version_flag("--version", std::string("cloudhost ") + CLOUDHOST_VERSION +
                                          " (driver ABI " + std::to_string(CH_ABI_VERSION_MIN) +
                                          ".." + std::to_string(CH_ABI_VERSION_CURRENT) + ")");
    app.require_subcommand(1);
    app.fallthrough(); // global options may also follow the command
    GlobalOptions options;
    app.add_option("--config", options.config_file, "JSON config file (default: embedded)");
    app.add_option("--driver-dir", options.driver_dirs,
                   "Driver directory to scan (repeatable; overrides CLOUDHOST_DRIVER_PATH)");
    app.add_option("--log-level", options.log_level, "trace, debug, info, warn, error, off");
    app.add_option("--log-format", options.log_format, "text or json");

    // The context reads `options` lazily, once parsing has filled them.
    CliContext context(options);
    const Command commands[] = {
        add_drivers_command(app, context),   add_create_command(app, context),
        add_list_command(app, context),      add_tag_command(app, context),
        add_destroy_command(app, context),   add_exec_command(app, context),
        add_cloudtest_command(app, context), add_watch_command(app, context),
        add_verify_command(app, context),
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        if (e.get_exit_code() == 0)
            return app.exit(e); // --help or --version
        // One line, like every other error (CLI11 adds a second one).
        print_error_line(std::string(e.what()) + " (see --help)");
        return exit_usage;
    }
    try {
        context.init_logging();
        for (const auto &command : commands)
            if (command.subcommand->parsed())
                return command.run();
        return exit_usage;
    } catch (const UsageError &e) {
        print_error_line(terminal_text(e.what()));
        return exit_usage;
    } catch (const InvalidConfigError &e) {
        print_error_line(terminal_text(e.what()));
        return exit_usage;
    } catch (const std::exception &e) {
        // Driver error messages end up here: escaped like all driver text.
        print_error_line(terminal_text(e.what()));
        return exit_failed;
    }
}
