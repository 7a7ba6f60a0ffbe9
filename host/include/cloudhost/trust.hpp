// Which driver files cloudhost trusts: the permission policy (who may write
// them) and the trust policy (which contents are allowed).
//
// Signatures are OpenSSH signatures (`ssh-keygen -Y sign`, PROTOCOL.sshsig)
// made with ed25519 keys in the namespace "cloudhost-driver", stored next to
// the driver as FILE.sig. A vendor signs with
//   ssh-keygen -Y sign -f vendor_key -n cloudhost-driver driver.so
// and an operator can check without cloudhost with
//   ssh-keygen -Y verify -f allowed_signers -I vendor -n cloudhost-driver
//       -s driver.so.sig < driver.so       (one command line)
#pragma once

#include "cloudhost/export.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {

// The namespace every driver signature is made in; a signature made for
// another purpose (git commits, files) does not verify as a driver's.
inline constexpr std::string_view driver_signature_namespace = "cloudhost-driver";

// An OpenSSH ed25519 public key, as in authorized_keys or *.pub files.
struct CLOUDHOST_API TrustedKey {
    std::string blob;    // decoded wire form: string "ssh-ed25519", string key
    std::string comment; // may be empty

    // "ssh-ed25519 AAAAC3Nza... comment". Throws std::invalid_argument with
    // the reason ("only ssh-ed25519 keys are accepted, not ssh-rsa").
    static TrustedKey parse(std::string_view line);
    // "SHA256:<base64>" as `ssh-keygen -l` prints it.
    std::string fingerprint() const;
};

enum class TrustMode {
    allow_all, // any file that passes the permission policy
    digest,    // only files whose SHA-256 is listed
    signature, // only files with a valid FILE.sig by one of the keys
};

enum class PermissionMode {
    strict, // owner and write-permission checks on the file and its path
    off,    // no checks (development trees with a group-writable umask)
};

struct CLOUDHOST_API TrustPolicy {
    TrustMode mode = TrustMode::allow_all;
    std::vector<std::string> digests;    // lowercase hex SHA-256 (mode digest)
    std::vector<TrustedKey> public_keys; // mode signature
    PermissionMode permissions = PermissionMode::strict;
};

// "allow-all", "digest", "signed"; and back. parse throws std::invalid_argument.
CLOUDHOST_API std::string_view trust_mode_name(TrustMode mode);
CLOUDHOST_API TrustMode parse_trust_mode(std::string_view name);

// Verifies an armored SSH signature ("-----BEGIN SSH SIGNATURE-----") over
// `bytes`. Returns the signing key's fingerprint when the signature is valid,
// in namespace cloudhost-driver, and made by one of `keys`; otherwise throws
// std::invalid_argument with the reason ("signed by unknown key SHA256:...",
// "signature does not match the file", ...).
CLOUDHOST_API std::string verify_driver_signature(std::span<const std::byte> bytes,
                                                  std::string_view signature,
                                                  const std::vector<TrustedKey> &keys);

struct CLOUDHOST_API TrustVerdict {
    bool trusted = false;
    // Trusted: "allow-all", "digest listed", "signed by SHA256:... (comment)".
    // Not trusted: the reason, e.g. "unsigned (no FILE.sig)".
    std::string text;
};

// Judges `bytes` (with hex SHA-256 `sha256`) under `policy`. `signature` is
// the text of FILE.sig, or null when there is none.
CLOUDHOST_API TrustVerdict judge_trust(const TrustPolicy &policy, std::span<const std::byte> bytes,
                                       const std::string &sha256, const std::string *signature);

} // namespace cloudhost
