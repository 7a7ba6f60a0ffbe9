#include "positioned_json.hpp"

#include "cloudhost/json_depth_limit.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>

namespace cloudhost::config_detail {

TextPosition position_of(std::string_view text, std::size_t offset) {
    TextPosition p;
    offset = std::min(offset, text.size());
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++p.line;
            p.column = 1;
        } else {
            ++p.column;
        }
    }
    return p;
}

namespace {

// Input stream that exposes the text and the current offset.
struct TextStream {
    using Ch = char;
    std::string_view text;
    std::size_t pos = 0;
    Ch Peek() const { return pos < text.size() ? text[pos] : '\0'; }
    Ch Take() { return pos < text.size() ? text[pos++] : '\0'; }
    std::size_t Tell() const { return pos; }
    Ch *PutBegin() { return nullptr; }
    void Put(Ch) {}
    void Flush() {}
    std::size_t PutEnd(Ch *) { return 0; }
};

// Start of the string token that ends just before `end` (its closing quote
// is at end - 1): walk back to the opening quote, skipping escaped quotes.
std::size_t string_token_begin(std::string_view text, std::size_t end) {
    if (end < 2)
        return 0;
    std::size_t i = end - 1; // closing quote
    while (i > 0) {
        --i;
        if (text[i] != '"')
            continue;
        std::size_t backslashes = 0;
        for (std::size_t j = i; j > 0 && text[j - 1] == '\\'; --j)
            ++backslashes;
        if (backslashes % 2 == 0)
            return i;
    }
    return 0;
}

// Start of a number/true/false/null token ending at `end`.
std::size_t scalar_token_begin(std::string_view text, std::size_t end) {
    std::size_t i = end;
    while (i > 0) {
        char c = text[i - 1];
        bool token_char = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '+' ||
                          c == '-' || c == '.' || c == 'E';
        if (!token_char)
            break;
        --i;
    }
    return i;
}

class TreeBuilder {
  public:
    using Ch = char;
    explicit TreeBuilder(TextStream &stream) : stream_(stream) {}

    JsonNode root;

    bool Null() { return scalar(JsonNode{}); }
    bool Bool(bool b) {
        JsonNode n;
        n.kind = JsonNode::Kind::boolean;
        n.boolean = b;
        return scalar(std::move(n));
    }
    bool Int(int v) { return Int64(v); }
    bool Int64(int64_t v) {
        JsonNode n;
        n.kind = v < 0 ? JsonNode::Kind::integer : JsonNode::Kind::unsigned_integer;
        n.integer = v;
        n.unsigned_integer = v < 0 ? 0 : static_cast<uint64_t>(v);
        n.real = static_cast<double>(v);
        return scalar(std::move(n));
    }
    bool Uint(unsigned v) { return Uint64(v); }
    bool Uint64(uint64_t v) {
        JsonNode n;
        n.kind = JsonNode::Kind::unsigned_integer;
        n.unsigned_integer = v;
        n.integer = v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
        n.real = static_cast<double>(v);
        return scalar(std::move(n));
    }
    bool Double(double d) {
        JsonNode n;
        n.kind = JsonNode::Kind::real;
        n.real = d;
        return scalar(std::move(n));
    }
    bool RawNumber(const char *, rapidjson::SizeType, bool) { return false; }
    bool String(const char *s, rapidjson::SizeType len, bool) {
        JsonNode n;
        n.kind = JsonNode::Kind::string;
        n.string.assign(s, len);
        n.begin = string_token_begin(stream_.text, stream_.Tell());
        return add(std::move(n), true);
    }
    bool StartObject() { return start(JsonNode::Kind::object); }
    bool Key(const char *s, rapidjson::SizeType len, bool) {
        Frame &f = stack_.back();
        std::string key(s, len);
        for (const auto &m : f.node.members)
            if (m.key == key) {
                duplicate_key_ = key;
                duplicate_offset_ = string_token_begin(stream_.text, stream_.Tell());
                return false;
            }
        f.pending_key = std::move(key);
        f.pending_key_offset = string_token_begin(stream_.text, stream_.Tell());
        return true;
    }
    bool EndObject(rapidjson::SizeType) { return finish(); }
    bool StartArray() { return start(JsonNode::Kind::array); }
    bool EndArray(rapidjson::SizeType) { return finish(); }

    std::string duplicate_key_;
    std::size_t duplicate_offset_ = 0;

  private:
    struct Frame {
        JsonNode node;
        std::string pending_key;
        std::size_t pending_key_offset = 0;
    };

    bool scalar(JsonNode n) {
        n.begin = scalar_token_begin(stream_.text, stream_.Tell());
        return add(std::move(n), true);
    }
    bool start(JsonNode::Kind kind) {
        Frame f;
        f.node.kind = kind;
        f.node.begin = stream_.Tell() - 1; // just read '{' or '['
        stack_.push_back(std::move(f));
        return true;
    }
    bool finish() {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        return add(std::move(f.node), false);
    }
    bool add(JsonNode n, bool set_end) {
        n.end = stream_.Tell();
        (void)set_end;
        if (stack_.empty()) {
            root = std::move(n);
            return true;
        }
        Frame &parent = stack_.back();
        if (parent.node.kind == JsonNode::Kind::array) {
            parent.node.items.push_back(std::move(n));
        } else {
            n.key_offset = parent.pending_key_offset;
            parent.node.members.push_back({std::move(parent.pending_key), std::move(n)});
        }
        return true;
    }

    TextStream &stream_;
    std::vector<Frame> stack_;
};

} // namespace

JsonNode parse_positioned_json(std::string_view text) {
    // RapidJSON's stream ends at the first NUL: what follows would be
    // silently ignored.
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
        throw JsonSyntaxError("contains a NUL byte (a config file is text)", nul);
    TextStream stream{text, 0};
    TreeBuilder builder(stream);
    // The recursive reader keeps its positions exact; the wrapper stops it
    // before it recurses past max_json_depth.
    json::DepthLimitedHandler<TreeBuilder> limited(builder, max_json_depth);
    rapidjson::Reader reader;
    // No kParseFullPrecisionFlag: RapidJSON 1.1.0's full-precision path has
    // undefined behaviour on a zero with an exponent ("0e0040": clz(0), then
    // a negative shift; found by tests/fuzz). Config numbers do not need
    // correctly rounded last digits.
    rapidjson::ParseResult ok =
        reader.Parse<rapidjson::kParseValidateEncodingFlag>(stream, limited);
    if (limited.too_deep())
        // The reader has taken the bracket that opens the level too many.
        throw JsonSyntaxError(json::too_deep_message(max_json_depth), ok.Offset() - 1);
    if (!builder.duplicate_key_.empty())
        throw JsonSyntaxError("duplicate key \"" + builder.duplicate_key_ + "\"",
                              builder.duplicate_offset_);
    if (!ok)
        throw JsonSyntaxError(rapidjson::GetParseError_En(ok.Code()), ok.Offset());
    return std::move(builder.root);
}

} // namespace cloudhost::config_detail
