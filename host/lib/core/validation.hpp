// Checks of what a caller hands to the host, before any driver code runs.
// Each throws InvalidConfigError with one line naming the field and the rule.
// The tag rules are public: cloudhost/tag_rules.hpp.
#pragma once

#include "cloudhost/tag_rules.hpp"
#include "cloudhost/types.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cloudhost::detail {

using cloudhost::printable; // declared in cloudhost/tag_rules.hpp

// Control characters (C0, DEL, C1) or malformed UTF-8 in `s`, or nothing.
std::optional<std::string> text_problem(std::string_view s);

// The config must be one JSON document (no comments, nothing after it).
// Message: "config: line L, column C: <RapidJSON's description>".
void validate_config_json(std::string_view json);

// An InstanceType as handed to Create: name and provider type non-empty and
// free of control characters, price finite and >= 0, scratch adding up.
// `what` names the call ("Create").
void validate_instance_type(const InstanceType &type, std::string_view what);

} // namespace cloudhost::detail
