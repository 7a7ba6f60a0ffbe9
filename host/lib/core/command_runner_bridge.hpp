// Presents a C++ CommandRunner to the driver as a ch_command_runner. No
// exception crosses the ABI: failures of the runner become a ch_error.
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/instance.hpp"

namespace cloudhost::detail {

class CommandRunnerBridge {
  public:
    explicit CommandRunnerBridge(CommandRunner &runner) noexcept;
    const ch_command_runner *get() const noexcept { return &c_; }

  private:
    static ch_status run(void *ctx, ch_str command, ch_str stdin_data,
                         const ch_string_sink *stdout_sink, const ch_string_sink *stderr_sink,
                         int *exit_status, ch_error *error) noexcept;

    CommandRunner &runner_;
    ch_command_runner c_{};
};

} // namespace cloudhost::detail
