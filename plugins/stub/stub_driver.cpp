// The stub driver's export: metadata and entry point (see driver_sdk.hpp).
#include "stub_instance_set.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <memory>

namespace cloudhost::stub {

std::unique_ptr<sdk::InstanceSet> make_stub_instance_set(const sdk::InstanceSetArgs &args) {
    return std::make_unique<StubInstanceSet>(args);
}

} // namespace cloudhost::stub

// The hot swap tests build these sources a second time with another stamp.
#ifndef CLOUDHOST_STUB_VERSION
#define CLOUDHOST_STUB_VERSION "1.0.0"
#endif

CLOUDHOST_DRIVER("stub", CLOUDHOST_STUB_VERSION,
                 "In-memory fake cloud with reproducible injected faults",
                 cloudhost::stub::make_stub_instance_set);
