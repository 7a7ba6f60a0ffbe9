// The rules every tag key and value must obey. The host checks them before
// any driver call (Create, SetTags, the Instances filter, SharedResourceTags)
// so a bad tag is refused as a whole instead of half-applied by a cloud;
// dispatchers may check their own input with the same functions.
//
// Limits every major cloud accepts. AWS: key <= 128, value <= 256
// characters, 50 tags per resource; Azure: name <= 512 (128 for storage
// accounts), value <= 256, 50 tags; GCE metadata items (where Arvados keeps
// tags): key <= 128 bytes. Bytes are counted, which is never more lenient
// than counting characters. Keys and values must be valid UTF-8 without
// control characters (C0, DEL, C1).
#pragma once

#include "cloudhost/export.hpp"

#include "cloudhost/types.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cloudhost {

inline constexpr std::size_t max_tag_key_bytes = 128;
inline constexpr std::size_t max_tag_value_bytes = 256;
inline constexpr std::size_t max_tags_per_set = 50;

// What is wrong with one tag key or value, or nothing: the rule only, for
// callers that put their own position in front (config file, CLI flags).
// Keys: non-empty, <= max_tag_key_bytes, valid UTF-8, no control characters.
// Values: the same, except that they may be empty and <= max_tag_value_bytes.
CLOUDHOST_API std::optional<std::string> tag_key_problem(std::string_view key);
CLOUDHOST_API std::optional<std::string> tag_value_problem(std::string_view value);
// The count rule, or nothing.
CLOUDHOST_API std::optional<std::string> tag_count_problem(std::size_t count);

// `s` as printable ASCII for an error line: control bytes, '"', '\\' and
// non-ASCII bytes as \xNN; cut after 80 bytes with "..." (escape_text() in
// cloudhost/printable.hpp with that style).
CLOUDHOST_API std::string printable(std::string_view s);

// Throws InvalidConfigError unless every tag of `tags` obeys the rules.
// `what` names the tag set ("SetTags", "Create InstanceTags", ...). One line:
//   <what>: tag key "<key>": <rule>   or   <what>: tag "<key>": value <rule>
CLOUDHOST_API void validate_tags(const Tags &tags, std::string_view what);

} // namespace cloudhost
