// Value types shared by the cloudhost C++ API (Arvados lib/cloud names).
#pragma once

#include "cloudhost/export.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace cloudhost {

using Tags = std::map<std::string, std::string>;
using Clock = std::chrono::system_clock;

// Arvados InstanceType (sdk/go/arvados/config.go). Sizes in bytes.
struct CLOUDHOST_API InstanceType {
    std::string name;          // configured name (tag InstanceType)
    std::string provider_type; // the cloud's type id; defaults to name
    uint32_t vcpus = 0;
    uint64_t ram = 0;
    uint64_t scratch = 0; // included_scratch + added_scratch
    uint64_t included_scratch = 0;
    uint64_t added_scratch = 0;
    double price = 0; // hourly; maximum bid when preemptible
    bool preemptible = false;
    std::string gpu_stack; // "cuda", "rocm" or empty
    std::string gpu_driver_version;
    std::string gpu_hardware_target;
    uint32_t gpu_device_count = 0;
    uint64_t gpu_vram = 0;
};

struct CLOUDHOST_API InstancePrice {
    Clock::time_point start_time;
    double price = 0;
    bool operator==(const InstancePrice &) const = default;
};

} // namespace cloudhost
