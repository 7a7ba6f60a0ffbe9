// The loopback driver's export: the local machine as a cloud.
#include "loopback_instance_set.hpp"

#include <cloudhost/driver_sdk.hpp>

namespace {

std::unique_ptr<cloudhost::sdk::InstanceSet>
make_loopback_instance_set(const cloudhost::sdk::InstanceSetArgs &args) {
    return std::make_unique<cloudhost::loopback::LoopbackInstanceSet>(args);
}

} // namespace

CLOUDHOST_DRIVER("loopback", "1.0.0",
                 "The local machine as a cloud: each instance an SSH server on 127.0.0.1",
                 make_loopback_instance_set);
