// cloudhost-driver-host: serves one driver instance set to the host over the
// socket it inherited as fd 3 (host/lib/isolation/protocol.hpp). Started
// by IsolatedEndpoint only; never sees the host's SSH key, agent or other
// sets' configs: everything it knows arrives in the OPEN message.
#include "sandbox.hpp"

#include "core/in_process_endpoint.hpp"
#include "isolation/endpoint_server.hpp"

#include "cloudhost/driver_library.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unistd.h>

namespace {

bool option(std::string_view arg, std::string_view name, std::string_view &value) {
    if (arg.substr(0, name.size()) != name)
        return false;
    value = arg.substr(name.size());
    return true;
}

template <class T> T number(std::string_view text, std::string_view name) {
    T v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        std::fprintf(stderr, "cloudhost-driver-host: %.*s: not a number\n",
                     static_cast<int>(name.size()), name.data());
        std::_Exit(2);
    }
    return v;
}

} // namespace

int main(int argc, char **argv) {
    cloudhost::helper::SandboxOptions sandbox;
    cloudhost::isolation::ServerOptions server;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        std::string_view v;
        if (option(arg, "--fd=", v))
            sandbox.channel_fd = number<int>(v, "--fd");
        else if (option(arg, "--library-fd=", v))
            sandbox.library_fd = number<int>(v, "--library-fd");
        else if (option(arg, "--parent=", v))
            sandbox.parent = number<pid_t>(v, "--parent");
        else if (option(arg, "--max-address-space=", v))
            sandbox.max_address_space = number<std::uint64_t>(v, "--max-address-space");
        else if (option(arg, "--max-open-files=", v))
            sandbox.max_open_files = number<std::uint64_t>(v, "--max-open-files");
        else if (option(arg, "--spin-us=", v))
            server.spin = std::chrono::microseconds(number<std::uint64_t>(v, "--spin-us"));
        else if (option(arg, "--user=", v))
            sandbox.user = v;
        else {
            std::fprintf(stderr,
                         "cloudhost-driver-host: unknown argument %s (started by the "
                         "cloudhost library only)\n",
                         argv[i]);
            return 2;
        }
    }
    try {
        cloudhost::helper::enter_sandbox(sandbox);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cloudhost-driver-host: sandbox: %s\n", e.what());
        return 2;
    }
    const std::string library_path = "/proc/self/fd/" + std::to_string(sandbox.library_fd);
    const auto opener = [&](const cloudhost::isolation::OpenRequest &request,
                            std::shared_ptr<spdlog::logger> logger) {
        // The same loader as in process, on the private copy the host
        // verified and handed over open (request.library_path names it).
        auto library = cloudhost::DriverLibrary::open(library_path, request.info);
        // The driver's metrics go to the helper's registry; the host pulls
        // them (METRICS) whenever its own registry is rendered.
        cloudhost::detail::EndpointArgs args{request.config_json, request.instance_set_id,
                                             request.shared_resource_tags, std::move(logger),
                                             request.metrics_registry};
        return cloudhost::detail::InProcessEndpoint::open(std::move(library), args);
    };
    const int code = cloudhost::isolation::serve(sandbox.channel_fd, opener, server);
    std::fflush(stderr);
    // Driver threads may still run: no static destructors under their feet.
    std::_Exit(code);
}
