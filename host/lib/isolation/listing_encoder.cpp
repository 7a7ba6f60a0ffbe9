#include "listing_encoder.hpp"

#include <new>

namespace cloudhost::isolation {

namespace {
// Up to this many tags a pairwise scan beats hashing.
constexpr std::size_t pairwise_limit = 64;
} // namespace

static void distinct_tags_hashed(const TagViews &in, TagViews &out,
                                 std::unordered_map<std::string_view, std::size_t> &index) {
    index.clear();
    for (const auto &[key, value] : in) {
        const auto [it, fresh] = index.try_emplace(key, out.size());
        if (fresh)
            out.emplace_back(key, value);
        else
            out[it->second].second = value;
    }
}

static void distinct_tags_pairwise(const TagViews &in, TagViews &out) {
    for (const auto &[key, value] : in) {
        bool seen = false;
        for (auto &kept : out)
            if (kept.first == key) {
                kept.second = value;
                seen = true;
                break;
            }
        if (!seen)
            out.emplace_back(key, value);
    }
}

static void distinct_tags(const TagViews &in, TagViews &out,
                          std::unordered_map<std::string_view, std::size_t> &index) {
    out.clear();
    if (in.size() <= pairwise_limit)
        distinct_tags_pairwise(in, out);
    else
        distinct_tags_hashed(in, out, index);
}

void distinct_tags(const TagViews &in, TagViews &out) {
    std::unordered_map<std::string_view, std::size_t> index;
    distinct_tags(in, out, index);
}

ListingEncoder::ListingEncoder(Writer &reply, bool needs_tags)
    : reply_(reply), count_at_(reply.array_to_patch()), needs_tags_(needs_tags) {}

bool ListingEncoder::take(detail::InstanceRef ref, const detail::InstanceDescView &desc) noexcept {
    try {
        taken_.push_back(ref);
    } catch (...) {
        return false; // not taken: the endpoint releases it
    }
    try {
        distinct_tags(desc.tags, distinct_, index_);
        reply_.array(4).u64(ref).str(desc.id).str(desc.provider_type).map(distinct_.size());
        for (const auto &[key, value] : distinct_)
            reply_.str(key).str(value);
    } catch (...) {
        failed_ = true; // the reply is lost; finish() says so
    }
    return true;
}

void ListingEncoder::finish() {
    if (failed_)
        throw std::bad_alloc();
    reply_.patch_array(count_at_, taken_.size());
}

} // namespace cloudhost::isolation
