// Digests, HMAC and base64 on OpenSSL's libcrypto, for request signing, key
// pair fingerprints and UserData.
#pragma once

#include <string>
#include <string_view>

namespace cloudhost::ec2 {

std::string sha256(std::string_view data);                            // raw 32 bytes
std::string hmac_sha256(std::string_view key, std::string_view data); // raw 32 bytes
std::string md5(std::string_view data);                               // raw 16 bytes
std::string sha1(std::string_view data);                              // raw 20 bytes

std::string hex(std::string_view bytes);             // lowercase
std::string hex_with_colons(std::string_view bytes); // "ab:cd:..." (AWS RSA fingerprints)
std::string base64_encode(std::string_view bytes);   // with padding, no newlines
// Throws std::invalid_argument on anything but canonical padded base64.
std::string base64_decode(std::string_view text);

} // namespace cloudhost::ec2
