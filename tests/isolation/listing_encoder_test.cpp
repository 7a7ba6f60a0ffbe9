// The helper's listing encoder (host/lib/isolation/listing_encoder.cpp):
// instances encoded as the driver hands them over must read back on the
// host exactly, whatever their number (the array length is patched in at the
// end) and whatever tags the driver repeats (the host refuses duplicate keys).
#include "isolation/listing_encoder.hpp"
#include "isolation/protocol.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace cloudhost::isolation;
using cloudhost::detail::InstanceDescView;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

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

// What a Tags map keeps: the last value of each key, in first-seen order.
Pairs expected_distinct(const Pairs &pairs) {
    Pairs out;
    for (const auto &[k, v] : pairs) {
        bool seen = false;
        for (auto &kept : out)
            if (kept.first == k) {
                kept.second = v;
                seen = true;
            }
        if (!seen)
            out.emplace_back(k, v);
    }
    return out;
}

Pairs copied(const TagViews &views) {
    Pairs out;
    for (const auto &[k, v] : views)
        out.emplace_back(std::string(k), std::string(v));
    return out;
}

} // namespace

TEST_CASE("distinct_tags keeps each key once with its last value, few tags or many") {
    // 64 and fewer are scanned pairwise, more through a hash index: the
    // same result either way.
    for (int n : {0, 1, 2, 3, 64, 65, 66, 300}) {
        CAPTURE(n);
        const auto pairs = with_repeats(n);
        TagViews out;
        distinct_tags(views_of(pairs), out);
        CHECK(copied(out) == expected_distinct(pairs));
    }
}

TEST_CASE("a listing encoded instance by instance reads back exactly, 0 to 70,000 instances") {
    // 70,000 > 65,535: past MessagePack's 16-bit array length.
    for (const std::size_t n :
         {std::size_t(0), std::size_t(1), std::size_t(3), std::size_t(70000)}) {
        CAPTURE(n);
        Writer w;
        w.array(2).u64(42);
        ListingEncoder encoder(w, true);
        const auto tags = with_repeats(70); // hashed path, with repeats
        const auto tag_views = views_of(tags);
        for (std::size_t i = 0; i < n; ++i) {
            const auto id = "i-" + std::to_string(i);
            CHECK(encoder.take(1000 + i,
                               InstanceDescView{id, "type-" + std::to_string(i % 2), tag_views}));
        }
        encoder.finish();
        CHECK(encoder.taken().size() == n);

        const Message message(std::string(w.frame().substr(4)));
        CHECK(message.root().at(0, "first").u64() == 42);
        const auto list = message.root().at(1, "instances");
        REQUIRE(list.size() == n);
        TagViews read;
        for (std::size_t i = 0; i < n; i += (n > 100 ? 997 : 1)) {
            const auto desc = list.at(i, "instance");
            CHECK(desc.at(0, "ref").u64() == 1000 + i);
            CHECK(desc.at(1, "id").str() == "i-" + std::to_string(i));
            CHECK(desc.at(2, "type").str() == "type-" + std::to_string(i % 2));
            read_tag_views(desc.at(3, "tags"), read); // refuses a duplicate key
            CHECK(copied(read) == expected_distinct(tags));
        }
    }
}

TEST_CASE("an instance the driver hands over without tags wanted is encoded with none") {
    Writer w;
    ListingEncoder encoder(w, false);
    CHECK_FALSE(encoder.needs_tags());
    const TagViews none;
    CHECK(encoder.take(7, InstanceDescView{"i-1", "small", none}));
    encoder.finish();
    const Message message(std::string(w.frame().substr(4)));
    REQUIRE(message.root().size() == 1);
    CHECK(message.root().at(0, "instance").at(3, "tags").map_size() == 0);
}

TEST_CASE("patching an array where the writer wrote none is refused") {
    Writer w;
    w.array(1).u64(1);
    CHECK_THROWS_AS(w.patch_array(4, 1), std::logic_error);
    CHECK_THROWS_AS(w.patch_array(1000, 1), std::logic_error);
}
