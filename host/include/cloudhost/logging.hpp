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

// Owns a ch_logger that forwards driver records to an spdlog logger as
// `message key=value key=value driver=<name>` (values with spaces, quotes or
// '=' are quoted). `enabled` answers from the spdlog logger's current level,
// so a driver that checks it never formats a record that would be dropped.
// The object must outlive every driver call that may log through it (for an
// InstanceSet: until instance_set_free returns); its address must not change.
class DriverLogger {
  public:
    // `logger` null: spdlog's default logger.
    DriverLogger(std::shared_ptr<spdlog::logger> logger, std::string driver_name);
    DriverLogger(const DriverLogger &) = delete;
    DriverLogger &operator=(const DriverLogger &) = delete;

    const ch_logger *c_logger() const noexcept { return &c_logger_; }
    spdlog::logger &logger() const noexcept { return *logger_; }
    const std::string &driver_name() const noexcept { return driver_name_; }

  private:
    static int enabled(void *ctx, int level) noexcept;
    static void log(void *ctx, int level, ch_str message, const ch_log_field *fields,
                    std::size_t field_count) noexcept;

    std::shared_ptr<spdlog::logger> logger_;
    std::string driver_name_;
    ch_logger c_logger_;
};

// Appends ` key=value` to `out` in the bridge's format (logfmt quoting).
void append_log_field(std::string &out, std::string_view key, std::string_view value);

} // namespace cloudhost
