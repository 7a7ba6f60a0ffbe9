// tags.json and meta.json of a loopback instance (RapidJSON).
#pragma once

#include <cloudhost/driver_sdk.hpp>

#include <string>
#include <string_view>

namespace cloudhost::loopback {

// What Create knew about the instance; never changes afterwards.
struct InstanceMeta {
    std::string provider_type;
    std::string instance_type; // the configured type name
    std::string image_id;
    std::string created_at; // RFC 3339, UTC
    std::string instance_set_id;
};

std::string tags_to_json(const sdk::Tags &tags);
// Throws sdk::Error naming `source` when the text is not an object of strings.
sdk::Tags tags_from_json(std::string_view json, const std::string &source);

std::string meta_to_json(const InstanceMeta &meta);
InstanceMeta meta_from_json(std::string_view json, const std::string &source);

} // namespace cloudhost::loopback
