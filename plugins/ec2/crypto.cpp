#include "crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace cloudhost::ec2 {
namespace {

std::string digest(const EVP_MD *md, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1)
        throw std::runtime_error("ec2: OpenSSL digest failed");
    return {reinterpret_cast<const char *>(out), len};
}

} // namespace

std::string sha256(std::string_view data) {
    return digest(EVP_sha256(), data);
}
std::string md5(std::string_view data) {
    return digest(EVP_md5(), data);
}
std::string sha1(std::string_view data) {
    return digest(EVP_sha1(), data);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char *>(data.data()), data.size(), out, &len))
        throw std::runtime_error("ec2: OpenSSL HMAC failed");
    return {reinterpret_cast<const char *>(out), len};
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string hex_with_colons(std::string_view bytes) {
    std::string out;
    const std::string plain = hex(bytes);
    for (std::size_t i = 0; i < plain.size(); i += 2) {
        if (i)
            out += ':';
        out.append(plain, i, 2);
    }
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                                    reinterpret_cast<const unsigned char *>(bytes.data()),
                                    static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

std::string base64_decode(std::string_view text) {
    if (text.size() % 4 != 0)
        throw std::invalid_argument("base64 length is not a multiple of 4");
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool alnum =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        const bool pad =
            c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text[i + 1] == '=');
        if (!alnum && c != '+' && c != '/' && !pad)
            throw std::invalid_argument("invalid base64 character");
    }
    std::string out(3 * text.size() / 4, '\0');
    const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                                    reinterpret_cast<const unsigned char *>(text.data()),
                                    static_cast<int>(text.size()));
    if (len < 0)
        throw std::invalid_argument("invalid base64");
    // EVP_DecodeBlock counts padding bytes as data: drop them.
    std::size_t size = static_cast<std::size_t>(len);
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i)
        --size;
    out.resize(size);
    return out;
}

} // namespace cloudhost::ec2
