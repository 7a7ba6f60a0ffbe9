// The config parser on arbitrary text: a Config or a ConfigError, nothing
// else (no crash, no other exception, no leak).
#include "cloudhost/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        const auto config = cloudhost::parse_config(
            std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.json");
        (void)config;
    } catch (const cloudhost::ConfigError &) {
    }
    return 0;
}
