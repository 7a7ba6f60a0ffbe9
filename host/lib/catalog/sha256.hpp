// SHA-256 (OpenSSL EVP) as lowercase hex.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace cloudhost::detail {

std::string sha256_hex(std::span<const std::byte> bytes);

} // namespace cloudhost::detail
