#include "cloudhost/instance.hpp"

#include "instance_core.hpp"
#include "validation.hpp"

#include "cloudhost/errors.hpp"

#include <algorithm>
#include <stdexcept>

namespace cloudhost {

using detail::InstanceCore;

namespace {

const InstanceCore &checked(const std::shared_ptr<InstanceCore> &core) {
    if (!core)
        throw std::logic_error("cloudhost: call on an empty Instance handle");
    return *core;
}

} // namespace

const std::string &Instance::id() const {
    return checked(core_).id;
}

const std::string &Instance::provider_type() const {
    return *checked(core_).provider_type;
}

std::string Instance::string() const {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    auto value = use.endpoint().instance_string(use.ref());
    if (!value)
        return core.id;
    return std::move(*value);
}

Tags Instance::tags() const {
    const auto use = checked(core_).use();
    return use.endpoint().instance_tags(use.ref());
}

// Validate before anything reaches the driver (use() may re-bind, which lists
// instances), and take the in-flight count (use()) only once the ops limiter
// lets the call through: a call waiting for its tick must not hold up a hot
// swap's drain.
void Instance::set_tags(const Tags &tags) {
    const InstanceCore &core = checked(core_);
    validate_tags(tags, "SetTags");
    core.set->limited_call(Operation::set_tags, [&] {
        const auto use = core.use();
        use.endpoint().instance_set_tags(use.ref(), tags);
    });
}

void Instance::destroy() {
    const InstanceCore &core = checked(core_);
    core.set->limited_call(Operation::destroy, [&] {
        const auto use = core.use();
        use.endpoint().instance_destroy(use.ref());
    });
}

std::string Instance::address() const {
    const auto use = checked(core_).use();
    return use.endpoint().instance_address(use.ref());
}

std::string Instance::remote_user() const {
    const auto use = checked(core_).use();
    return use.endpoint().instance_remote_user(use.ref());
}

void Instance::verify_host_key(const std::string &public_key, CommandRunner *runner) const {
    const auto use = checked(core_).use();
    use.endpoint().instance_verify_host_key(use.ref(), public_key, runner);
}

std::vector<InstancePrice> Instance::price_history(const InstanceType &type) const {
    const auto use = checked(core_).use();
    return normalize_price_history(use.endpoint().instance_price_history(use.ref(), type));
}

std::vector<InstancePrice> normalize_price_history(std::vector<InstancePrice> prices) {
    // Stable: with equal start times the driver's order decides, reproducibly.
    std::stable_sort(
        prices.begin(), prices.end(),
        [](const InstancePrice &a, const InstancePrice &b) { return a.start_time > b.start_time; });
    std::vector<InstancePrice> out;
    out.reserve(prices.size());
    for (std::size_t i = 0; i < prices.size(); ++i) {
        const bool next_same =
            i + 1 < prices.size() && (prices[i].start_time == prices[i + 1].start_time ||
                                      prices[i].price == prices[i + 1].price);
        if (!next_same)
            out.push_back(prices[i]);
    }
    return out;
}

} // namespace cloudhost
