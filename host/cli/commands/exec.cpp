// cloudhost exec ID [--env K=V]... -- CMD...: run a command over SSH after
// verifying the instance. stdin is passed through; the exit status is the
// remote one.
#include "../commands.hpp"

#include <unistd.h>

#include <iostream>
#include <iterator>

namespace cloudhost::cli {
namespace {
struct ExecFlags {
    std::string id;
    std::vector<std::string> env;
    std::vector<std::string> command;
};

std::string read_stdin() {
    if (isatty(STDIN_FILENO))
        return {};
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
}
} // namespace

Command add_exec_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("exec", "Run a command on an instance over SSH");
    auto f = std::make_shared<ExecFlags>();
    sub->add_option("id", f->id, "Instance id")->required();
    // One value per flag: a greedy --env would swallow the instance id.
    sub->add_option("--env", f->env, "Environment variable K=V (repeatable)")
        ->allow_extra_args(false);
    sub->add_option("command", f->command, "Command and arguments (after --)")->required();
    return {sub, [&context, f] {
                Tags env = parse_environment(f->env, "--env");
                std::string command;
                for (const auto &word : f->command)
                    command += (command.empty() ? "" : " ") + word;
                Instance instance = context.find_instance(f->id);
                std::string input = read_stdin();
                CommandOutput out =
                    context.run_on(instance, context.secret_of(instance), command, env, input);
                std::cout << out.stdout_data << std::flush;
                std::cerr << out.stderr_data << std::flush;
                return out.exit_status;
            }};
}

} // namespace cloudhost::cli
