// A message of the driver helper protocol (host/lib/isolation): what a
// helper sends the host, or the host a helper, is untrusted either way.
// Decoding it and reading every value with every reader of the protocol
// ends in a value or a ProtocolError: never a crash, a hang or an
// allocation the message's size does not justify.
#include "isolation/protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace cloudhost::isolation;

namespace {

template <class Read> void attempt(Read &&read) {
    try {
        read();
    } catch (const ProtocolError &) {
    }
}

void walk(const Value &v, int depth) {
    if (depth > 40) // the decoder refuses deeper nesting than 32
        __builtin_trap();
    attempt([&] { (void)v.str(); });
    attempt([&] { (void)v.u64(); });
    attempt([&] { (void)v.i64(); });
    attempt([&] { (void)v.f64(); });
    attempt([&] { (void)v.boolean(); });
    attempt([&] { (void)read_tags(v); });
    attempt([&] {
        std::vector<std::pair<std::string_view, std::string_view>> views;
        read_tag_views(v, views);
    });
    attempt([&] { (void)read_instance_type(v); });
    attempt([&] { (void)read_metrics_snapshot(v); });
    attempt([&] {
        const auto n = v.size();
        for (std::size_t i = 0; i < n; ++i) {
            attempt([&] { (void)read_error(v, i); });
            walk(v.at(i, "element"), depth + 1);
        }
        (void)v.at(n, "one past the end"); // must throw
        __builtin_trap();
    });
    attempt([&] {
        const auto n = v.map_size();
        for (std::size_t i = 0; i < n; ++i) {
            attempt([&] { (void)v.key(i); });
            walk(v.value(i, "value"), depth + 1);
        }
    });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        const Message message(std::string(reinterpret_cast<const char *>(data), size));
        walk(message.root(), 0);
    } catch (const ProtocolError &) {
    }
    return 0;
}
