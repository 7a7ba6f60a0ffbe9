// The helper's listing encoder (host/lib/isolation/listing_encoder.cpp):
// instances encoded as the driver hands them over must read back on the
// host exactly and in order, whatever their number, in one reply or in parts
// sent ahead, with the driver's tags as given (a repeated key too, as in
// process); a part that cannot be sent leaves each instance either the
// host's or given back, never both, never neither.
#include "isolation/listing_encoder.hpp"
#include "isolation/protocol.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace cloudhost::isolation;
using cloudhost::detail::InstanceDescView;
using cloudhost::detail::InstanceRef;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using TagViews = std::vector<std::pair<std::string_view, std::string_view>>;

TagViews views_of(const Pairs &pairs) {
    TagViews views;
    for (const auto &[k, v] : pairs)
        views.emplace_back(k, v);
    return views;
}

// `n` tags where every third key repeats an earlier one with a new value.
Pairs with_repeats(int n) {
    Pairs pairs;
    for (int i = 0; i < n; ++i) {
        const int key = i % 3 == 2 ? i - 2 : i;
        pairs.emplace_back("k" + std::to_string(key), "v" + std::to_string(i));
    }
    return pairs;
}

Pairs copied(const TagViews &views) {
    Pairs out;
    for (const auto &[k, v] : views)
        out.emplace_back(std::string(k), std::string(v));
    return out;
}

} // namespace

namespace {

// A listing of `n` instances through an encoder that sends parts of about
// `part_bytes` (0: no parts); what the host would read, in order.
struct Encoded {
    std::vector<std::string> parts; // payloads, without the length prefix
    std::string reply;
    std::size_t handed_to_host = 0;
    std::vector<InstanceRef> unsent;
    bool finished = false;
};

const Pairs &listing_tags() {
    static const Pairs tags = with_repeats(70); // repeated keys too
    return tags;
}

Encoded encode(std::size_t n, std::size_t part_bytes, std::size_t fail_at_part = SIZE_MAX) {
    Encoded out;
    ListingEncoder::SendPart send;
    if (part_bytes > 0)
        send = [&](Writer &part) {
            if (out.parts.size() == fail_at_part)
                throw std::runtime_error("host gone");
            out.parts.emplace_back(part.frame().substr(4));
        };
    ListingEncoder encoder(true, 42, send, part_bytes ? part_bytes : 1);
    const auto tag_views = views_of(listing_tags());
    for (std::size_t i = 0; i < n; ++i) {
        const auto id = "i-" + std::to_string(i);
        CHECK(encoder.take(1000 + i,
                           InstanceDescView{id, "type-" + std::to_string(i % 2), tag_views}));
    }
    Writer reply;
    reply.array(4).u64(3).u64(42).boolean(true);
    try {
        encoder.finish(reply);
        out.finished = true;
        out.reply = std::string(reply.frame().substr(4));
    } catch (const std::bad_alloc &) {
    }
    out.handed_to_host = encoder.handed_to_host();
    out.unsent = encoder.unsent();
    return out;
}

// Checks the descs of `list` are instances first, first+1, ...
std::size_t check_descs(const Value &list, std::size_t first) {
    TagViews read;
    const auto n = list.size();
    for (std::size_t k = 0; k < n; ++k) {
        const auto i = first + k;
        const auto desc = list.at(k, "instance");
        CHECK(desc.at(0, "ref").u64() == 1000 + i);
        CHECK(desc.at(1, "id").str() == "i-" + std::to_string(i));
        CHECK(desc.at(2, "type").str() == "type-" + std::to_string(i % 2));
        read_tag_views(desc.at(3, "tags"), read);
        CHECK(copied(read) == listing_tags()); // as given, repeats included
    }
    return n;
}

} // namespace

TEST_CASE("a listing reads back exactly, in one reply or in parts ahead of it") {
    // 70,000 > 65,535: past MessagePack's 16-bit array length.
    for (const std::size_t n :
         {std::size_t(0), std::size_t(1), std::size_t(3), std::size_t(2000), std::size_t(70000)}) {
        for (const std::size_t part_bytes : {std::size_t(0), std::size_t(1), std::size_t(20000),
                                             ListingEncoder::default_part_bytes}) {
            if (n == 70000 && part_bytes == 1)
                continue; // 70,000 parts of one instance prove nothing more
            CAPTURE(n);
            CAPTURE(part_bytes);
            const auto encoded = encode(n, part_bytes);
            REQUIRE(encoded.finished);
            CHECK(encoded.handed_to_host == n);
            CHECK(encoded.unsent.empty());
            if (part_bytes == 0)
                CHECK(encoded.parts.empty());
            if (part_bytes == 1) // every instance fills a part
                CHECK(encoded.parts.size() == n);
            std::size_t seen = 0;
            for (const auto &payload : encoded.parts) {
                const Message part(payload);
                CHECK(static_cast<Kind>(part.root().at(0, "kind").u64()) == Kind::part);
                CHECK(part.root().at(1, "call id").u64() == 42);
                const auto got = check_descs(part.root().at(2, "instances"), seen);
                CHECK(got > 0);
                seen += got;
            }
            const Message reply(encoded.reply);
            seen += check_descs(reply.root().at(3, "result"), seen);
            CHECK(seen == n);
        }
    }
}

TEST_CASE("a part that cannot be sent fails the listing; the host keeps only what it got") {
    for (const std::size_t fail_at : {std::size_t(0), std::size_t(1), std::size_t(3)}) {
        CAPTURE(fail_at);
        const auto encoded = encode(500, 20000, fail_at);
        CHECK_FALSE(encoded.finished);
        REQUIRE(encoded.parts.size() == fail_at);
        std::size_t in_parts = 0;
        for (const auto &payload : encoded.parts)
            in_parts += Message(payload).root().at(2, "instances").size();
        CHECK(encoded.handed_to_host == in_parts);
        // Everything else goes back to the driver, none twice, none lost.
        REQUIRE(encoded.unsent.size() == 500 - in_parts);
        for (std::size_t k = 0; k < encoded.unsent.size(); ++k)
            CHECK(encoded.unsent[k] == 1000 + in_parts + k);
    }
}

TEST_CASE("an instance the driver hands over without tags wanted is encoded with none") {
    ListingEncoder encoder(false);
    CHECK_FALSE(encoder.needs_tags());
    const TagViews none;
    CHECK(encoder.take(7, InstanceDescView{"i-1", "small", none}));
    Writer w;
    encoder.finish(w);
    const Message message(std::string(w.frame().substr(4)));
    REQUIRE(message.root().size() == 1);
    CHECK(message.root().at(0, "instance").at(3, "tags").map_size() == 0);
}
