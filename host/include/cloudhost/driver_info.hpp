// What a driver file says about itself, read from its ELF metadata.
#pragma once

#include "cloudhost/export.hpp"

#include <cstdint>
#include <string>

namespace cloudhost {

struct CLOUDHOST_API DriverInfo {
    std::string name;    // [a-z0-9_-]+
    std::string version; // semantic version "MAJOR.MINOR.PATCH"
    std::string description;
    uint32_t abi_min = 0; // ABI versions the driver serves
    uint32_t abi_max = 0;
};

} // namespace cloudhost
