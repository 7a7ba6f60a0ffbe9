// The loopback driver's export: the local machine as a cloud.
#include "loopback_instance_set.hpp"

#include <cloudhost/driver_sdk.hpp>

namespace {

std::unique_ptr<cloudhost::sdk::InstanceSet>
make_loopback_instance_set(const cloudhost::sdk::InstanceSetArgs &args) {
    return std::make_unique<cloudhost::loopback::LoopbackInstanceSet>(args);
}

} // namespace

// The hot swap tests build these sources a second time with another stamp.
#ifndef CLOUDHOST_LOOPBACK_VERSION
#define CLOUDHOST_LOOPBACK_VERSION "1.0.0"
#endif

CLOUDHOST_DRIVER("loopback", CLOUDHOST_LOOPBACK_VERSION,
                 "The local machine as a cloud: each instance an SSH server on 127.0.0.1",
                 make_loopback_instance_set);
