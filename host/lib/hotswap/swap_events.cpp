#include "swap_events.hpp"

#include <spdlog/spdlog.h>

namespace cloudhost {

const char *swap_event_name(SwapEventKind kind) noexcept {
    switch (kind) {
    case SwapEventKind::found:
        return "found";
    case SwapEventKind::rejected:
        return "rejected";
    case SwapEventKind::loaded:
        return "loaded";
    case SwapEventKind::load_failed:
        return "load_failed";
    case SwapEventKind::health_check_failed:
        return "health_check_failed";
    case SwapEventKind::swapped:
        return "swapped";
    case SwapEventKind::kept:
        return "kept";
    case SwapEventKind::unloaded:
        return "unloaded";
    case SwapEventKind::unload_failed:
        return "unload_failed";
    case SwapEventKind::reloaded:
        return "reloaded";
    case SwapEventKind::reload_failed:
        return "reload_failed";
    case SwapEventKind::driver_crashed:
        return "driver_crashed";
    case SwapEventKind::driver_restarted:
        return "driver_restarted";
    case SwapEventKind::driver_down:
        return "driver_down";
    }
    return "unknown";
}

namespace detail {

namespace {

bool is_warning(SwapEventKind kind) {
    switch (kind) {
    case SwapEventKind::rejected:
    case SwapEventKind::load_failed:
    case SwapEventKind::health_check_failed:
    case SwapEventKind::kept:
    case SwapEventKind::unload_failed:
    case SwapEventKind::reload_failed:
    case SwapEventKind::driver_crashed:
    case SwapEventKind::driver_down:
        return true;
    default:
        return false;
    }
}

} // namespace

void deliver(spdlog::logger &logger, const std::function<void(const SwapEvent &)> &callback,
             const SwapEvent &event) {
    logger.log(is_warning(event.kind) ? spdlog::level::warn : spdlog::level::info,
               "hot swap: {} driver={} version={}{}{}{}", swap_event_name(event.kind), event.driver,
               event.version,
               event.from_version.empty() ? "" : " from_version=" + event.from_version,
               event.file.empty() ? "" : " file=" + event.file.string(),
               event.reason.empty() ? "" : " reason=\"" + event.reason + "\"");
    if (!callback)
        return;
    try {
        callback(event);
    } catch (const std::exception &e) {
        logger.error("hot swap: event callback threw: {}", e.what());
    } catch (...) {
        logger.error("hot swap: event callback threw");
    }
}

} // namespace detail
} // namespace cloudhost
