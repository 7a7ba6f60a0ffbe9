// One driver InstanceSet as the host holds it: the library it lives in and
// the endpoint serving the driver's set (driver_endpoint.hpp).
// InstanceSetCore holds the current Binding through a swappable shared_ptr
// and every call works on a snapshot, so a later hot swap can bind the set
// to a new driver version while calls in flight finish on the old one. Each
// instance handle the binding handed out keeps it alive (BoundInstance), so
// the driver's set is freed only after its last instance handle is released
// or re-bound, and the library unloaded after that (members are destroyed in
// reverse order: the endpoint before the library).
#pragma once

#include "driver_endpoint.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/types.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <utility>

namespace cloudhost::detail {

using BindingArgs = EndpointArgs;

class Binding {
  public:
    // Opens the driver's set through `factory` (null: in this process,
    // InProcessEndpoint::open); throws the mapped DriverError.
    static std::shared_ptr<Binding> open(std::shared_ptr<DriverLibrary> library,
                                         const BindingArgs &args,
                                         const EndpointFactory &factory = nullptr);
    Binding(std::shared_ptr<DriverLibrary> library,
            std::unique_ptr<DriverEndpoint> endpoint) noexcept;
    ~Binding();
    Binding(const Binding &) = delete;
    Binding &operator=(const Binding &) = delete;

    DriverEndpoint &endpoint() const noexcept { return *endpoint_; }
    const DriverLibrary &library() const noexcept { return *library_; }
    const std::shared_ptr<DriverLibrary> &shared_library() const noexcept { return library_; }

    // instance_set_stop, at most once per binding.
    void stop() noexcept;
    bool stopped() const noexcept { return stopped_.load(); }

    // Driver calls running on this binding right now (see BindingUse): a hot
    // swap stops the old binding only once they have finished.
    long in_flight() const noexcept { return in_flight_.load(); }

  private:
    std::shared_ptr<DriverLibrary> library_; // first member: destroyed last
    std::unique_ptr<DriverEndpoint> endpoint_;
    std::atomic<bool> stopped_{false};
    std::atomic<long> in_flight_{0};

    friend class InFlightCall;
};

// Counts one driver call in a binding's in_flight() while it exists. The
// caller keeps the binding alive for at least as long (see BindingUse).
class InFlightCall {
  public:
    explicit InFlightCall(Binding &binding) noexcept : binding_(&binding) {
        binding_->in_flight_.fetch_add(1);
    }
    ~InFlightCall() {
        if (binding_)
            binding_->in_flight_.fetch_sub(1);
    }
    InFlightCall(InFlightCall &&other) noexcept
        : binding_(std::exchange(other.binding_, nullptr)) {}
    InFlightCall &operator=(InFlightCall &&) = delete;
    InFlightCall(const InFlightCall &) = delete;
    InFlightCall &operator=(const InFlightCall &) = delete;

  private:
    Binding *binding_;
};

// One driver call's hold on a binding: keeps it alive and counted in
// in_flight() for the duration of the call.
class BindingUse {
  public:
    explicit BindingUse(std::shared_ptr<Binding> binding) noexcept
        : binding_(std::move(binding)), call_(*binding_) {}
    BindingUse(BindingUse &&other) noexcept = default;
    BindingUse &operator=(BindingUse &&) = delete;
    BindingUse(const BindingUse &) = delete;
    BindingUse &operator=(const BindingUse &) = delete;

    Binding *operator->() const noexcept { return binding_.get(); }
    Binding &operator*() const noexcept { return *binding_; }
    const std::shared_ptr<Binding> &get() const noexcept { return binding_; }

  private:
    std::shared_ptr<Binding> binding_; // declared first: outlives the count
    InFlightCall call_;
};

} // namespace cloudhost::detail
