#include "cloudhost/ssh_key.hpp"

#include "catalog/file_bytes.hpp"
#include "cloudhost/errors.hpp"

#include <libssh/libssh.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace cloudhost {
namespace {

namespace fs = std::filesystem;

// An RSA 16384-bit private key in PEM is ~12 KiB; nothing real comes close.
constexpr std::size_t max_private_key_file_bytes = 64 * 1024;

std::shared_ptr<ssh_key_struct> own(ssh_key key) {
    return std::shared_ptr<ssh_key_struct>(key, [](ssh_key k) { ssh_key_free(k); });
}

std::string errno_text(int error) {
    return std::strerror(error);
}

// Creates `path` exclusively with `mode` and writes `contents` in full.
void write_new_file(const fs::path &path, std::string_view contents, mode_t mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        throw SshKeyError("cannot create " + path.string() + ": " + errno_text(errno));
    }
    // The umask may have narrowed `mode`; the key file needs exactly it.
    bool ok = ::fchmod(fd, mode) == 0;
    size_t written = 0;
    while (ok && written < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = n > 0;
        if (ok) {
            written += static_cast<size_t>(n);
        }
    }
    int saved_errno = errno;
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        throw SshKeyError("cannot write " + path.string() + ": " + errno_text(saved_errno));
    }
}

std::string private_key_text(ssh_key key) {
    char *text = nullptr;
    if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &text) != SSH_OK ||
        text == nullptr) {
        throw SshKeyError("cannot export private key");
    }
    std::string result(text);
    ssh_string_free_char(text);
    return result;
}

void create_parent_directories(const fs::path &path) {
    fs::path parent = path.parent_path();
    if (parent.empty()) {
        return;
    }
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) {
        throw SshKeyError("cannot create directory " + parent.string() + ": " + ec.message());
    }
    // Only tighten what we may have just created; an existing shared
    // directory's mode is the operator's business.
    ::chmod(parent.c_str(), 0700);
}

} // namespace

std::string openssh_public_key(ssh_key_struct *key) {
    char *base64 = nullptr;
    if (key == nullptr || ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK ||
        base64 == nullptr) {
        throw SshKeyError("cannot export public key");
    }
    std::string result = ssh_key_type_to_char(ssh_key_type(key));
    result += ' ';
    result += base64;
    ssh_string_free_char(base64);
    return result;
}

SshKey SshKey::load(const fs::path &path) {
    ssh_key key = nullptr;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        throw SshKeyError("cannot read private key " + path.string() + ": no such file");
    }
    // Read by us, bounded and from a regular file only: libssh would read
    // whatever the path names (a FIFO blocks, a huge file fills memory).
    std::string text;
    try {
        const auto bytes = detail::read_file_bytes(path, max_private_key_file_bytes);
        text.assign(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    } catch (const LoadError &e) {
        throw SshKeyError("cannot read private key " + path.string() + ": " + e.what());
    }
    if (text.find('\0') != std::string::npos ||
        ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK ||
        key == nullptr) {
        throw SshKeyError("cannot read private key " + path.string() +
                          ": not a private key, unreadable, or protected by a passphrase");
    }
    return SshKey(own(key));
}

SshKey SshKey::generate_ed25519() {
    ssh_key key = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || key == nullptr) {
        throw SshKeyError("cannot generate an ed25519 key");
    }
    return SshKey(own(key));
}

void SshKey::save_private(const fs::path &path) const {
    write_new_file(path, private_key_text(key_.get()), 0600);
}

std::string SshKey::public_key_openssh() const {
    return openssh_public_key(key_.get());
}

SshKey SshKey::load_or_generate(const fs::path &path) {
    std::error_code ec;
    if (fs::exists(path, ec)) {
        return load(path);
    }
    create_parent_directories(path);
    SshKey key = generate_ed25519();
    // Write under a private name, then hard-link into place: link() fails if
    // another process got there first, and then its key is the one we use.
    static std::atomic<unsigned> attempts{0};
    fs::path temporary = path;
    temporary += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(attempts++);
    ::unlink(temporary.c_str());
    key.save_private(temporary);
    int link_result = ::link(temporary.c_str(), path.c_str());
    int link_errno = errno;
    ::unlink(temporary.c_str());
    if (link_result != 0) {
        if (link_errno == EEXIST) {
            return load(path);
        }
        throw SshKeyError("cannot create " + path.string() + ": " + errno_text(link_errno));
    }
    fs::path public_path = path;
    public_path += ".pub";
    ::unlink(public_path.c_str());
    write_new_file(public_path, key.public_key_openssh() + "\n", 0644);
    return key;
}

} // namespace cloudhost
