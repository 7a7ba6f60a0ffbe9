// The stub driver's export: metadata and entry point (see driver_sdk.hpp).
#include "stub_instance_set.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <memory>

namespace cloudhost::stub {

std::unique_ptr<sdk::InstanceSet> make_stub_instance_set(const sdk::InstanceSetArgs &args) {
    return std::make_unique<StubInstanceSet>(args);
}

} // namespace cloudhost::stub

CLOUDHOST_DRIVER("stub", "1.0.0", "In-memory fake cloud with reproducible injected faults",
                 cloudhost::stub::make_stub_instance_set);
