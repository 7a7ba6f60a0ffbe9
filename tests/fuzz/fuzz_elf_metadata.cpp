// The ELF metadata reader on arbitrary bytes: it must only ever throw
// LoadError, reading strictly within the buffer (ASan checks the reads).
#include "cloudhost/errors.hpp"
#include "cloudhost/internal/elf_metadata.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        const auto elf = cloudhost::inspect_driver_elf(
            std::span(reinterpret_cast<const std::byte *>(data), size));
        (void)elf;
    } catch (const cloudhost::LoadError &) {
    }
    return 0;
}
