// Translation between the C ABI's status + ch_error and the exceptions of
// cloudhost/errors.hpp, in both directions.
#pragma once

#include "cloudhost/driver.h"

#include <exception>
#include <string>
#include <string_view>

namespace cloudhost::detail {

// Text a driver wrote (an error message, an exception's what()), made safe
// to keep and print: cut at the first NUL and after CH_ERROR_MESSAGE_MAX
// bytes, control characters (C0, DEL) as \xNN.
std::string driver_text(std::string_view text);

// Throws the exception matching `status` with the fields of `error`.
// `operation` prefixes messages the host writes itself.
[[noreturn]] void throw_driver_error(ch_status status, const ch_error &error,
                                     std::string_view operation);

// Checks a driver call's result: returns on CH_OK, throws otherwise.
inline void check(ch_status status, const ch_error &error, std::string_view operation) {
    if (status != CH_OK)
        throw_driver_error(status, error, operation);
}

// Fills `error` from the exception in flight (call inside a catch block) and
// returns its status: the host side of the Lippincott idiom, for callbacks
// the driver calls into (the command runner).
ch_status error_from_current_exception(ch_error *error) noexcept;

} // namespace cloudhost::detail
