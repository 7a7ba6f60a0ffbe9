// GET /metrics over HTTP (cpp-httplib), for `cloudhost watch
// --metrics-listen` and dispatchers that want the same.
#include "cloudhost/metrics.hpp"
#include "cloudhost/tag_rules.hpp"

#include <httplib.h>

#include <charconv>
#include <thread>

namespace cloudhost {

struct MetricsServer::Impl {
    std::shared_ptr<MetricsRegistry> registry;
    httplib::Server server;
    int port = 0;
    std::thread thread;
};

MetricsServer::MetricsServer(std::shared_ptr<MetricsRegistry> registry, const std::string &host,
                             uint16_t port)
    : impl_(std::make_unique<Impl>()) {
    impl_->registry = registry ? registry : default_metrics_registry();
    // Scrapes are small GETs: refuse bodies, do not wait long on a slow peer.
    impl_->server.set_payload_max_length(4096);
    impl_->server.set_read_timeout(5, 0);
    impl_->server.set_write_timeout(5, 0);
    impl_->server.set_keep_alive_max_count(100);
    // httplib's default also sets SO_REUSEPORT, which would let a second
    // server share the port silently; a port in use must be an error.
    impl_->server.set_socket_options([](auto sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    MetricsRegistry *served = impl_->registry.get();
    impl_->server.Get("/metrics", [served](const httplib::Request &, httplib::Response &res) {
        res.set_content(served->render(), std::string(metrics_content_type).c_str());
    });
    const std::string where = host.find(':') != std::string::npos
                                  ? "[" + host + "]:" + std::to_string(port)
                                  : host + ":" + std::to_string(port);
    if (port == 0)
        impl_->port = impl_->server.bind_to_any_port(host);
    else
        impl_->port = impl_->server.bind_to_port(host, port) ? port : -1;
    if (impl_->port <= 0)
        throw std::runtime_error("metrics: cannot listen on " + where +
                                 " (address in use, or not an address of this host)");
    impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
    impl_->server.stop();
    if (impl_->thread.joinable())
        impl_->thread.join();
}

uint16_t MetricsServer::port() const noexcept {
    return static_cast<uint16_t>(impl_->port);
}

ListenAddress parse_listen_address(std::string_view text) {
    const std::string shown = printable(text);
    ListenAddress out;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw std::invalid_argument("\"" + shown + "\": expected [IPV6]:PORT");
        out.host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            out.host = "127.0.0.1"; // a bare PORT: loopback only
            port_text = text;
        } else {
            out.host = std::string(text.substr(0, colon));
            port_text = text.substr(colon + 1);
        }
        if (out.host.find(':') != std::string::npos)
            throw std::invalid_argument("\"" + shown + "\": write an IPv6 address as [ADDR]:PORT");
    }
    if (out.host.empty())
        throw std::invalid_argument("\"" + shown + "\": the host is empty");
    unsigned value = 0;
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
        value > 65535)
        throw std::invalid_argument("\"" + shown +
                                    "\": expected PORT or HOST:PORT, the port a number 0-65535");
    out.port = static_cast<uint16_t>(value);
    return out;
}

} // namespace cloudhost
