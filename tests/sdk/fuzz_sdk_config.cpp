// The SDK's config helper (cloudhost/driver_sdk_config.hpp) on arbitrary
// text: a parsed struct or an InvalidConfigError, nothing else (no crash, no
// stack overflow on deep nesting, no other exception, no leak).
#include "sample_schema.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        const auto config = cloudhost::test::sample_schema().parse(
            std::string_view(reinterpret_cast<const char *>(data), size));
        (void)config;
    } catch (const cloudhost::sdk::InvalidConfigError &) {
    }
    return 0;
}
