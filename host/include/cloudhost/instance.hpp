// A cloud VM as seen through a driver (Arvados cloud.Instance).
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/types.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {

namespace detail {
struct InstanceCore;
struct InternalAccess;
} // namespace detail

// Result of a command run during host key verification.
struct CLOUDHOST_API CommandOutput {
    std::string stdout_data;
    std::string stderr_data;
    int exit_status = -1;
};

// Runs a command on the instance over the SSH connection whose host key is
// being verified (Go: the *ssh.Client passed to VerifyHostKey). Throws
// DriverError when the command cannot be run.
class CLOUDHOST_API CommandRunner {
  public:
    virtual ~CommandRunner() = default;
    virtual CommandOutput run(std::string_view command, std::string_view stdin_data) = 0;
};

// A cheap, copyable handle. Every method may be called from many threads.
// The driver library stays loaded while any handle lives. Methods throw the
// exceptions of cloudhost/errors.hpp.
class CLOUDHOST_API Instance {
  public:
    Instance() = default; // empty handle; valid() is false

    bool valid() const noexcept { return core_ != nullptr; }

    // Stable provider id and type, as reported when the instance was listed
    // or created.
    const std::string &id() const;
    const std::string &provider_type() const;

    std::string string() const;
    Tags tags() const; // current tags; may lag behind set_tags
    void set_tags(const Tags &tags);
    void destroy();
    std::string address() const; // "" while booting; may carry ":port"
    std::string remote_user() const;
    // Returns normally if `public_key` ("ssh-ed25519 AAAA...") is the host's
    // key; throws NotImplementedError when the driver cannot tell, another
    // DriverError when the key is wrong. `runner` may be null.
    void verify_host_key(const std::string &public_key, CommandRunner *runner) const;
    // Newest first, runs of equal prices reduced to their oldest point
    // (Arvados NormalizePriceHistory).
    std::vector<InstancePrice> price_history(const InstanceType &type) const;

    explicit Instance(std::shared_ptr<detail::InstanceCore> core) : core_(std::move(core)) {}

  private:
    friend struct detail::InternalAccess; // cloudhost/internal/access.hpp
    std::shared_ptr<detail::InstanceCore> core_;
};

// Arvados NormalizePriceHistory: sorted newest first; an entry is dropped
// when the next (older) one has the same start time or the same price, so
// each run of equal prices keeps its oldest point.
CLOUDHOST_API std::vector<InstancePrice> normalize_price_history(std::vector<InstancePrice> prices);

} // namespace cloudhost
