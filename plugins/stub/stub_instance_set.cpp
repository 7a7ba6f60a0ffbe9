#include "stub_instance_set.hpp"

#include <algorithm>

namespace cloudhost::stub {
namespace {

VmBehaviour behaviour_from(const StubConfig &config) {
    VmBehaviour b;
    b.boot_delay = config.boot_delay;
    b.break_after = config.break_after;
    b.list_lag = config.list_lag;
    b.stale_tags = config.stale_tags;
    b.ssh_port = config.ssh_port;
    b.host_key = config.host_key;
    return b;
}

bool has_all(const sdk::Tags &tags, const sdk::Tags &filter) {
    return std::all_of(filter.begin(), filter.end(), [&](const auto &wanted) {
        const auto it = tags.find(wanted.first);
        return it != tags.end() && it->second == wanted.second;
    });
}

sdk::Tags bench_tags(uint64_t i) {
    sdk::Tags tags;
    for (int k = 0; k < 8; ++k)
        tags.emplace("k" + std::to_string(k),
                     "value-" + std::to_string(i) + "-" + std::to_string(k));
    return tags;
}

} // namespace

StubInstanceSet::StubInstanceSet(const sdk::InstanceSetArgs &args)
    : context_(std::make_shared<SetContext>(parse_stub_config(args.config_json), args.logger,
                                            args.metrics)),
      vm_behaviour_(behaviour_from(context_->config)), started_at_(sdk::Clock::now()),
      create_spacing_(context_->config.min_time_between_create_calls),
      instances_spacing_(context_->config.min_time_between_instances_calls) {
    context_->check_api_token(); // a revoked token fails init
    populate_for_bench(started_at_);
}

void StubInstanceSet::populate_for_bench(sdk::Clock::time_point now) {
    if (context_->config.instances_for_bench == 0)
        return;
    context_->cloud->top_up("bench", context_->config.instances_for_bench, bench_tags, now,
                            vm_behaviour_);
}

// Arvados's order: rate limit, random error, quota, record the call, then
// the per-VM setup (where its tests inject capacity errors).
void StubInstanceSet::check_create_allowed(const sdk::InstanceType &type,
                                           sdk::Clock::time_point now) {
    const StubConfig &config = context_->config;
    const auto limited_until = started_at_ + config.rate_limit_create_for;
    if (now < limited_until)
        throw sdk::RateLimitError("stub: create rate limited (rate_limit_create_for_ms)",
                                  limited_until);
    if (const auto retry = create_spacing_.refusal(now))
        throw sdk::RateLimitError("stub: create called too soon (min_time_between_create_calls_ms)",
                                  *retry);
    if (context_->faults.strikes(config.error_rate_create))
        throw sdk::Error("stub: injected create error");
    if (config.quota_max_instances && context_->cloud->size() >= *config.quota_max_instances)
        throw sdk::QuotaError("stub: quota of " + std::to_string(*config.quota_max_instances) +
                              " instances reached");
    create_spacing_.record(now);
    for (const CapacityFault &fault : config.capacity_errors)
        if (fault.provider_type == type.provider_type)
            throw sdk::CapacityError("stub: no capacity for " + type.provider_type, fault.scope,
                                     fault.also_quota);
}

std::shared_ptr<sdk::Instance> StubInstanceSet::create(const sdk::InstanceType &type,
                                                       const std::string &, const sdk::Tags &tags,
                                                       const std::string &,
                                                       const std::optional<std::string> &) {
    context_->enter(Op::create);
    if (context_->hold && !context_->hold->wait_for_release(context_->stopped))
        throw sdk::Error("Create called after Stop");
    if (context_->stopped)
        throw sdk::Error("Create called after Stop");

    std::shared_ptr<StubVm> vm;
    try {
        std::lock_guard lock(create_mutex_);
        const auto now = sdk::Clock::now();
        check_create_allowed(type, now);
        // add() checks the quota again, atomically, against other sets of
        // the same cloud.
        vm = context_->cloud->add(type.provider_type, tags, now, vm_behaviour_,
                                  context_->config.quota_max_instances);
    } catch (...) {
        context_->metrics.create_failed(std::current_exception());
        throw;
    }
    context_->metrics.create_succeeded();
    context_->logger.info("created instance", {{"id", vm->id()}});

    std::shared_ptr<StubInstance> instance;
    {
        std::lock_guard lock(views_mutex_);
        instance = view_of_locked(vm);
    }
    return instance;
}

std::vector<std::shared_ptr<sdk::Instance>> StubInstanceSet::instances(const sdk::Tags &filter) {
    context_->enter(Op::instances);
    const auto now = sdk::Clock::now();
    if (const auto retry = instances_spacing_.refusal(now))
        throw sdk::RateLimitError(
            "stub: instances called too soon (min_time_between_instances_calls_ms)", *retry);
    instances_spacing_.record(now);
    if (context_->faults.strikes(context_->config.error_rate_instances))
        throw sdk::Error("stub: injected instances error");

    const auto vms = context_->cloud->snapshot(vm_behaviour_);
    const bool filtering = !context_->config.filter_ignored && !filter.empty();
    std::vector<std::shared_ptr<sdk::Instance>> result;
    result.reserve(vms.size());
    {
        std::lock_guard lock(views_mutex_);
        for (const auto &vm : vms) {
            if (!vm->listed(now))
                continue;
            if (filtering && !has_all(*vm->visible_tags(now), filter))
                continue;
            result.push_back(view_of_locked(vm));
        }
        forget_destroyed_views_locked(vms);
    }
    context_->metrics.listed(result.size());
    return result;
}

std::string StubInstanceSet::instance_quota_group(const sdk::InstanceType &type) {
    context_->enter(Op::quota_group);
    if (type.provider_type.empty())
        return {};
    return type.provider_type.substr(0, 1) + (type.preemptible ? "-p" : "");
}

void StubInstanceSet::stop() {
    context_->stopped = true;
}

std::shared_ptr<StubInstance> StubInstanceSet::view_of_locked(const std::shared_ptr<StubVm> &vm) {
    auto &view = views_[vm->serial()];
    // A file-backed cloud reads its VMs afresh on every listing: the handle
    // then carries the tags just read.
    if (!view || &view->vm() != vm.get())
        view = std::make_shared<StubInstance>(vm, context_);
    return view;
}

void StubInstanceSet::forget_destroyed_views_locked(
    const std::vector<std::shared_ptr<StubVm>> &live) {
    // Amortised: sweep only when destroyed VMs could make up half the cache.
    if (views_.size() <= 2 * live.size() + 64)
        return;
    std::unordered_map<uint64_t, std::shared_ptr<StubInstance>> kept;
    for (const auto &vm : live)
        if (auto it = views_.find(vm->serial()); it != views_.end())
            kept.emplace(it->first, std::move(it->second));
    views_.swap(kept);
}

} // namespace cloudhost::stub
