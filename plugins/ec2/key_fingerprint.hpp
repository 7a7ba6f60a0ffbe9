// AWS key pair fingerprints of an OpenSSH public key, the way EC2 computes
// them for imported keys, so a key imported by one process is found again by
// DescribeKeyPairs in the next.
#pragma once

#include <string>
#include <vector>

namespace cloudhost::ec2 {

struct KeyFingerprint {
    std::string key_type;                  // "ssh-ed25519", "ssh-rsa", ...
    std::string primary;                   // used in the key pair's name
    std::vector<std::string> lookup_forms; // every form EC2 may report
};

// `public_key` is one OpenSSH line ("ssh-ed25519 AAAA... comment"). RSA: MD5
// (primary) and SHA-1 of the DER SubjectPublicKeyInfo, colon-separated hex.
// Others: SHA-256 of the key blob in base64, with and without padding and
// the "SHA256:" prefix. Throws std::invalid_argument on a malformed key.
KeyFingerprint key_fingerprint(const std::string &public_key);

// "cloudhost-keypair-" + primary fingerprint.
std::string key_pair_name(const KeyFingerprint &fingerprint);

} // namespace cloudhost::ec2
