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

// Bounds on what a driver hands back (documented in driver.h). Generous for
// any cloud, small enough that a hostile driver cannot make the host hold
// or print unbounded data.
inline constexpr std::size_t max_driver_instance_id_bytes = 256;
inline constexpr std::size_t max_driver_string_bytes = 4096; // address, user, string, type
inline constexpr std::size_t max_driver_tags = 1024;         // per instance
inline constexpr std::size_t max_driver_tag_bytes = 4096;    // each key and value
inline constexpr std::size_t max_driver_price_points = 100000;

// What is wrong with an instance id a driver handed over, or nothing:
// non-empty, at most max_driver_instance_id_bytes, valid UTF-8 without
// control characters (the tag rules' text check).
std::optional<std::string> instance_id_problem(std::string_view id);

// The config must be one JSON document (no comments, nothing after it).
// Message: "config: line L, column C: <RapidJSON's description>".
void validate_config_json(std::string_view json);

// An InstanceType as handed to Create: name and provider type non-empty and
// free of control characters, price finite and >= 0, scratch adding up.
// `what` names the call ("Create").
void validate_instance_type(const InstanceType &type, std::string_view what);

} // namespace cloudhost::detail
