// Checks of what a caller hands to the host, before any driver code runs.
// Each throws InvalidConfigError with one line naming the field and the rule.
#pragma once

#include "cloudhost/types.hpp"

#include <string_view>

namespace cloudhost::detail {

// The config must be one JSON document (no comments, nothing after it).
// Message: "config: line L, column C: <RapidJSON's description>".
void validate_config_json(std::string_view json);

// Every tag key must be non-empty. `what` names the tag set in the message.
void validate_tag_keys(const Tags &tags, std::string_view what);

} // namespace cloudhost::detail
