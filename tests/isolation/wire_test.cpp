// The wire (host/lib/isolation/wire.cpp): every value a Writer encodes
// reads back as itself; frames over a real socketpair come back exactly,
// whatever their size and however the bytes arrive: split anywhere, several
// in one read, larger than the read buffer; a frame over the limit, a peer
// gone inside a frame and a clean end are told apart.
#include "isolation/wire.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace cloudhost::isolation;

namespace {

struct SocketPair {
    int fds[2] = {-1, -1};
    SocketPair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0); }
    ~SocketPair() {
        for (const int fd : fds)
            if (fd >= 0)
                ::close(fd);
    }
    void close_writer() {
        ::close(fds[1]);
        fds[1] = -1;
    }
};

std::string frame_of(const std::string &payload) {
    std::string frame(4, '\0');
    for (std::size_t i = 0; i < 4; ++i)
        frame[i] = static_cast<char>((payload.size() >> (8 * i)) & 0xff);
    return frame + payload;
}

std::string payload_of_size(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::mt19937 random(seed);
    for (auto &c : s)
        c = static_cast<char>(random() & 0xff);
    return s;
}

} // namespace

TEST_CASE("frames of every size arrive exactly, however the bytes are split") {
    // Around the 64 KiB read size, a large one, empty ones, back to back.
    const std::vector<std::size_t> sizes = {
        0, 1, 7, 65531, 65532, 65536, 65537, 3u << 20, 0, 100, 1u << 20, 131072, 5, (2u << 20) + 3};
    std::vector<std::string> payloads;
    std::string stream;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        payloads.push_back(payload_of_size(sizes[i], static_cast<unsigned>(i)));
        stream += frame_of(payloads.back());
    }
    for (const unsigned seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        SocketPair pair;
        // No doctest assertion on this thread: a failed REQUIRE would throw
        // out of it.
        std::thread writer([&] {
            // Chunks of 1 byte to 200 KiB: splits inside headers and bodies.
            std::mt19937 random(seed);
            std::size_t at = 0;
            while (at < stream.size()) {
                const std::size_t chunk = std::min<std::size_t>(
                    stream.size() - at, random() % 4 == 0 ? 1 + random() % 5 : random() % 200000);
                if (!write_all(pair.fds[1], std::string_view(stream).substr(at, chunk)))
                    break; // the reader failed and is gone: its checks say why
                at += chunk;
            }
            pair.close_writer();
        });
        // On any exit, also a failed REQUIRE: unblock the writer, then wait.
        struct JoinOnExit {
            SocketPair &pair;
            std::thread &thread;
            ~JoinOnExit() {
                ::shutdown(pair.fds[0], SHUT_RDWR);
                thread.join();
            }
        } join_on_exit{pair, writer};
        FrameReader reader(pair.fds[0], default_max_frame);
        std::string payload;
        for (std::size_t i = 0; i < payloads.size(); ++i) {
            CAPTURE(i);
            REQUIRE(reader.next(payload));
            CHECK(payload.size() == payloads[i].size());
            CHECK(payload == payloads[i]);
        }
        CHECK_FALSE(reader.next(payload)); // a clean end between frames
    }
}

TEST_CASE("a frame over the limit, and a peer gone inside a frame, are protocol faults") {
    {
        SocketPair pair;
        REQUIRE(write_all(pair.fds[1], frame_of(std::string(1001, 'x'))));
        FrameReader reader(pair.fds[0], 1000);
        std::string payload;
        CHECK_THROWS_WITH_AS(reader.next(payload), doctest::Contains("exceeds the limit of 1000"),
                             ProtocolError);
    }
    for (const std::size_t cut : {std::size_t(2), std::size_t(4), std::size_t(70000)}) {
        CAPTURE(cut);
        SocketPair pair;
        const auto frame = frame_of(std::string(100000, 'y'));
        REQUIRE(write_all(pair.fds[1], std::string_view(frame).substr(0, cut)));
        pair.close_writer();
        FrameReader reader(pair.fds[0], default_max_frame);
        std::string payload;
        CHECK_THROWS_WITH_AS(reader.next(payload), doctest::Contains("inside a message"),
                             ProtocolError);
    }
}

TEST_CASE("every value a Writer writes reads back as the same type and value") {
    const std::vector<std::uint64_t> unsigned_values = {0,   1,     127,   128,        255,
                                                        256, 65535, 65536, 1ull << 32, UINT64_MAX};
    const std::vector<std::int64_t> signed_values = {
        0, 1, -1, -32, -33, -128, -129, -32768, -32769, INT64_MIN, INT64_MAX, 1ll << 40};
    // Whole numbers too: they must stay floats on the wire.
    const std::vector<double> doubles = {0.0, 1.0, -2.0, 0.1, -2.5, 1e300, 4294967296.0};
    std::vector<std::string> strings;
    for (const std::size_t n : {0, 1, 31, 32, 255, 256, 65535, 65536})
        strings.push_back(std::string(n, 's'));
    const std::vector<std::size_t> counts = {0, 15, 16, 65535, 65536};

    Writer w;
    w.array(unsigned_values.size() + signed_values.size() + doubles.size() + strings.size() + 3 +
            2 * counts.size());
    for (const auto v : unsigned_values)
        w.u64(v);
    for (const auto v : signed_values)
        w.i64(v);
    for (const auto v : doubles)
        w.f64(v);
    for (const auto &v : strings)
        w.str(v);
    w.boolean(true).boolean(false).nil();
    for (const auto n : counts) {
        w.array(n);
        for (std::size_t i = 0; i < n; ++i)
            w.nil();
        w.map(n);
        for (std::size_t i = 0; i < n; ++i)
            w.str("k").u64(i);
    }

    const Message message(std::string(w.frame().substr(4)));
    const auto root = message.root();
    std::size_t at = 0;
    for (const auto v : unsigned_values)
        CHECK(root.at(at++, "u64").u64() == v);
    for (const auto v : signed_values)
        CHECK(root.at(at++, "i64").i64() == v);
    for (const auto v : doubles)
        CHECK(root.at(at++, "f64").f64() == v);
    for (const auto &v : strings)
        CHECK(root.at(at++, "str").str() == v);
    CHECK(root.at(at++, "true").boolean());
    CHECK_FALSE(root.at(at++, "false").boolean());
    CHECK(root.at(at++, "nil").is_nil());
    for (const auto n : counts) {
        CHECK(root.at(at++, "array").size() == n);
        const auto map = root.at(at++, "map");
        REQUIRE(map.map_size() == n);
        if (n > 0)
            CHECK(map.value(n - 1, "last").u64() == n - 1);
    }
    CHECK(at == root.size());
}

namespace {

// The process's peak virtual size so far, in KiB (/proc/self/status VmPeak).
long peak_virtual_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmPeak:", 0) == 0)
            return std::stol(line.substr(7));
    return -1;
}

} // namespace

TEST_CASE("counts a message cannot hold, or nesting too deep, are refused before any allocation") {
    // Each element takes at least one byte: these claim far more than they
    // carry. The unpacker used to reserve room for every claimed element
    // first (6.4 GB for the third, 100 GB for the first two).
    const std::vector<std::string> lies = {
        std::string("\xdd\xff\xff\xff\xff", 5),     // array of 2^32-1
        std::string("\xdf\xff\xff\xff\xff", 5),     // map of 2^32-1
        std::string("\x91\xdd\x0f\xff\xff\xff", 6), // [array of 2^28-1]
        std::string("\x93\xdc\x00\x10\x01\x01", 6), // [[16 claimed, 2 given] ...]
    };
    const long before = peak_virtual_kib();
    REQUIRE(before > 0);
    for (std::size_t i = 0; i < lies.size(); ++i) {
        CAPTURE(i);
        CHECK_THROWS_AS(Message{lies[i]}, ProtocolError);
    }
    CHECK(peak_virtual_kib() - before < 256 * 1024); // nothing near the claimed sizes

    // Nesting: 32 levels are the unpacker's own limit; 33 and 100,000 are
    // refused without a stack that grows with them.
    for (const std::size_t depth : {std::size_t(32), std::size_t(33), std::size_t(100000)}) {
        CAPTURE(depth);
        const std::string nested = std::string(depth, '\x91') + '\xc0'; // [[[...nil...]]]
        if (depth <= 32) {
            const Message message(nested);
            CHECK(message.root().size() == 1);
        } else {
            CHECK_THROWS_AS(Message{nested}, ProtocolError);
        }
    }

    // What fits is read as before: counts that add up exactly to the bytes.
    Writer w;
    w.array(3).nil().nil().map(1).nil().nil();
    CHECK(Message(std::string(w.frame().substr(4))).root().size() == 3);
}
