// Proves an instance's identity when its driver cannot check host keys
// (Arvados worker.TagVerifier): a secret stored as a tag at Create is written
// to a file by the InitCommand at boot and read back over the unverified
// SSH connection. The secret never appears in logs or exception messages.
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/instance.hpp"
#include "cloudhost/instance_secret_defaults.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/types.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace cloudhost {

// 40 lowercase hex digits from OpenSSL's CSPRNG.
CLOUDHOST_API std::string generate_instance_secret();

// `umask 0177 && echo -n "SECRET" >PATH`, PATH quoted for the shell when it
// needs it. Throws std::invalid_argument for an empty path or a secret that
// is not alphanumeric (the message never contains the secret).
CLOUDHOST_API std::string instance_secret_init_command(std::string_view secret,
                                                       std::string_view path);

// The value of the `<prefix>InstanceSecret` tag, "" when absent.
CLOUDHOST_API std::string secret_from_tags(const Tags &tags, std::string_view tag_prefix);

struct CLOUDHOST_API PreparedCreate {
    Tags tags;                // input tags plus `<prefix>InstanceSecret`
    std::string init_command; // secret line + "\n" + the given InitCommand
};

// What the host passes to Create so the new instance can be verified later:
// a fresh secret as a tag, and the command that stores it on the instance.
CLOUDHOST_API PreparedCreate prepare_create(
    Tags tags, std::string_view init_command, std::string_view tag_prefix = default_tag_key_prefix,
    std::string_view secret_path = default_instance_secret_path);

// An ExecutorTarget that asks the wrapped target first and falls back to the
// instance secret when that answers NotImplementedError. Any other answer
// (acceptance included) is used as is.
class CLOUDHOST_API TagVerifier final : public ExecutorTarget {
  public:
    // `inner` is usually an InstanceTarget; tests and other hosts may pass
    // any target whose verify_host_key is the driver's answer.
    TagVerifier(std::shared_ptr<const ExecutorTarget> inner, std::string secret,
                std::string secret_path = std::string(default_instance_secret_path));

    // Wraps a driver instance; the secret is read from its tags.
    static std::shared_ptr<TagVerifier>
    for_instance(Instance instance, std::string_view tag_prefix = default_tag_key_prefix,
                 std::string secret_path = std::string(default_instance_secret_path));

    std::string address() const override { return inner_->address(); }
    std::string remote_user() const override { return inner_->remote_user(); }
    std::string name() const override { return inner_->name(); }
    // Throws NotImplementedError when the driver cannot tell and there is no
    // secret; DriverError "bad instance secret" when the file differs; the
    // runner's error when the file cannot be read.
    void verify_host_key(const std::string &openssh_public_key,
                         CommandRunner *unverified_connection) const override;

    // `[sudo ]cat PATH`, as run on the instance.
    std::string read_secret_command() const;
    // `[sudo ]stat -c %a PATH`: the secret file's mode (600 after the
    // InitCommand's `umask 0177`), as cloudtest checks it.
    std::string secret_mode_command() const;

  private:
    std::shared_ptr<const ExecutorTarget> inner_;
    std::string secret_;
    std::string secret_path_;
};

} // namespace cloudhost
