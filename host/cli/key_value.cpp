#include "key_value.hpp"

namespace cloudhost::cli {

std::pair<std::string, std::string> parse_key_value(const std::string &text,
                                                    const std::string &flag) {
    auto eq = text.find('=');
    if (eq == std::string::npos)
        throw UsageError(flag + ": \"" + text + "\" is not of the form KEY=VALUE");
    if (eq == 0)
        throw UsageError(flag + ": \"" + text + "\" has an empty key");
    return {text.substr(0, eq), text.substr(eq + 1)};
}

Tags parse_tags(const std::vector<std::string> &items, const std::string &flag) {
    Tags tags;
    for (const auto &item : items) {
        auto [k, v] = parse_key_value(item, flag);
        if (!tags.emplace(k, v).second)
            throw UsageError(flag + ": key \"" + k + "\" given twice");
    }
    return tags;
}

} // namespace cloudhost::cli
