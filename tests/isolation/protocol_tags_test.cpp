// Tags read from a helper's message (host/lib/isolation/protocol.cpp): the
// copying reader (read_tags) and the one listings use (read_tag_views) read
// the same maps; a repeated key is a protocol fault only where the map came
// from a Tags map (read_tags), with a handful of tags and with many.
#include "isolation/protocol.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using namespace cloudhost::isolation;

namespace {

// One message holding a map of `pairs`, in this order.
std::string map_payload(const std::vector<std::pair<std::string, std::string>> &pairs) {
    Writer w;
    w.map(pairs.size());
    for (const auto &[k, v] : pairs)
        w.str(k).str(v);
    return std::string(w.frame().substr(4)); // without the length prefix
}

std::vector<std::pair<std::string, std::string>> numbered(int n) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (int i = 0; i < n; ++i)
        pairs.emplace_back("key-" + std::to_string(i), "value-" + std::to_string(i));
    return pairs;
}

} // namespace

TEST_CASE("distinct keys: both readers return every tag; views keep the sender's order") {
    for (int n : {0, 1, 16, 17, 200}) {
        auto pairs = numbered(n);
        if (n > 1)
            std::swap(pairs.front().first, pairs.back().first); // not sorted
        const Message message(map_payload(pairs));
        const auto copied = read_tags(message.root());
        std::vector<std::pair<std::string_view, std::string_view>> views;
        read_tag_views(message.root(), views);
        CHECK(copied.size() == std::size_t(n));
        REQUIRE(views.size() == std::size_t(n));
        for (int i = 0; i < n; ++i) {
            CHECK(views[i].first == pairs[i].first);
            CHECK(views[i].second == pairs[i].second);
            CHECK(copied.at(pairs[i].first) == pairs[i].second);
        }
    }
}

TEST_CASE("a repeated key: the copying reader refuses it, a listing's views keep it as sent") {
    // read_tags reads maps that came from a Tags map (TAGS replies, filters):
    // a repeat there is the helper's fault. A listing carries the driver's
    // tags as they are, as an in-process visitor sees them.
    for (int n : {2, 16, 17, 200}) {
        for (int at : {0, n / 2, n - 1}) {
            auto pairs = numbered(n);
            pairs[at].first = pairs[(at + 1) % n].first; // two equal keys
            const Message message(map_payload(pairs));
            INFO("n=" << n << " at=" << at);
            CHECK_THROWS_AS(read_tags(message.root()), ProtocolError);
            std::vector<std::pair<std::string_view, std::string_view>> views;
            read_tag_views(message.root(), views);
            REQUIRE(views.size() == pairs.size());
            for (std::size_t i = 0; i < pairs.size(); ++i) {
                CHECK(views[i].first == pairs[i].first);
                CHECK(views[i].second == pairs[i].second);
            }
        }
    }
}

TEST_CASE("a tag value that is not a string is a protocol fault naming it") {
    Writer w;
    w.map(1).str("key").u64(7);
    const Message message(std::string(w.frame().substr(4)));
    std::vector<std::pair<std::string_view, std::string_view>> views;
    try {
        read_tag_views(message.root(), views);
        FAIL("no ProtocolError");
    } catch (const ProtocolError &e) {
        CHECK(std::string(e.what()).find("tag value") != std::string::npos);
    }
}
