#include "key_value.hpp"

#include "cloudhost/tag_rules.hpp"

namespace cloudhost::cli {
namespace {

// "--tag #2": which occurrence of a repeatable flag an error is about.
std::string occurrence(const std::string &flag, std::size_t index) {
    return flag + " #" + std::to_string(index + 1);
}

bool is_shell_identifier(const std::string &name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (const char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

} // namespace

std::pair<std::string, std::string> parse_key_value(const std::string &text,
                                                    const std::string &flag) {
    auto eq = text.find('=');
    if (eq == std::string::npos)
        throw UsageError(flag + ": \"" + printable(text) + "\" is not of the form KEY=VALUE");
    if (eq == 0)
        throw UsageError(flag + ": \"" + printable(text) + "\" has an empty key");
    return {text.substr(0, eq), text.substr(eq + 1)};
}

Tags parse_tags(const std::vector<std::string> &items, const std::string &flag) {
    if (auto problem = tag_count_problem(items.size()))
        throw UsageError(flag + ": " + *problem);
    Tags tags;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string where = occurrence(flag, i);
        auto [k, v] = parse_key_value(items[i], where);
        if (auto problem = tag_key_problem(k))
            throw UsageError(where + ": tag key \"" + printable(k) + "\" " + *problem);
        if (auto problem = tag_value_problem(v))
            throw UsageError(where + ": tag \"" + printable(k) + "\": value " + *problem);
        if (!tags.emplace(k, v).second)
            throw UsageError(where + ": key \"" + printable(k) + "\" given twice");
    }
    return tags;
}

Tags parse_environment(const std::vector<std::string> &items, const std::string &flag) {
    Tags env;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string where = occurrence(flag, i);
        auto [k, v] = parse_key_value(items[i], where);
        if (!is_shell_identifier(k))
            throw UsageError(where + ": \"" + printable(k) +
                             "\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
        if (v.find('\0') != std::string::npos)
            throw UsageError(where + ": value of \"" + k + "\" contains a NUL byte");
        if (!env.emplace(k, v).second)
            throw UsageError(where + ": \"" + k + "\" given twice");
    }
    return env;
}

} // namespace cloudhost::cli
