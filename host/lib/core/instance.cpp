#include "cloudhost/instance.hpp"

#include "abi_convert.hpp"
#include "abi_errors.hpp"
#include "command_runner_bridge.hpp"
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

// Calls a driver function that answers one string.
template <class Fn>
std::string call_for_string(const detail::InstanceUse &use, Fn fn, std::string_view operation) {
    std::string value;
    detail::StringResult result(value);
    const ch_string_sink sink = result.sink();
    detail::ErrorRecord error;
    detail::check(fn(use.handle(), &sink, error.get()), error.c, operation);
    if (result.failed)
        throw DriverError(std::string(operation) + ": out of memory while copying the result");
    return value;
}

[[noreturn]] void not_provided(std::string_view operation) {
    throw NotImplementedError(std::string(operation) + ": not provided by the driver");
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
    const auto fn = use.table().instance_string;
    if (!fn)
        return core.id;
    return call_for_string(use, fn, "instance_string");
}

Tags Instance::tags() const {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    const auto fn = use.table().instance_tags;
    if (!fn)
        not_provided("instance_tags");
    detail::TagsResult result;
    const ch_tags_sink sink = result.sink();
    detail::ErrorRecord error;
    detail::check(fn(use.handle(), &sink, error.get()), error.c, "instance_tags");
    if (result.failed)
        throw DriverError("instance_tags: out of memory while copying the result");
    return std::move(result.value);
}

void Instance::set_tags(const Tags &tags) {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    validate_tags(tags, "SetTags");
    const auto fn = use.table().instance_set_tags;
    if (!fn)
        not_provided("instance_set_tags");
    const detail::TagsView c_tags(tags);
    core.set->limited_call(Operation::set_tags, [&] {
        detail::ErrorRecord error;
        detail::check(fn(use.handle(), c_tags.get(), error.get()), error.c, "set_tags");
    });
}

void Instance::destroy() {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    const auto fn = use.table().instance_destroy;
    if (!fn)
        not_provided("instance_destroy");
    core.set->limited_call(Operation::destroy, [&] {
        detail::ErrorRecord error;
        detail::check(fn(use.handle(), error.get()), error.c, "destroy");
    });
}

std::string Instance::address() const {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    const auto fn = use.table().instance_address;
    if (!fn)
        not_provided("instance_address");
    return call_for_string(use, fn, "instance_address");
}

std::string Instance::remote_user() const {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    const auto fn = use.table().instance_remote_user;
    if (!fn)
        not_provided("instance_remote_user");
    return call_for_string(use, fn, "instance_remote_user");
}

void Instance::verify_host_key(const std::string &public_key, CommandRunner *runner) const {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    const auto fn = use.table().instance_verify_host_key;
    if (!fn)
        throw NotImplementedError("verify_host_key: the driver has no way to verify host keys");
    std::optional<detail::CommandRunnerBridge> bridge;
    if (runner)
        bridge.emplace(*runner);
    detail::ErrorRecord error;
    detail::check(fn(use.handle(), detail::to_ch_str(public_key), bridge ? bridge->get() : nullptr,
                     error.get()),
                  error.c, "verify_host_key");
}

std::vector<InstancePrice> Instance::price_history(const InstanceType &type) const {
    const InstanceCore &core = checked(core_);
    const auto use = core.use();
    const auto fn = use.table().instance_price_history;
    if (!fn)
        return {};
    struct Collector {
        std::vector<InstancePrice> prices;
        bool failed = false;
        static void put(void *ctx, int64_t start_ns, double price) noexcept {
            auto *self = static_cast<Collector *>(ctx);
            try {
                self->prices.push_back(
                    {Clock::time_point(std::chrono::duration_cast<Clock::duration>(
                         std::chrono::nanoseconds(start_ns))),
                     price});
            } catch (...) {
                self->failed = true;
            }
        }
    } collector;
    const ch_price_sink sink{&collector, &Collector::put};
    const detail::InstanceTypeView c_type(type);
    detail::ErrorRecord error;
    detail::check(fn(use.handle(), c_type.get(), &sink, error.get()), error.c,
                  "instance_price_history");
    if (collector.failed)
        throw DriverError("instance_price_history: out of memory while copying the result");
    return normalize_price_history(std::move(collector.prices));
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
