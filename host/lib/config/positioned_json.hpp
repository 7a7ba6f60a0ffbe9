// A JSON tree that remembers where each value and key stood in the text, so
// that configuration errors can name file, line and column. Parsed with
// RapidJSON's SAX reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cloudhost::config_detail {

struct TextPosition {
    std::size_t line = 1;   // 1-based
    std::size_t column = 1; // 1-based, in bytes
};

// Line and column of byte `offset` in `text`.
TextPosition position_of(std::string_view text, std::size_t offset);

struct JsonMember;

struct JsonNode {
    enum class Kind { null, boolean, integer, unsigned_integer, real, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    int64_t integer = 0; // valid for integer and unsigned_integer that fit
    uint64_t unsigned_integer = 0;
    double real = 0; // valid for every number kind
    std::string string;
    std::vector<JsonNode> items;     // array
    std::vector<JsonMember> members; // object, in text order
    std::size_t begin = 0;           // byte span of the value in the text
    std::size_t end = 0;
    std::size_t key_offset = 0; // for an object member: where its key starts

    bool is_number() const {
        return kind == Kind::integer || kind == Kind::unsigned_integer || kind == Kind::real;
    }
};

struct JsonMember {
    std::string key;
    JsonNode value;
};

// Thrown for malformed JSON; `offset` is where RapidJSON stopped.
class JsonSyntaxError : public std::runtime_error {
  public:
    JsonSyntaxError(const std::string &what, std::size_t offset)
        : std::runtime_error(what), offset(offset) {}
    std::size_t offset;
};

// Deepest nesting of arrays and objects accepted (the config nests 4
// levels; the tree and its destructor recurse once per level).
inline constexpr unsigned max_json_depth = 64;

// Parses a complete JSON document (no comments, no trailing commas).
// Duplicate object keys are a syntax error: silently keeping one of two
// values is how configs go wrong. So are NUL bytes and nesting deeper than
// max_json_depth.
JsonNode parse_positioned_json(std::string_view text);

} // namespace cloudhost::config_detail
