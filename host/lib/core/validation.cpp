#include "validation.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/json_depth_limit.hpp"
#include "cloudhost/printable.hpp"
#include "cloudhost/tag_rules.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace cloudhost {
namespace {

constexpr std::size_t max_shown = 80; // keep the one error line readable

bool is_ascii_alnum(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// "\x0a": the shared escape of one byte (cloudhost/printable.hpp).
std::string hex_byte(unsigned char c) {
    return escape_text(std::string_view(reinterpret_cast<const char *>(&c), 1),
                       {.ascii_only = true, .escape_quotes = true});
}

} // namespace

namespace detail {

// Control characters (C0, DEL, and C1 as U+0080-U+009F) and malformed
// UTF-8: clouds refuse them or store them mangled, and they corrupt logs
// and terminals on the way.
std::optional<std::string> text_problem(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f)
            return "contains control character " + hex_byte(c) + " at byte " +
                   std::to_string(i + 1) + " (control characters are not allowed)";
        const std::size_t length = utf8_sequence_length(s, i);
        if (length == 0)
            return "is not valid UTF-8 (byte " + hex_byte(c) + " at byte " + std::to_string(i + 1) +
                   ")";
        if (length == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) <= 0x9f)
            return "contains control character U+00" +
                   hex_byte(static_cast<unsigned char>(s[i + 1])).substr(2) + " at byte " +
                   std::to_string(i + 1) + " (control characters are not allowed)";
        i += length;
    }
    return std::nullopt;
}

std::optional<std::string> instance_id_problem(std::string_view id) {
    if (id.empty())
        return std::string("an empty instance id (rule: ids are non-empty)");
    if (id.size() > max_driver_instance_id_bytes)
        return "an instance id of " + std::to_string(id.size()) + " bytes (at most " +
               std::to_string(max_driver_instance_id_bytes) + ")";
    // Printable ASCII, the usual case, needs no UTF-8 decoding.
    if (std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
        return std::nullopt;
    if (auto problem = text_problem(id))
        return "instance id \"" + printable(id) + "\" " + *problem;
    return std::nullopt;
}

} // namespace detail

std::string printable(std::string_view s) {
    return escape_text(s, {.ascii_only = true, .escape_quotes = true, .max_bytes = max_shown});
}

std::optional<std::string> tag_key_problem(std::string_view key) {
    if (key.empty())
        return std::string("is empty (tag keys must not be empty)");
    if (key.size() > max_tag_key_bytes)
        return "is " + std::to_string(key.size()) + " bytes long (at most " +
               std::to_string(max_tag_key_bytes) + ")";
    return detail::text_problem(key);
}

std::optional<std::string> tag_value_problem(std::string_view value) {
    if (value.size() > max_tag_value_bytes)
        return "is " + std::to_string(value.size()) + " bytes long (at most " +
               std::to_string(max_tag_value_bytes) + ")";
    return detail::text_problem(value);
}

std::optional<std::string> tag_count_problem(std::size_t count) {
    if (count <= max_tags_per_set)
        return std::nullopt;
    return std::to_string(count) + " tags (at most " + std::to_string(max_tags_per_set) +
           " per instance)";
}

void validate_tags(const Tags &tags, std::string_view what) {
    if (auto problem = tag_count_problem(tags.size()))
        throw InvalidConfigError(std::string(what) + ": " + *problem);
    for (const auto &[key, value] : tags) {
        if (auto problem = tag_key_problem(key))
            throw InvalidConfigError(std::string(what) + ": tag key \"" + detail::printable(key) +
                                     "\" " + *problem);
        if (auto problem = tag_value_problem(value))
            throw InvalidConfigError(std::string(what) + ": tag \"" + detail::printable(key) +
                                     "\": value " + *problem);
    }
}

void validate_instance_set_id(const std::string &id) {
    // xxxxx-xxxxx-xxxxxxxxxxxxxxx
    constexpr std::size_t first_dash = 5, second_dash = 11, length = 27;
    bool ok = id.size() == length;
    for (std::size_t i = 0; ok && i < id.size(); ++i)
        ok = (i == first_dash || i == second_dash) ? id[i] == '-' : is_ascii_alnum(id[i]);
    if (!ok)
        throw InvalidConfigError("InstanceSetID \"" + detail::printable(id) +
                                 "\" does not have the form xxxxx-xxxxx-xxxxxxxxxxxxxxx "
                                 "(5, 5 and 15 ASCII letters or digits joined by '-')");
}

namespace detail {

void validate_config_json(std::string_view json) {
    rapidjson::Document document;
    // Strict JSON (comments and trailing commas rejected), valid UTF-8, and
    // bounded nesting: a dispatcher's config of 30,000 '[' must be an error,
    // not a stack overflow here or in the DOM's destructor.
    const auto parsed = json::parse_document_with_depth_limit(document, json);
    if (parsed)
        return;
    const std::size_t offset = std::min(parsed.offset(), json.size());
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (json[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    const std::size_t column = offset - line_start + 1; // bytes, 1-based
    throw InvalidConfigError("config: line " + std::to_string(line) + ", column " +
                             std::to_string(column) + ": " + parsed.message());
}

void validate_instance_type(const InstanceType &type, std::string_view what) {
    const std::string prefix =
        std::string(what) + ": InstanceType \"" + printable(type.name) + "\"";
    // The host sends Name when ProviderType is empty (Arvados's default), so
    // only both empty leaves the driver nothing to ask the cloud for.
    if (type.provider_type.empty() && type.name.empty())
        throw InvalidConfigError(prefix + ": ProviderType is empty (and so is Name, its default)");
    if (auto problem = text_problem(type.name))
        throw InvalidConfigError(prefix + ": Name " + *problem);
    if (auto problem = text_problem(type.provider_type))
        throw InvalidConfigError(prefix + ": ProviderType \"" + printable(type.provider_type) +
                                 "\" " + *problem);
    if (!std::isfinite(type.price) || type.price < 0)
        throw InvalidConfigError(prefix + ": Price " + std::to_string(type.price) +
                                 " must be a finite number >= 0");
}

} // namespace detail
} // namespace cloudhost
