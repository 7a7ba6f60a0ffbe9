// The client key the host authenticates with over SSH. Loaded once and
// shared by every executor; immutable after construction.
#pragma once

#include "cloudhost/export.hpp"

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

struct ssh_key_struct; // libssh's key, kept out of this header

namespace cloudhost {

// A key file could not be read, parsed, generated or written. The message
// names the file and the reason.
class CLOUDHOST_API SshKeyError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A private key (any type libssh reads; ed25519 when generated).
// Cheap to copy; safe to use from many threads.
class CLOUDHOST_API SshKey {
  public:
    // Reads an unencrypted private key file (OpenSSH or PEM format).
    static SshKey load(const std::filesystem::path &path);

    // A fresh ed25519 key, not yet stored anywhere.
    static SshKey generate_ed25519();

    // Loads `path` if it exists; otherwise generates an ed25519 key, writes
    // it to `path` (mode 0600, parent directories created with 0700) and the
    // public key to `path` + ".pub", then returns it. Safe against another
    // process doing the same at the same time: one key wins, both use it.
    static SshKey load_or_generate(const std::filesystem::path &path);

    // Writes the private key in OpenSSH format, mode 0600, refusing to
    // overwrite an existing file.
    void save_private(const std::filesystem::path &path) const;

    // "ssh-ed25519 AAAA..." (authorized_keys form, no comment).
    std::string public_key_openssh() const;

    // The libssh key, for the executor.
    ssh_key_struct *native() const noexcept { return key_.get(); }

  private:
    explicit SshKey(std::shared_ptr<ssh_key_struct> key) : key_(std::move(key)) {}
    std::shared_ptr<ssh_key_struct> key_;
};

// "type base64" of a libssh public (or private) key. Throws SshKeyError.
CLOUDHOST_API std::string openssh_public_key(ssh_key_struct *key);

} // namespace cloudhost
