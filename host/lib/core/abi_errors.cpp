#include "abi_errors.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/printable.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

namespace cloudhost::detail {
namespace {

// The driver NUL-terminates within the array (rule 3); do not trust it.
std::string message_of(const ch_error &error, std::string_view operation) {
    const std::size_t len = strnlen(error.message, sizeof error.message);
    if (len == 0)
        return std::string(operation) + ": driver reported an error without a message";
    return driver_text(std::string_view(error.message, len));
}

CapacityError::Scope capacity_scope(uint32_t flags) {
    // Group-specific is the wider scope; it wins if a driver sets both.
    if (flags & CH_ERROR_FLAG_CAPACITY_QUOTA_GROUP)
        return CapacityError::Scope::quota_group;
    if (flags & CH_ERROR_FLAG_CAPACITY_INSTANCE_TYPE)
        return CapacityError::Scope::instance_type;
    return CapacityError::Scope::all_types;
}

void fill(ch_error *error, ch_status status, int64_t retry_ns, const char *message) noexcept {
    if (!error || !CH_HAS_MEMBER(error, ch_error, message))
        return;
    error->status = status;
    error->flags = 0;
    error->earliest_retry_unix_ns = retry_ns;
    std::strncpy(error->message, message, sizeof error->message - 1);
    error->message[sizeof error->message - 1] = '\0';
}

} // namespace

std::string driver_text(std::string_view text) {
    text = text.substr(0, std::min(text.find('\0'), std::size_t{CH_ERROR_MESSAGE_MAX}));
    return escape_text(text);
}

void throw_driver_error(ch_status status, const ch_error &error, std::string_view operation) {
    std::string message = message_of(error, operation);
    switch (status) {
    case CH_ERR_RATE_LIMIT: {
        const Clock::time_point retry{std::chrono::duration_cast<Clock::duration>(
            std::chrono::nanoseconds(error.earliest_retry_unix_ns))};
        throw RateLimitError(message, retry);
    }
    case CH_ERR_QUOTA:
        throw QuotaError(message);
    case CH_ERR_CAPACITY:
        throw CapacityError(message, capacity_scope(error.flags),
                            (error.flags & CH_ERROR_FLAG_QUOTA) != 0);
    case CH_ERR_NOT_IMPLEMENTED:
        throw NotImplementedError(message);
    case CH_ERR_INVALID_CONFIG:
        throw InvalidConfigError(message);
    case CH_ERR_GENERIC:
    case CH_ERR_ABI:
        throw DriverError(message, (error.flags & CH_ERROR_FLAG_QUOTA) != 0);
    case CH_OK:
        break;
    }
    throw DriverError(std::string(operation) + ": driver returned unknown status " +
                      std::to_string(static_cast<int>(status)) + ": " + message);
}

ch_status error_from_current_exception(ch_error *error) noexcept {
    try {
        throw;
    } catch (const RateLimitError &e) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            e.earliest_retry().time_since_epoch())
                            .count();
        fill(error, CH_ERR_RATE_LIMIT, ns, e.what());
        return CH_ERR_RATE_LIMIT;
    } catch (const NotImplementedError &e) {
        fill(error, CH_ERR_NOT_IMPLEMENTED, 0, e.what());
        return CH_ERR_NOT_IMPLEMENTED;
    } catch (const InvalidConfigError &e) {
        fill(error, CH_ERR_INVALID_CONFIG, 0, e.what());
        return CH_ERR_INVALID_CONFIG;
    } catch (const std::bad_alloc &) {
        fill(error, CH_ERR_GENERIC, 0, "out of memory");
    } catch (const std::exception &e) {
        fill(error, CH_ERR_GENERIC, 0, e.what());
    } catch (...) {
        fill(error, CH_ERR_GENERIC, 0, "unknown exception in host callback");
    }
    return CH_ERR_GENERIC;
}

} // namespace cloudhost::detail
