#include "binding.hpp"

#include "in_process_endpoint.hpp"

#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

Binding::Binding(std::shared_ptr<DriverLibrary> library,
                 std::unique_ptr<DriverEndpoint> endpoint) noexcept
    : library_(std::move(library)), endpoint_(std::move(endpoint)) {}

std::shared_ptr<Binding> Binding::open(std::shared_ptr<DriverLibrary> library,
                                       const BindingArgs &args, const EndpointFactory &factory) {
    auto endpoint = factory ? factory(library, args) : InProcessEndpoint::open(library, args);
    if (!endpoint)
        throw DriverError("instance_set_new: the endpoint factory returned nothing");
    return std::make_shared<Binding>(std::move(library), std::move(endpoint));
}

void Binding::stop() noexcept {
    if (!stopped_.exchange(true))
        endpoint_->stop();
}

Binding::~Binding() {
    stop(); // then the endpoint's destructor frees the driver's set
}

} // namespace cloudhost::detail
