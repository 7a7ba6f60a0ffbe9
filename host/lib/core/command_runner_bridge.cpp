#include "command_runner_bridge.hpp"

#include "abi_convert.hpp"
#include "abi_errors.hpp"

namespace cloudhost::detail {

CommandRunnerBridge::CommandRunnerBridge(CommandRunner &runner) noexcept : runner_(runner) {
    c_.struct_size = sizeof c_;
    c_.ctx = this;
    c_.run = &CommandRunnerBridge::run;
}

ch_status CommandRunnerBridge::run(void *ctx, ch_str command, ch_str stdin_data,
                                   const ch_string_sink *stdout_sink,
                                   const ch_string_sink *stderr_sink, int *exit_status,
                                   ch_error *error) noexcept {
    auto *self = static_cast<CommandRunnerBridge *>(ctx);
    try {
        const CommandOutput output = self->runner_.run(to_view(command), to_view(stdin_data));
        if (stdout_sink && stdout_sink->put)
            stdout_sink->put(stdout_sink->ctx, to_ch_str(output.stdout_data));
        if (stderr_sink && stderr_sink->put)
            stderr_sink->put(stderr_sink->ctx, to_ch_str(output.stderr_data));
        if (exit_status)
            *exit_status = output.exit_status;
        return CH_OK;
    } catch (...) {
        return error_from_current_exception(error);
    }
}

} // namespace cloudhost::detail
