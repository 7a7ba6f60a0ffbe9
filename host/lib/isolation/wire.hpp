// MessagePack framing for the driver helper protocol (protocol.hpp): a
// Writer that builds one frame (4-byte little-endian length + one msgpack
// value), a FrameReader that reads frames from a socket within a hard size
// limit, and Value, a checked view of a decoded message. Everything read
// is untrusted: every accessor checks the type and throws ProtocolError
// naming the field, so a malformed message is a fault of the peer, never a
// crash.
#pragma once

#include <msgpack.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cloudhost::isolation {

class ProtocolError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The default hard limit on one message (either direction).
inline constexpr std::size_t default_max_frame = 16u << 20;

// Bytes being encoded: grows like a vector, appends inline (msgpack-cxx's
// packer writes each header through it; a call per write through the C
// packer's callback was half of encoding a listing).
class EncodeBuffer {
  public:
    void write(const char *bytes, std::size_t n) {
        if (capacity_ - size_ < n)
            grow(n);
        std::memcpy(data_.get() + size_, bytes, n);
        size_ += n;
    }
    char *data() noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    void truncate(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }

  private:
    void grow(std::size_t n); // throws std::bad_alloc
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

// Builds one frame. Every write may throw std::bad_alloc; a Writer that
// threw is not used further.
class Writer {
  public:
    Writer();
    Writer(const Writer &) = delete;
    Writer &operator=(const Writer &) = delete;

    Writer &array(std::size_t n);
    Writer &map(std::size_t n);
    Writer &u64(std::uint64_t v);
    Writer &i64(std::int64_t v);
    Writer &f64(double v);
    Writer &boolean(bool v);
    Writer &str(std::string_view v);
    Writer &nil();
    // Values already encoded by another Writer (its encoded()).
    Writer &raw(std::string_view encoded);

    // What was written so far, without the length prefix; clear() starts
    // over, keeping the memory.
    std::string_view encoded() noexcept;
    void clear() noexcept;

    // The frame: length prefix patched in, ready to write.
    std::string_view frame();

  private:
    EncodeBuffer buffer_;
};

// A checked view of one msgpack value; `what` names it in errors.
class Value {
  public:
    Value(const msgpack_object &object, const char *what) : object_(&object), what_(what) {}

    bool is_nil() const noexcept { return object_->type == MSGPACK_OBJECT_NIL; }
    std::uint64_t u64() const;
    std::int64_t i64() const;
    double f64() const;
    bool boolean() const;
    std::string_view str() const;
    // Array access: size() and at(i) (checked).
    std::size_t size() const;
    Value at(std::size_t i, const char *what) const;
    // Map access: map_size(), key(i), value(i).
    std::size_t map_size() const;
    std::string_view key(std::size_t i) const;
    Value value(std::size_t i, const char *what) const;

  private:
    [[noreturn]] void wrong(const char *expected) const;
    const msgpack_object *object_;
    const char *what_;
};

// One decoded frame; owns the memory its Values point into.
class Message {
  public:
    // Throws ProtocolError if `payload` is not exactly one msgpack value.
    explicit Message(std::string payload);
    ~Message();
    Message(const Message &) = delete;
    Message &operator=(const Message &) = delete;
    Value root() const { return Value(unpacked_.data, "message"); }

  private:
    std::string payload_;
    msgpack_unpacked unpacked_;
};

// Writes all of `bytes` to the blocking socket `fd` (MSG_NOSIGNAL). False if
// the peer is gone.
bool write_all(int fd, std::string_view bytes) noexcept;

// Reads frames from a socket. `spin` > 0: after each frame, poll the socket
// without blocking for that long before sleeping in poll(2) (a cross-vCPU
// wake-up costs ~70 us on these machines; see bench_isolation).
class FrameReader {
  public:
    FrameReader(int fd, std::size_t max_frame, std::chrono::microseconds spin = {})
        : fd_(fd), max_frame_(max_frame), spin_(spin) {}
    // The next frame's payload. Returns false on a clean EOF before a frame
    // starts; throws ProtocolError on an oversized frame, EOF inside a frame
    // or a read error.
    bool next(std::string &payload);

  private:
    static constexpr std::size_t read_size = 64 * 1024;
    bool fill(std::size_t need, bool at_frame_start);
    int fd_;
    std::size_t max_frame_;
    std::chrono::microseconds spin_;
    std::string buffer_ = std::string(read_size, '\0'); // bytes [start_, end_) not yet taken
    std::size_t start_ = 0;
    std::size_t end_ = 0;
};

} // namespace cloudhost::isolation
