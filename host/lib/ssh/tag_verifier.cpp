#include "cloudhost/tag_verifier.hpp"

#include "cloudhost/errors.hpp"
#include "metrics/host_metrics.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace cloudhost {
namespace {

constexpr size_t secret_bytes = 20; // 40 hex digits, as Arvados

bool is_shell_safe(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_./+,:=@%-").find(c) != std::string_view::npos;
}

// Leaves plain paths as they are (so the command reads like Arvados's) and
// single-quotes anything else.
std::string shell_quote(std::string_view word) {
    if (!word.empty() && std::all_of(word.begin(), word.end(), is_shell_safe)) {
        return std::string(word);
    }
    std::string quoted = "'";
    for (char c : word) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

bool is_alphanumeric(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
}

std::string secret_tag(std::string_view tag_prefix) {
    return std::string(tag_prefix) + std::string(instance_secret_tag_suffix);
}

// Constant time, so response timing says nothing about the secret.
bool same_secret(const std::string &presented, const std::string &secret) {
    return presented.size() == secret.size() &&
           CRYPTO_memcmp(presented.data(), secret.data(), secret.size()) == 0;
}

} // namespace

std::string generate_instance_secret() {
    std::array<unsigned char, secret_bytes> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
        throw std::runtime_error("cannot generate an instance secret: OpenSSL RAND_bytes failed");
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * random.size());
    for (unsigned char byte : random) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

std::string instance_secret_init_command(std::string_view secret, std::string_view path) {
    if (path.empty()) {
        throw std::invalid_argument("instance secret path is empty");
    }
    if (secret.empty() || !is_alphanumeric(secret)) {
        throw std::invalid_argument("instance secret must be non-empty and alphanumeric");
    }
    return "umask 0177 && echo -n \"" + std::string(secret) + "\" >" + shell_quote(path);
}

std::string secret_from_tags(const Tags &tags, std::string_view tag_prefix) {
    auto found = tags.find(secret_tag(tag_prefix));
    return found == tags.end() ? std::string() : found->second;
}

PreparedCreate prepare_create(Tags tags, std::string_view init_command, std::string_view tag_prefix,
                              std::string_view secret_path) {
    std::string secret = generate_instance_secret();
    PreparedCreate prepared;
    prepared.init_command =
        instance_secret_init_command(secret, secret_path) + "\n" + std::string(init_command);
    tags[secret_tag(tag_prefix)] = std::move(secret);
    prepared.tags = std::move(tags);
    return prepared;
}

TagVerifier::TagVerifier(std::shared_ptr<const ExecutorTarget> inner, std::string secret,
                         std::string secret_path)
    : inner_(std::move(inner)), secret_(std::move(secret)), secret_path_(std::move(secret_path)) {
    if (!inner_) {
        throw std::invalid_argument("TagVerifier needs a target to wrap");
    }
    if (secret_path_.empty()) {
        throw std::invalid_argument("instance secret path is empty");
    }
}

std::shared_ptr<TagVerifier>
TagVerifier::for_instance(Instance instance, std::string_view tag_prefix, std::string secret_path) {
    std::string secret = secret_from_tags(instance.tags(), tag_prefix);
    return std::make_shared<TagVerifier>(std::make_shared<InstanceTarget>(std::move(instance)),
                                         std::move(secret), std::move(secret_path));
}

std::string TagVerifier::read_secret_command() const {
    std::string command = remote_user() == "root" ? "" : "sudo ";
    return command + "cat " + shell_quote(secret_path_);
}

std::string TagVerifier::secret_mode_command() const {
    std::string command = remote_user() == "root" ? "" : "sudo ";
    return command + "stat -c %a " + shell_quote(secret_path_);
}

void TagVerifier::verify_host_key(const std::string &openssh_public_key,
                                  CommandRunner *unverified_connection) const {
    try {
        inner_->verify_host_key(openssh_public_key, unverified_connection);
        return;
    } catch (const NotImplementedError &) {
        // the driver cannot tell: fall back to the secret
    }
    detail::TagVerificationRecord record; // error unless set below
    if (secret_.empty()) {
        record.set(detail::TagVerification::refused);
        throw NotImplementedError("instance has no InstanceSecret tag");
    }
    if (unverified_connection == nullptr) {
        throw DriverError("cannot check the instance secret: no connection to run commands on");
    }
    const std::string command = read_secret_command();
    CommandOutput output = unverified_connection->run(command, {});
    if (output.exit_status != 0) {
        std::string reason = output.stderr_data.substr(0, output.stderr_data.find('\n'));
        if (reason.find(secret_) != std::string::npos) {
            reason = "(stderr withheld: it contains the secret)";
        }
        throw DriverError("`" + command + "` exited with status " +
                          std::to_string(output.exit_status) +
                          (reason.empty() ? std::string() : ": " + reason.substr(0, 200)));
    }
    if (!same_secret(output.stdout_data, secret_)) {
        record.set(detail::TagVerification::refused);
        throw DriverError("bad instance secret");
    }
    record.set(detail::TagVerification::verified);
}

} // namespace cloudhost
