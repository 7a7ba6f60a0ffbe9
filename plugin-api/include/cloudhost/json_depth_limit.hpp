// Bounded nesting for RapidJSON readers (header-only; needs RapidJSON).
//
// RapidJSON's recursive reader, its DOM and every tree built from it recurse
// once per nesting level: a file of 30,000 '[' overflows the stack. Wrap the
// handler so that parsing stops at `max_depth` levels, and say so:
//
//   cloudhost::json::DepthLimitedHandler<MyHandler> limited(handler);
//   rapidjson::ParseResult ok = reader.Parse<flags>(stream, limited);
//   if (limited.too_deep()) ... // "nesting deeper than 64 levels", at ok.Offset()
//
// or, for a rapidjson::Document, parse_document_with_depth_limit() below.
// The host, the stub and the loopback driver read JSON through this; a
// driver built with the SDK can do the same.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace cloudhost::json {

// Deep enough for any config or state file we write (they nest 4 levels),
// shallow enough that the recursive DOM destructor stays far from the stack
// limit of any thread.
inline constexpr unsigned default_max_depth = 64;

// "nesting deeper than 64 levels (arrays and objects)"
inline std::string too_deep_message(unsigned max_depth = default_max_depth) {
    return "nesting deeper than " + std::to_string(max_depth) + " levels (arrays and objects)";
}

// Forwards every SAX event to `inner`; refuses the array or object that
// would open level max_depth + 1, which stops the reader
// (kParseErrorTermination at that bracket).
template <typename Handler> class DepthLimitedHandler {
  public:
    using Ch = typename Handler::Ch;

    explicit DepthLimitedHandler(Handler &inner, unsigned max_depth = default_max_depth)
        : inner_(inner), max_depth_(max_depth) {}

    // True when parsing stopped because of the depth limit.
    bool too_deep() const { return too_deep_; }
    unsigned max_depth() const { return max_depth_; }

    bool Null() { return inner_.Null(); }
    bool Bool(bool b) { return inner_.Bool(b); }
    bool Int(int i) { return inner_.Int(i); }
    bool Uint(unsigned u) { return inner_.Uint(u); }
    bool Int64(int64_t i) { return inner_.Int64(i); }
    bool Uint64(uint64_t u) { return inner_.Uint64(u); }
    bool Double(double d) { return inner_.Double(d); }
    bool RawNumber(const Ch *s, rapidjson::SizeType n, bool copy) {
        return inner_.RawNumber(s, n, copy);
    }
    bool String(const Ch *s, rapidjson::SizeType n, bool copy) { return inner_.String(s, n, copy); }
    bool Key(const Ch *s, rapidjson::SizeType n, bool copy) { return inner_.Key(s, n, copy); }
    bool StartObject() { return enter() && inner_.StartObject(); }
    bool EndObject(rapidjson::SizeType members) {
        --depth_;
        return inner_.EndObject(members);
    }
    bool StartArray() { return enter() && inner_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) {
        --depth_;
        return inner_.EndArray(elements);
    }

  private:
    bool enter() {
        if (depth_ >= max_depth_) {
            too_deep_ = true;
            return false;
        }
        ++depth_;
        return true;
    }

    Handler &inner_;
    unsigned max_depth_;
    unsigned depth_ = 0;
    bool too_deep_ = false;
};

// The outcome of parse_document_with_depth_limit: RapidJSON's result, and
// whether it stopped at the depth limit (then offset() is the bracket).
struct BoundedParseResult {
    rapidjson::ParseResult result;
    bool too_deep = false;

    explicit operator bool() const { return !result.IsError(); }
    std::size_t offset() const { return result.Offset(); }
    // RapidJSON's description, or too_deep_message().
    std::string message(unsigned max_depth = default_max_depth) const;
};

// Parses `text` into `document` (strict JSON, UTF-8 validated, iterative
// reader) with at most `max_depth` levels of nesting. On error the document
// is left null.
template <unsigned ParseFlags = rapidjson::kParseValidateEncodingFlag, typename Document>
BoundedParseResult parse_document_with_depth_limit(Document &document, std::string_view text,
                                                   unsigned max_depth = default_max_depth) {
    BoundedParseResult outcome;
    // Populate() runs the reader with the document as handler and takes the
    // root only when it succeeded.
    auto generate = [&](Document &handler) {
        DepthLimitedHandler<Document> limited(handler, max_depth);
        rapidjson::MemoryStream stream(text.data(), text.size());
        rapidjson::GenericReader<typename Document::EncodingType, typename Document::EncodingType>
            reader;
        outcome.result =
            reader.template Parse<ParseFlags | rapidjson::kParseIterativeFlag>(stream, limited);
        outcome.too_deep = limited.too_deep();
        return !outcome.result.IsError();
    };
    document.SetNull();
    document.Populate(generate);
    return outcome;
}

} // namespace cloudhost::json

#include <rapidjson/error/en.h>

inline std::string cloudhost::json::BoundedParseResult::message(unsigned max_depth) const {
    if (too_deep)
        return too_deep_message(max_depth);
    return rapidjson::GetParseError_En(result.Code());
}
