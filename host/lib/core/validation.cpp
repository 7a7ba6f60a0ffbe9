#include "validation.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace cloudhost {
namespace {

constexpr std::size_t max_shown = 80; // keep the one error line readable

// The offending value as printable ASCII (it may be anything).
std::string printable(std::string_view s) {
    std::string out;
    for (const unsigned char c : s.substr(0, max_shown)) {
        if (c < ' ' || c >= 0x7f || c == '"' || c == '\\') {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > max_shown)
        out += "...";
    return out;
}

bool is_ascii_alnum(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

} // namespace

void validate_instance_set_id(const std::string &id) {
    // xxxxx-xxxxx-xxxxxxxxxxxxxxx
    constexpr std::size_t first_dash = 5, second_dash = 11, length = 27;
    bool ok = id.size() == length;
    for (std::size_t i = 0; ok && i < id.size(); ++i)
        ok = (i == first_dash || i == second_dash) ? id[i] == '-' : is_ascii_alnum(id[i]);
    if (!ok)
        throw InvalidConfigError("InstanceSetID \"" + printable(id) +
                                 "\" does not have the form xxxxx-xxxxx-xxxxxxxxxxxxxxx "
                                 "(5, 5 and 15 ASCII letters or digits joined by '-')");
}

namespace detail {

void validate_config_json(std::string_view json) {
    rapidjson::Document document;
    // kParseDefaultFlags: strict JSON, comments and trailing commas rejected.
    document.Parse<rapidjson::kParseDefaultFlags>(json.data(), json.size());
    if (!document.HasParseError())
        return;
    const std::size_t offset = std::min(document.GetErrorOffset(), json.size());
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (json[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    const std::size_t column = offset - line_start + 1; // bytes, 1-based
    throw InvalidConfigError("config: line " + std::to_string(line) + ", column " +
                             std::to_string(column) + ": " +
                             rapidjson::GetParseError_En(document.GetParseError()));
}

void validate_tag_keys(const Tags &tags, std::string_view what) {
    for (const auto &[key, value] : tags)
        if (key.empty())
            throw InvalidConfigError(std::string(what) + ": tag with an empty key (value \"" +
                                     printable(value) + "\"); tag keys must not be empty");
}

} // namespace detail
} // namespace cloudhost
