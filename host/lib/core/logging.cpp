#include "cloudhost/internal/logging.hpp"
#include "cloudhost/printable.hpp"

#include "cloudhost/driver_library.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <shared_mutex>

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

// Everything the driver's ch_logger reaches. Shared by the DriverLogger
// and, while its code stays mapped, the driver's library.
struct DriverLogger::Context {
    ch_logger c{};
    std::shared_ptr<spdlog::logger> logger;
    std::string driver_name;
    std::shared_ptr<DriverLibrary::Misbehaviour> misbehaviour; // null without a library
    std::shared_mutex mutex; // shared: a record; exclusive: closing
    bool open = true;
    std::atomic<bool> warned{false};

    static int enabled(void *ctx, int level) noexcept {
        auto *self = static_cast<Context *>(ctx);
        const std::shared_lock lock(self->mutex);
        return self->open && !process_exit_began() && self->logger->should_log(to_spdlog(level))
                   ? 1
                   : 0;
    }

    static void log(void *ctx, int level, ch_str message, const ch_log_field *fields,
                    std::size_t field_count) noexcept {
        auto *self = static_cast<Context *>(ctx);
        const std::shared_lock lock(self->mutex);
        if (!self->open || process_exit_began())
            return self->closed_record();
        const auto spd_level = to_spdlog(level);
        // Drivers are asked to check enabled() first; not all will.
        if (!self->logger->should_log(spd_level))
            return;
        try {
            // A driver's text reaches terminals and log files: no control bytes.
            std::string text = escape_text(view(message));
            for (std::size_t i = 0; fields && i < field_count; ++i)
                append_log_field(text, view(fields[i].key), view(fields[i].value));
            append_log_field(text, "driver", self->driver_name);
            self->logger->log(spd_level, std::string_view(text));
        } catch (...) {
            // Logging must never fail a driver call (nor unwind into it).
        }
    }

    void closed_record() noexcept {
        if (misbehaviour)
            misbehaviour->log_records_after_free.fetch_add(1);
        if (warned.exchange(true) || process_exit_began())
            return;
        try {
            logger->warn("driver logged after its instance set was freed; such records are "
                         "dropped (a driver must join its threads before instance_set_free "
                         "returns) driver={}",
                         driver_name);
        } catch (...) {
        }
    }
};

DriverLogger::DriverLogger(std::shared_ptr<spdlog::logger> logger, std::string driver_name,
                           const std::shared_ptr<DriverLibrary> &library)
    : context_(std::make_shared<Context>()) {
    context_->logger = logger ? std::move(logger) : spdlog::default_logger();
    context_->driver_name = std::move(driver_name);
    context_->c.struct_size = sizeof context_->c;
    context_->c.ctx = context_.get();
    context_->c.enabled = &Context::enabled;
    context_->c.log = &Context::log;
    if (library) {
        context_->misbehaviour = library->misbehaviour();
        library->keep_while_mapped(context_);
    }
}

DriverLogger::~DriverLogger() {
    const std::unique_lock lock(context_->mutex);
    context_->open = false;
}

const ch_logger *DriverLogger::c_logger() const noexcept {
    return &context_->c;
}

spdlog::logger &DriverLogger::logger() const noexcept {
    return *context_->logger;
}

const std::string &DriverLogger::driver_name() const noexcept {
    return context_->driver_name;
}

} // namespace cloudhost
