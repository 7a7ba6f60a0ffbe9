#include "cloudhost/logging.hpp"
#include "cloudhost/printable.hpp"

#include <spdlog/spdlog.h>

namespace cloudhost {
namespace {

spdlog::level::level_enum to_spdlog(int level) noexcept {
    switch (level) {
    case CH_LOG_TRACE:
        return spdlog::level::trace;
    case CH_LOG_DEBUG:
        return spdlog::level::debug;
    case CH_LOG_INFO:
        return spdlog::level::info;
    case CH_LOG_WARN:
        return spdlog::level::warn;
    default:
        // Unknown levels from newer drivers: above ERROR is still an error.
        return level < CH_LOG_TRACE ? spdlog::level::trace : spdlog::level::err;
    }
}

bool needs_quotes(std::string_view value) noexcept {
    if (value.empty())
        return true;
    for (const unsigned char c : value)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return true;
    return false;
}

// logfmt quoting: '"' and '\\' with a backslash; control characters and
// malformed UTF-8 by the shared escape (cloudhost/printable.hpp).
void append_quoted(std::string &out, std::string_view value) {
    out += '"';
    for (std::size_t start = 0; start <= value.size();) {
        const std::size_t quote = value.find_first_of("\"\\", start);
        out += escape_text(value.substr(start, quote - start));
        if (quote == std::string_view::npos)
            break;
        out += '\\';
        out += value[quote];
        start = quote + 1;
    }
    out += '"';
}

std::string_view view(ch_str s) noexcept {
    return s.len && s.data ? std::string_view(s.data, s.len) : std::string_view();
}

} // namespace

void append_log_field(std::string &out, std::string_view key, std::string_view value) {
    out += ' ';
    out += key;
    out += '=';
    if (needs_quotes(value))
        append_quoted(out, value);
    else
        out += escape_text(value); // C1 controls, malformed UTF-8
}

DriverLogger::DriverLogger(std::shared_ptr<spdlog::logger> logger, std::string driver_name)
    : logger_(logger ? std::move(logger) : spdlog::default_logger()),
      driver_name_(std::move(driver_name)) {
    c_logger_.struct_size = sizeof c_logger_;
    c_logger_.ctx = this;
    c_logger_.enabled = &DriverLogger::enabled;
    c_logger_.log = &DriverLogger::log;
}

int DriverLogger::enabled(void *ctx, int level) noexcept {
    return static_cast<DriverLogger *>(ctx)->logger_->should_log(to_spdlog(level)) ? 1 : 0;
}

void DriverLogger::log(void *ctx, int level, ch_str message, const ch_log_field *fields,
                       std::size_t field_count) noexcept {
    auto *self = static_cast<DriverLogger *>(ctx);
    const auto spd_level = to_spdlog(level);
    // Drivers are asked to check enabled() first; not all will.
    if (!self->logger_->should_log(spd_level))
        return;
    try {
        // A driver's text reaches terminals and log files: no control bytes.
        std::string text = escape_text(view(message));
        for (std::size_t i = 0; fields && i < field_count; ++i)
            append_log_field(text, view(fields[i].key), view(fields[i].value));
        append_log_field(text, "driver", self->driver_name_);
        self->logger_->log(spd_level, std::string_view(text));
    } catch (...) {
        // Logging must never fail a driver call (nor unwind into it).
    }
}

} // namespace cloudhost
