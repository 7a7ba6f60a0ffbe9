#include "health_check.hpp"

#include <exception>
#include <vector>

namespace cloudhost::detail {

namespace {

constexpr int attempts = 5;
constexpr std::size_t ids_in_reason = 5;

std::string id_list(const std::vector<std::string> &ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size() && i < ids_in_reason; ++i)
        out += (i ? ", " : "") + ids[i];
    if (ids.size() > ids_in_reason)
        out += ", ... (" + std::to_string(ids.size()) + " in all)";
    return out;
}

} // namespace

HealthCheckResult check_same_instances(const std::shared_ptr<Binding> &active,
                                       const std::shared_ptr<Binding> &candidate) {
    HealthCheckResult result;
    const auto &info = candidate->library().info();
    const std::string who = info.name + " " + info.version;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        BoundInstances before, listed, after;
        try {
            BindingUse use(active);
            before = list_bound_instances(active);
        } catch (const std::exception &e) {
            result.reason = std::string("the active version failed Instances: ") + e.what();
            result.conclusive = false;
            return result;
        }
        try {
            listed = list_bound_instances(candidate);
        } catch (const std::exception &e) {
            result.reason = who + " failed Instances: " + e.what();
            result.conclusive = false;
            return result;
        }
        try {
            BindingUse use(active);
            after = list_bound_instances(active);
        } catch (const std::exception &e) {
            result.reason = std::string("the active version failed Instances: ") + e.what();
            result.conclusive = false;
            return result;
        }
        std::vector<std::string> missing, extra;
        for (const auto &[id, bound] : before)
            if (after.count(id) && !listed.count(id))
                missing.push_back(id);
        for (const auto &[id, bound] : listed)
            if (!before.count(id) && !after.count(id))
                extra.push_back(id);
        if (missing.empty() && extra.empty()) {
            result.ok = true;
            result.reason.clear();
            result.candidate_list = std::move(listed);
            return result;
        }
        result.reason = who + " lists different instances than the active version:";
        if (!missing.empty())
            result.reason += " missing " + id_list(missing);
        if (!extra.empty())
            result.reason += std::string(missing.empty() ? "" : ";") + " extra " + id_list(extra);
    }
    return result;
}

} // namespace cloudhost::detail
