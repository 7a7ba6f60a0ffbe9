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
    // The tags given to Create: what the instance is listed with when its
    // tags.json cannot be read (they hold the host's InstanceSetID).
    sdk::Tags tags_at_create;
};

// Deeper nesting is refused before it is parsed (every state file is an
// object of strings, at most two levels deep).
inline constexpr size_t max_json_depth = 32;

std::string tags_to_json(const sdk::Tags &tags);
// Throws sdk::Error naming `source` (with "LINE:COLUMN" for a syntax error,
// a NUL byte or nesting beyond max_json_depth) when the text is not an
// object of strings.
sdk::Tags tags_from_json(std::string_view json, const std::string &source);

std::string meta_to_json(const InstanceMeta &meta);
InstanceMeta meta_from_json(std::string_view json, const std::string &source);

} // namespace cloudhost::loopback
