// Checks of what a caller hands to the host, before any driver code runs.
// Each throws InvalidConfigError with one line naming the field and the rule.
#pragma once

#include "cloudhost/types.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cloudhost::detail {

// Tag limits every major cloud accepts, so a tag the host lets through is
// never refused half-way by the driver. AWS: key <= 128, value <= 256
// characters, 50 tags per resource; Azure: name <= 512 (128 for storage
// accounts), value <= 256, 50 tags; GCE metadata items (where Arvados keeps
// tags): key <= 128 bytes. We count bytes, which is never more lenient than
// counting characters.
inline constexpr std::size_t max_tag_key_bytes = 128;
inline constexpr std::size_t max_tag_value_bytes = 256;
inline constexpr std::size_t max_tags_per_set = 50;

// `s` as printable ASCII for an error line: control bytes, '"', '\\' and
// non-ASCII bytes as \xNN; cut after 80 bytes with "...".
std::string printable(std::string_view s);

// Control characters (C0, DEL, C1) or malformed UTF-8 in `s`, or nothing.
std::optional<std::string> text_problem(std::string_view s);

// What is wrong with one tag key or value, or nothing: the rule only, for
// callers that put their own position in front (config file, CLI flags).
// Keys: non-empty, <= max_tag_key_bytes, valid UTF-8, no control characters.
// Values: the same, except that they may be empty and <= max_tag_value_bytes.
std::optional<std::string> tag_key_problem(std::string_view key);
std::optional<std::string> tag_value_problem(std::string_view value);
// The count rule, or nothing.
std::optional<std::string> tag_count_problem(std::size_t count);

// Every tag of `tags` obeys the rules above. `what` names the tag set
// ("SetTags", "Create InstanceTags", ...). Message, one line:
//   <what>: tag key "<key>": <rule>   or   <what>: tag "<key>": value <rule>
void validate_tags(const Tags &tags, std::string_view what);

// The config must be one JSON document (no comments, nothing after it).
// Message: "config: line L, column C: <RapidJSON's description>".
void validate_config_json(std::string_view json);

// An InstanceType as handed to Create: name and provider type non-empty and
// free of control characters, price finite and >= 0, scratch adding up.
// `what` names the call ("Create").
void validate_instance_type(const InstanceType &type, std::string_view what);

} // namespace cloudhost::detail
