// Delivering hot swap events: to the log, then to the caller's callback.
#pragma once

#include "cloudhost/hot_swap.hpp"

#include <functional>

namespace spdlog {
class logger;
}

namespace cloudhost::detail {

// Never throws: a throwing callback is logged.
void deliver(spdlog::logger &logger, const std::function<void(const SwapEvent &)> &callback,
             const SwapEvent &event);

} // namespace cloudhost::detail
