#include "wire.hpp"

// msgpack-cxx (header-only): the packer and the count check's parser.
#include <msgpack/null_visitor.hpp>
#include <msgpack/pack.hpp>
#include <msgpack/parse.hpp>
#include <msgpack/unpack.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>

namespace cloudhost::isolation {

namespace {
constexpr std::size_t header_size = 4;
} // namespace

namespace {

using Packer = msgpack::packer<EncodeBuffer>;

// MessagePack counts in 32 bits; a frame is far smaller (16 MiB by default).
std::uint32_t count32(std::size_t n) {
    if (n > UINT32_MAX)
        throw std::length_error("msgpack: more than 2^32-1 elements or bytes");
    return static_cast<std::uint32_t>(n);
}

} // namespace

void EncodeBuffer::grow(std::size_t n) {
    const std::size_t needed = size_ + n;
    std::size_t capacity = capacity_ ? capacity_ * 2 : 8192;
    while (capacity < needed)
        capacity *= 2;
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ > 0)
        std::memcpy(data.get(), data_.get(), size_);
    data_ = std::move(data);
    capacity_ = capacity;
}

Writer::Writer() {
    const char header[header_size] = {};
    buffer_.write(header, header_size);
}

Writer &Writer::array(std::size_t n) {
    Packer(buffer_).pack_array(count32(n));
    return *this;
}
Writer &Writer::map(std::size_t n) {
    Packer(buffer_).pack_map(count32(n));
    return *this;
}
Writer &Writer::u64(std::uint64_t v) {
    Packer(buffer_).pack_uint64(v);
    return *this;
}
Writer &Writer::i64(std::int64_t v) {
    Packer(buffer_).pack_int64(v);
    return *this;
}
Writer &Writer::f64(double v) {
    // Always a float 64: msgpack-cxx packs a whole-number double as an
    // integer, which the reader (Value::f64) rightly refuses.
    std::uint64_t bits = 0;
    static_assert(sizeof bits == sizeof v);
    std::memcpy(&bits, &v, sizeof bits);
    char bytes[9] = {static_cast<char>(0xcb)}; // MessagePack float 64, big-endian
    for (std::size_t i = 0; i < 8; ++i)
        bytes[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
    buffer_.write(bytes, sizeof bytes);
    return *this;
}
Writer &Writer::boolean(bool v) {
    if (v)
        Packer(buffer_).pack_true();
    else
        Packer(buffer_).pack_false();
    return *this;
}
Writer &Writer::str(std::string_view v) {
    const auto n = count32(v.size());
    Packer(buffer_).pack_str(n).pack_str_body(v.data(), n);
    return *this;
}
Writer &Writer::nil() {
    Packer(buffer_).pack_nil();
    return *this;
}

Writer &Writer::raw(std::string_view encoded) {
    buffer_.write(encoded.data(), encoded.size());
    return *this;
}

std::string_view Writer::encoded() noexcept {
    return {buffer_.data() + header_size, buffer_.size() - header_size};
}

void Writer::clear() noexcept {
    buffer_.truncate(header_size);
}

std::string_view Writer::frame() {
    const auto len = count32(buffer_.size() - header_size);
    for (std::size_t i = 0; i < header_size; ++i)
        buffer_.data()[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    return {buffer_.data(), buffer_.size()};
}

void Value::wrong(const char *expected) const {
    throw ProtocolError(std::string(what_) + ": expected " + expected);
}

std::uint64_t Value::u64() const {
    if (object_->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        wrong("an unsigned integer");
    return object_->via.u64;
}

std::int64_t Value::i64() const {
    if (object_->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return object_->via.i64;
    if (object_->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        object_->via.u64 <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(object_->via.u64);
    wrong("a 64-bit signed integer");
}

double Value::f64() const {
    if (object_->type != MSGPACK_OBJECT_FLOAT64 && object_->type != MSGPACK_OBJECT_FLOAT32)
        wrong("a float");
    return object_->via.f64;
}

bool Value::boolean() const {
    if (object_->type != MSGPACK_OBJECT_BOOLEAN)
        wrong("a boolean");
    return object_->via.boolean;
}

std::string_view Value::str() const {
    if (object_->type != MSGPACK_OBJECT_STR)
        wrong("a string");
    return {object_->via.str.ptr, object_->via.str.size};
}

std::size_t Value::size() const {
    if (object_->type != MSGPACK_OBJECT_ARRAY)
        wrong("an array");
    return object_->via.array.size;
}

Value Value::at(std::size_t i, const char *what) const {
    if (i >= size())
        throw ProtocolError(std::string(what_) + ": missing element " + what);
    return Value(object_->via.array.ptr[i], what);
}

std::size_t Value::map_size() const {
    if (object_->type != MSGPACK_OBJECT_MAP)
        wrong("a map");
    return object_->via.map.size;
}

std::string_view Value::key(std::size_t i) const {
    if (i >= map_size())
        throw ProtocolError(std::string(what_) + ": map index out of range");
    return Value(object_->via.map.ptr[i].key, what_).str();
}

Value Value::value(std::size_t i, const char *what) const {
    if (i >= map_size())
        throw ProtocolError(std::string(what_) + ": map index out of range");
    return Value(object_->via.map.ptr[i].val, what);
}

namespace {

// msgpack_unpack allocates an array's or map's elements when it reads the
// count, before their bytes: five bytes claiming 2^32 elements asked for
// 100 GB (and aborted a sanitizer build). Every element takes at least one
// byte, so counts that add up to more than the message's size are a lie; so
// is nesting deeper than the unpacker's own stack (32). This pass, with
// msgpack-cxx's parser, allocates nothing.
class CountCheck final : public msgpack::null_visitor {
  public:
    explicit CountCheck(std::size_t bytes) : bytes_(bytes) {}
    bool start_array(std::uint32_t n) { return open(n); }
    bool end_array() { return close(); }
    bool start_map(std::uint32_t n) { return open(2ull * n); }
    bool end_map() { return close(); }
    void parse_error(std::size_t, std::size_t) {}
    void insufficient_bytes(std::size_t, std::size_t) {}

  private:
    static constexpr int max_depth = 32;
    bool open(std::uint64_t elements) {
        elements_ += elements;
        return elements_ <= bytes_ && ++depth_ <= max_depth;
    }
    bool close() {
        --depth_;
        return true;
    }
    std::size_t bytes_;
    std::uint64_t elements_ = 0;
    int depth_ = 0;
};

} // namespace

Message::Message(std::string payload) : payload_(std::move(payload)) {
    std::size_t scanned = 0;
    CountCheck check(payload_.size());
    if (!msgpack::parse(payload_.data(), payload_.size(), scanned, check))
        throw ProtocolError("message: not one well-formed MessagePack value, or its element "
                            "counts exceed its size or it nests deeper than 32");
    msgpack_unpacked_init(&unpacked_);
    std::size_t offset = 0;
    const auto ret = msgpack_unpack_next(&unpacked_, payload_.data(), payload_.size(), &offset);
    if (ret != MSGPACK_UNPACK_SUCCESS || offset != payload_.size()) {
        msgpack_unpacked_destroy(&unpacked_);
        throw ProtocolError(ret == MSGPACK_UNPACK_SUCCESS
                                ? "message: bytes after the value"
                                : "message: not one well-formed MessagePack value");
    }
}

Message::~Message() {
    msgpack_unpacked_destroy(&unpacked_);
}

bool write_all(int fd, std::string_view bytes) noexcept {
    while (!bytes.empty()) {
        const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, -1);
                continue;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool FrameReader::fill(std::size_t need, bool at_frame_start) {
    const auto spin_until = std::chrono::steady_clock::now() + spin_;
    while (end_ - start_ < need) {
        if (start_ + need > buffer_.size()) { // compact, then make room for all of it
            std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
            end_ -= start_;
            start_ = 0;
            if (need > buffer_.size())
                buffer_.resize(need);
        }
        const bool spinning = spin_.count() > 0 && std::chrono::steady_clock::now() < spin_until;
        // Straight into the buffer, as much as is there (also the start of
        // the next frame): a large reply costs few calls and no extra copy.
        const auto n =
            ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, spinning ? MSG_DONTWAIT : 0);
        if (n > 0) {
            end_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0 || (n < 0 && errno == ECONNRESET)) { // the peer is gone
            if (at_frame_start && end_ == start_)
                return false;
            throw ProtocolError("connection closed inside a message");
        }
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        throw ProtocolError(std::string("read: ") + std::strerror(errno));
    }
    return true;
}

bool FrameReader::next(std::string &payload) {
    if (!fill(header_size, true))
        return false;
    std::uint32_t len = 0;
    for (std::size_t i = 0; i < header_size; ++i)
        len |= static_cast<std::uint32_t>(static_cast<unsigned char>(buffer_[start_ + i]))
               << (8 * i);
    if (len > max_frame_)
        throw ProtocolError("message of " + std::to_string(len) + " bytes exceeds the limit of " +
                            std::to_string(max_frame_));
    fill(header_size + len, false);
    payload.assign(buffer_, start_ + header_size, len);
    start_ += header_size + len;
    if (start_ == end_) {
        start_ = end_ = 0;
        // Give back what one large message took: a set holds at most the
        // usual read size between listings.
        if (buffer_.size() > 4 * read_size)
            std::string(read_size, '\0').swap(buffer_);
    }
    return true;
}

} // namespace cloudhost::isolation
