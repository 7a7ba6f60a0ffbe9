#include "state_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace cloudhost::loopback {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer &writer, std::string_view s) {
    writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

rapidjson::Document parse_object(std::string_view json, const std::string &source) {
    rapidjson::Document document;
    document.Parse(json.data(), json.size());
    if (document.HasParseError())
        throw sdk::Error(source + ": invalid JSON at offset " +
                         std::to_string(document.GetErrorOffset()) + ": " +
                         rapidjson::GetParseError_En(document.GetParseError()));
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

} // namespace

std::string tags_to_json(const sdk::Tags &tags) {
    rapidjson::StringBuffer buffer;
    Writer writer(buffer);
    writer.StartObject();
    for (const auto &[key, value] : tags) {
        write_string(writer, key);
        write_string(writer, value);
    }
    writer.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

sdk::Tags tags_from_json(std::string_view json, const std::string &source) {
    const rapidjson::Document document = parse_object(json, source);
    sdk::Tags tags;
    for (const auto &member : document.GetObject()) {
        if (!member.value.IsString())
            throw sdk::Error(source + ": the value of tag \"" + member.name.GetString() +
                             "\" must be a string");
        tags.insert_or_assign(
            std::string(member.name.GetString(), member.name.GetStringLength()),
            std::string(member.value.GetString(), member.value.GetStringLength()));
    }
    return tags;
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
    return meta;
}

} // namespace cloudhost::loopback
