// The helper's side of a Create or Instances reply: each instance the driver
// hands over is encoded at once, from the views the endpoint gives, as
// protocol.hpp's desc = [ref, id, provider_type, tags]. (Collecting copies
// first made 170,000 strings for 10,000 instances with 8 tags each.)
//
// A listing may go ahead in parts: every part_bytes of encoded instances
// leave as [PART, call id, [desc...]] while the driver is still listing, so
// the host takes them over meanwhile and no message grows with the cloud
// (at ~160 bytes per stub instance with its tags, one message reached the
// 16 MiB frame limit at about 105,000). The reply then holds the rest.
#pragma once

#include "wire.hpp"

#include "core/driver_endpoint.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace cloudhost::isolation {

class ListingEncoder final : public detail::InstanceVisitor {
  public:
    // Sends one complete frame; throws if it cannot.
    using SendPart = std::function<void(Writer &part)>;
    static constexpr std::size_t default_part_bytes = 128 * 1024;

    // Without send_part everything waits for finish() (Create: one instance).
    ListingEncoder(bool needs_tags, std::uint64_t call_id = 0, SendPart send_part = {},
                   std::size_t part_bytes = default_part_bytes);

    bool take(detail::InstanceRef ref, const detail::InstanceDescView &desc) noexcept override;
    bool needs_tags() const noexcept override { return needs_tags_; }

    // Writes the instances not sent ahead into `reply` as [desc...]. Throws
    // std::bad_alloc if one could not be encoded or a part not be sent;
    // then the caller releases unsent().
    void finish(Writer &reply);

    // Instances now the host's: sent in parts (also when a later step
    // failed), or all of them after finish().
    std::size_t handed_to_host() const noexcept { return handed_to_host_; }
    // Instances taken but not (yet) the host's.
    const std::vector<detail::InstanceRef> &unsent() const noexcept { return unsent_; }

  private:
    void send_part() noexcept;

    const bool needs_tags_;
    const std::uint64_t call_id_;
    const SendPart send_part_;
    const std::size_t part_bytes_;
    bool failed_ = false;
    Writer body_; // the encoded descs of unsent_, without their array header
    std::vector<detail::InstanceRef> unsent_;
    std::size_t handed_to_host_ = 0;
};

} // namespace cloudhost::isolation
