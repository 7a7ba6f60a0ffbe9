// K=V parsing of --tag/--env/tag items: one item per input line; tags or a
// UsageError, nothing else.
#include "key_value.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);
    std::vector<std::string> items;
    for (size_t start = 0; start <= text.size();) {
        const size_t end = std::min(text.find('\n', start), text.size());
        items.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    try {
        const auto tags = cloudhost::cli::parse_tags(items, "--tag");
        for (const auto &[key, value] : tags)
            if (key.empty() || key.find('=') != std::string::npos)
                __builtin_trap(); // keys are non-empty and stop at the first '='
    } catch (const cloudhost::cli::UsageError &) {
    }
    return 0;
}
