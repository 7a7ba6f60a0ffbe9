#include "sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace cloudhost::detail {

std::string sha256_raw(std::span<const std::byte> bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 computation failed (OpenSSL EVP_Digest)");
    return std::string(reinterpret_cast<const char *>(digest), length);
}

std::string sha256_hex(std::span<const std::byte> bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : sha256_raw(bytes)) {
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
    return out;
}

} // namespace cloudhost::detail
