#include "state_json.hpp"

#include <algorithm>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace cloudhost::loopback {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer &writer, std::string_view s) {
    writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// "LINE:COLUMN" (both from 1, the column in bytes) of `offset` in `text`.
std::string line_and_column(std::string_view text, size_t offset) {
    offset = std::min(offset, text.size());
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset; ++i)
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    return std::to_string(line) + ":" + std::to_string(offset - line_start + 1);
}

// Builds the DOM through a handler that refuses to nest deeper than
// max_json_depth, so no input can exhaust the stack (parsing is iterative
// too, and the pool allocator frees without recursion).
class DepthLimitedHandler {
  public:
    explicit DepthLimitedHandler(rapidjson::Document &document) : document_(document) {}
    bool too_deep() const { return too_deep_; }

    bool Null() { return document_.Null(); }
    bool Bool(bool b) { return document_.Bool(b); }
    bool Int(int i) { return document_.Int(i); }
    bool Uint(unsigned i) { return document_.Uint(i); }
    bool Int64(int64_t i) { return document_.Int64(i); }
    bool Uint64(uint64_t i) { return document_.Uint64(i); }
    bool Double(double d) { return document_.Double(d); }
    bool RawNumber(const char *s, rapidjson::SizeType n, bool copy) {
        return document_.RawNumber(s, n, copy);
    }
    bool String(const char *s, rapidjson::SizeType n, bool copy) {
        return document_.String(s, n, copy);
    }
    bool Key(const char *s, rapidjson::SizeType n, bool copy) { return document_.Key(s, n, copy); }
    bool StartObject() { return enter() && document_.StartObject(); }
    bool EndObject(rapidjson::SizeType n) { return leave() && document_.EndObject(n); }
    bool StartArray() { return enter() && document_.StartArray(); }
    bool EndArray(rapidjson::SizeType n) { return leave() && document_.EndArray(n); }

  private:
    bool enter() {
        too_deep_ = ++depth_ > max_json_depth;
        return !too_deep_;
    }
    bool leave() {
        --depth_;
        return true;
    }
    rapidjson::Document &document_;
    size_t depth_ = 0;
    bool too_deep_ = false;
};

rapidjson::Document parse_object(std::string_view json, const std::string &source) {
    // RapidJSON would take a NUL for the end of the text.
    if (const auto nul = json.find('\0'); nul != std::string_view::npos)
        throw sdk::Error(source + ":" + line_and_column(json, nul) + ": invalid JSON: a NUL byte");
    rapidjson::Document document;
    rapidjson::Reader reader;
    bool too_deep = false;
    auto generate = [&](rapidjson::Document &target) {
        DepthLimitedHandler handler(target);
        rapidjson::MemoryStream stream(json.data(), json.size());
        const bool ok = reader.Parse<rapidjson::kParseIterativeFlag>(stream, handler);
        too_deep = handler.too_deep();
        return ok;
    };
    document.Populate(generate);
    if (too_deep)
        throw sdk::Error(source + ":" + line_and_column(json, reader.GetErrorOffset()) +
                         ": invalid JSON: nested deeper than the limit of " +
                         std::to_string(max_json_depth) + " levels");
    if (reader.HasParseError())
        throw sdk::Error(
            source + ":" + line_and_column(json, reader.GetErrorOffset()) +
            ": invalid JSON: " + rapidjson::GetParseError_En(reader.GetParseErrorCode()));
    if (!document.IsObject())
        throw sdk::Error(source + ": expected a JSON object");
    return document;
}

std::string string_member(const rapidjson::Value &object, const char *name,
                          const std::string &source) {
    const auto it = object.FindMember(name);
    if (it == object.MemberEnd())
        return {};
    if (!it->value.IsString())
        throw sdk::Error(source + ": \"" + name + "\" must be a string");
    return {it->value.GetString(), it->value.GetStringLength()};
}

sdk::Tags tags_from_value(const rapidjson::Value &object, const std::string &source) {
    sdk::Tags tags;
    for (const auto &member : object.GetObject()) {
        if (!member.value.IsString())
            throw sdk::Error(source + ": the value of tag \"" + member.name.GetString() +
                             "\" must be a string");
        tags.insert_or_assign(
            std::string(member.name.GetString(), member.name.GetStringLength()),
            std::string(member.value.GetString(), member.value.GetStringLength()));
    }
    return tags;
}

void write_tags(Writer &writer, const sdk::Tags &tags) {
    writer.StartObject();
    for (const auto &[key, value] : tags) {
        write_string(writer, key);
        write_string(writer, value);
    }
    writer.EndObject();
}

} // namespace

std::string tags_to_json(const sdk::Tags &tags) {
    rapidjson::StringBuffer buffer;
    Writer writer(buffer);
    write_tags(writer, tags);
    return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

sdk::Tags tags_from_json(std::string_view json, const std::string &source) {
    return tags_from_value(parse_object(json, source), source);
}

std::string meta_to_json(const InstanceMeta &meta) {
    rapidjson::StringBuffer buffer;
    Writer writer(buffer);
    writer.StartObject();
    const std::pair<const char *, const std::string *> fields[] = {
        {"provider_type", &meta.provider_type},
        {"instance_type", &meta.instance_type},
        {"image_id", &meta.image_id},
        {"created_at", &meta.created_at},
        {"instance_set_id", &meta.instance_set_id}};
    for (const auto &[name, value] : fields) {
        writer.Key(name);
        write_string(writer, *value);
    }
    writer.Key("tags");
    write_tags(writer, meta.tags_at_create);
    writer.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

InstanceMeta meta_from_json(std::string_view json, const std::string &source) {
    const rapidjson::Document document = parse_object(json, source);
    InstanceMeta meta;
    meta.provider_type = string_member(document, "provider_type", source);
    meta.instance_type = string_member(document, "instance_type", source);
    meta.image_id = string_member(document, "image_id", source);
    meta.created_at = string_member(document, "created_at", source);
    meta.instance_set_id = string_member(document, "instance_set_id", source);
    if (const auto tags = document.FindMember("tags"); tags != document.MemberEnd()) {
        if (!tags->value.IsObject())
            throw sdk::Error(source + ": \"tags\" must be an object");
        meta.tags_at_create = tags_from_value(tags->value, source);
    }
    return meta;
}

} // namespace cloudhost::loopback
