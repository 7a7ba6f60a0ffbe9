#include "instance_collector.hpp"

#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

bool matches_filter(const std::vector<std::pair<std::string_view, std::string_view>> &tags,
                    const Tags &filter) noexcept {
    for (const auto &[key, value] : filter) {
        bool found = false;
        for (std::size_t i = 0; !found && i < tags.size(); ++i)
            found = tags[i].first == key && tags[i].second == value;
        if (!found)
            return false;
    }
    return true;
}

bool InstanceCollector::take(InstanceRef ref, const InstanceDescView &desc) noexcept {
    if (failed_)
        return false;
    if (filter_ && !matches_filter(desc.tags, *filter_)) {
        ++skipped_;
        return false;
    }
    std::shared_ptr<InstanceCore> core;
    try {
        if (!provider_type_ || *provider_type_ != desc.provider_type)
            provider_type_ = std::make_shared<const std::string>(desc.provider_type);
        core = std::make_shared<InstanceCore>(desc.id, provider_type_, set_, binding_, ref);
    } catch (...) {
        failed_ = true;
        return false; // the core never took the reference over
    }
    try {
        instances_.emplace_back(std::move(core));
    } catch (...) {
        failed_ = true; // `core` releases it, deferred by the endpoint
    }
    return true;
}

void InstanceCollector::check(std::string_view operation) const {
    if (failed_)
        throw DriverError(std::string(operation) + ": out of memory while copying instances");
}

} // namespace cloudhost::detail
