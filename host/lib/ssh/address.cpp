#include "cloudhost/ssh_executor.hpp"

namespace cloudhost {

HostPort parse_address(std::string_view address, std::string_view default_port) {
    if (address.empty()) {
        throw NoAddressError();
    }
    const std::string fallback_port(default_port);
    if (address.front() == '[') {
        // "[v6]:port" or "[v6]"
        size_t close = address.find(']');
        if (close != std::string_view::npos) {
            std::string host(address.substr(1, close - 1));
            std::string_view rest = address.substr(close + 1);
            if (rest.size() > 1 && rest.front() == ':') {
                return {host, std::string(rest.substr(1))};
            }
            if (rest.empty() || rest == ":") {
                return {host, fallback_port};
            }
        }
        return {std::string(address), fallback_port};
    }
    size_t colon = address.find(':');
    if (colon == std::string_view::npos || address.find(':', colon + 1) != std::string_view::npos) {
        // No port, or a bare IPv6 address: the whole string is the host.
        return {std::string(address), fallback_port};
    }
    std::string_view port = address.substr(colon + 1);
    return {std::string(address.substr(0, colon)),
            port.empty() ? fallback_port : std::string(port)};
}

} // namespace cloudhost
