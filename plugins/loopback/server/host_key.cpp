#include "host_key.hpp"

#include "server_log.hpp"
#include "state_files.hpp"

#include <sstream>
#include <stdexcept>
#include <string>

namespace cloudhost::loopback_server {
namespace {

namespace files = cloudhost::loopback::state_file;

void write_public_key(ssh_key key) {
    char *base64 = nullptr;
    if (ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK)
        throw std::runtime_error("cannot encode the host public key");
    const std::string line =
        std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + base64 + "\n";
    ssh_string_free_char(base64);
    cloudhost::loopback::write_file_atomically(files::host_key_pub, line, 0644);
}

} // namespace

ssh_key load_or_generate_host_key() {
    ssh_key key = nullptr;
    // A restarted server keeps its identity, like a rebooted VM.
    if (ssh_pki_import_privkey_file(files::host_key, nullptr, nullptr, nullptr, &key) == SSH_OK) {
        write_public_key(key);
        return key;
    }
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
        throw std::runtime_error("cannot generate an ed25519 host key");
    if (ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, files::host_key) != SSH_OK) {
        ssh_key_free(key);
        throw std::runtime_error(std::string("cannot save the host key to ") + files::host_key);
    }
    write_public_key(key);
    log_line("generated ed25519 host key");
    return key;
}

ssh_key load_authorized_key() {
    const auto content = cloudhost::loopback::read_file_if_exists(files::authorized_key);
    if (!content)
        throw std::runtime_error(std::string(files::authorized_key) + ": missing");
    std::istringstream fields{std::string(cloudhost::loopback::trim(*content))};
    std::string type, base64;
    fields >> type >> base64;
    const ssh_keytypes_e key_type = ssh_key_type_from_name(type.c_str());
    ssh_key key = nullptr;
    if (key_type == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(base64.c_str(), key_type, &key) != SSH_OK)
        throw std::runtime_error(std::string(files::authorized_key) +
                                 ": not an OpenSSH public key line");
    return key;
}

} // namespace cloudhost::loopback_server
