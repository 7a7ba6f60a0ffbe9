// SHA-256 (OpenSSL EVP).
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace cloudhost::detail {

// The 32 raw digest bytes.
std::string sha256_raw(std::span<const std::byte> bytes);
// Lowercase hex.
std::string sha256_hex(std::span<const std::byte> bytes);

} // namespace cloudhost::detail
