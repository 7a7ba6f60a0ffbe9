// The bridge from a driver's structured log records (ch_logger) to spdlog.
#pragma once

#include "cloudhost/driver.h"

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace cloudhost {

class DriverLibrary;

// Owns a ch_logger that forwards driver records to an spdlog logger as
// `message key=value key=value driver=<name>` (values with spaces, quotes or
// '=' are quoted). `enabled` answers from the spdlog logger's current level,
// so a driver that checks it never formats a record that would be dropped.
//
// Destroying the DriverLogger closes the ch_logger: records that still
// arrive (a driver thread that logs after instance_set_free) are dropped and
// counted, with one warning naming the driver. The ch_logger itself stays
// valid for as long as `library` stays mapped (its context is kept by the
// library), so such a thread finds a closed logger, not freed memory.
class DriverLogger {
  public:
    // `logger` null: spdlog's default logger. `library` null: the ch_logger
    // lives only as long as this object.
    DriverLogger(std::shared_ptr<spdlog::logger> logger, std::string driver_name,
                 const std::shared_ptr<DriverLibrary> &library = nullptr);
    ~DriverLogger();
    DriverLogger(const DriverLogger &) = delete;
    DriverLogger &operator=(const DriverLogger &) = delete;

    const ch_logger *c_logger() const noexcept;
    spdlog::logger &logger() const noexcept;
    const std::string &driver_name() const noexcept;

  private:
    struct Context;
    std::shared_ptr<Context> context_;
};

// Appends ` key=value` to `out` in the bridge's format (logfmt quoting).
void append_log_field(std::string &out, std::string_view key, std::string_view value);

} // namespace cloudhost
