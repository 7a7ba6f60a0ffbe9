#include "quota_group.hpp"

#include <cctype>

namespace cloudhost::ec2 {

std::string quota_group(const std::string &provider_type, bool preemptible,
                        const std::map<std::string, std::string> &groups) {
    std::string type = provider_type;
    for (char &c : type)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t family_length = 0;
    while (family_length < type.size() &&
           std::islower(static_cast<unsigned char>(type[family_length])))
        ++family_length;
    std::string group = type.substr(0, family_length);
    std::size_t best = 0;
    for (const auto &[prefix, name] : groups)
        if (prefix.size() >= family_length && prefix.size() > best && type.rfind(prefix, 0) == 0) {
            best = prefix.size();
            group = name;
        }
    if (group.empty())
        return group;
    return preemptible ? group + "-spot" : group;
}

} // namespace cloudhost::ec2
