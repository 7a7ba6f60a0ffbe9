#include "listing_encoder.hpp"

#include "protocol.hpp"

#include <new>

namespace cloudhost::isolation {

ListingEncoder::ListingEncoder(bool needs_tags, std::uint64_t call_id, SendPart send_part,
                               std::size_t part_bytes)
    : needs_tags_(needs_tags), call_id_(call_id), send_part_(std::move(send_part)),
      part_bytes_(part_bytes) {}

bool ListingEncoder::take(detail::InstanceRef ref, const detail::InstanceDescView &desc) noexcept {
    try {
        unsent_.push_back(ref);
    } catch (...) {
        return false; // not taken: the endpoint releases it
    }
    if (failed_)
        return true; // released with the rest of unsent_ when finish() throws
    try {
        // The tags as the driver gave them, a repeated key repeated: what an
        // in-process visitor sees too.
        body_.array(4).u64(ref).str(desc.id).str(desc.provider_type).map(desc.tags.size());
        for (const auto &[key, value] : desc.tags)
            body_.str(key).str(value);
    } catch (...) {
        failed_ = true;
        return true;
    }
    if (send_part_ && body_.encoded().size() >= part_bytes_)
        send_part();
    return true;
}

void ListingEncoder::send_part() noexcept {
    try {
        Writer part;
        part.array(3)
            .u64(static_cast<std::uint64_t>(Kind::part))
            .u64(call_id_)
            .array(unsent_.size())
            .raw(body_.encoded());
        send_part_(part); // throws if it did not leave
        handed_to_host_ += unsent_.size();
        unsent_.clear();
        body_.clear();
    } catch (...) {
        failed_ = true;
    }
}

void ListingEncoder::finish(Writer &reply) {
    if (failed_)
        throw std::bad_alloc();
    reply.array(unsent_.size()).raw(body_.encoded());
    handed_to_host_ += unsent_.size();
    unsent_.clear();
}

} // namespace cloudhost::isolation
