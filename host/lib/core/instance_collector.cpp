#include "instance_collector.hpp"

#include "abi_convert.hpp"

#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

bool matches_filter(const ch_tags &tags, const Tags &filter) noexcept {
    for (const auto &[key, value] : filter) {
        bool found = false;
        for (std::size_t i = 0; !found && i < tags.count; ++i)
            found = to_view(tags.items[i].key) == key && to_view(tags.items[i].value) == value;
        if (!found)
            return false;
    }
    return true;
}

void InstanceCollector::put(void *ctx, ch_instance *handle, const ch_instance_desc *desc) noexcept {
    if (handle)
        static_cast<InstanceCollector *>(ctx)->adopt(handle, desc);
}

void InstanceCollector::adopt(ch_instance *handle, const ch_instance_desc *desc) noexcept {
    const auto release = [&] { binding_->table().instance_release(handle); };
    if (failed_)
        return release();
    ch_str id{}, provider_type{};
    ch_tags tags{};
    if (desc && CH_HAS_MEMBER(desc, ch_instance_desc, provider_type)) {
        id = desc->id;
        provider_type = desc->provider_type;
    }
    if (desc && CH_HAS_MEMBER(desc, ch_instance_desc, tags))
        tags = desc->tags;
    if (filter_ && !matches_filter(tags, *filter_)) {
        ++skipped_;
        return release();
    }
    std::shared_ptr<InstanceCore> core;
    try {
        if (!provider_type_ || *provider_type_ != to_view(provider_type))
            provider_type_ = std::make_shared<const std::string>(to_view(provider_type));
        core = std::make_shared<InstanceCore>(to_view(id), provider_type_, set_, binding_, handle);
    } catch (...) {
        failed_ = true;
        return release(); // the core never took the reference over
    }
    try {
        instances_.emplace_back(std::move(core));
    } catch (...) {
        failed_ = true; // `core` released the handle
    }
}

void InstanceCollector::check(std::string_view operation) const {
    if (failed_)
        throw DriverError(std::string(operation) + ": out of memory while copying instances");
}

} // namespace cloudhost::detail
