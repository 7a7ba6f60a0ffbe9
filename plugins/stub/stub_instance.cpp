#include "stub_instance.hpp"

#include <sstream>
#include <thread>
#include <utility>

namespace cloudhost::stub {
namespace {

// "type base64 [comment]" → "type base64", so a comment never decides.
std::string key_without_comment(const std::string &key) {
    std::istringstream in(key);
    std::string type, blob;
    in >> type >> blob;
    return type + " " + blob;
}

} // namespace

StubInstance::StubInstance(std::shared_ptr<StubVm> vm, std::shared_ptr<SetContext> context)
    : vm_(std::move(vm)), context_(std::move(context)) {}

void StubInstance::throw_if_broken(sdk::Clock::time_point now) const {
    if (vm_->broken(now))
        throw sdk::Error("stub: instance " + vm_->id() + " is broken");
}

sdk::Tags StubInstance::tags() const {
    context_->enter(Op::tags);
    const auto now = sdk::Clock::now();
    throw_if_broken(now);
    return *context_->cloud->current_tags(*vm_, now);
}

std::shared_ptr<const sdk::Tags> StubInstance::tags_snapshot() const {
    // Listing 100,000 VMs takes every VM's snapshot: read the clock only when
    // stale tags make the answer time-dependent.
    const bool needs_clock = vm_->behaviour().stale_tags.count() > 0;
    return vm_->visible_tags(needs_clock ? sdk::Clock::now() : sdk::Clock::time_point{});
}

void StubInstance::set_tags(const sdk::Tags &tags) {
    context_->enter(Op::set_tags);
    const auto now = sdk::Clock::now();
    throw_if_broken(now);
    if (context_->faults.strikes(context_->config.error_rate_set_tags))
        throw sdk::Error("stub: injected set_tags error");
    context_->cloud->set_tags(*vm_, tags, now);
}

void StubInstance::destroy() {
    context_->enter(Op::destroy);
    if (context_->hold && !context_->hold->wait_for_release(context_->stopped))
        throw sdk::Error("stub: destroy of " + vm_->id() + " stopped");
    if (context_->faults.strikes(context_->config.error_rate_destroy)) {
        context_->metrics.destroyed(false);
        throw sdk::Error("stub: injected destroy error");
    }
    if (context_->config.destroy_delay.count() > 0)
        std::this_thread::sleep_for(context_->config.destroy_delay);
    context_->cloud->remove(vm_->serial());
    context_->metrics.destroyed(true);
}

std::string StubInstance::address() const {
    context_->enter(Op::address);
    const auto now = sdk::Clock::now();
    if (vm_->booting(now) || vm_->broken(now))
        return {};
    return "127.0.0.1:" + std::to_string(vm_->behaviour().ssh_port);
}

std::string StubInstance::remote_user() const {
    context_->enter(Op::remote_user);
    return "root";
}

void StubInstance::verify_host_key(const std::string &public_key, const sdk::CommandRunner *) {
    context_->enter(Op::verify_host_key);
    const auto now = sdk::Clock::now();
    throw_if_broken(now);
    if (vm_->booting(now))
        throw sdk::Error("stub: instance " + vm_->id() + " is booting");
    const auto &expected = vm_->behaviour().host_key;
    if (!expected)
        throw sdk::NotImplementedError("stub: no host_key configured");
    if (key_without_comment(public_key) != key_without_comment(*expected))
        throw sdk::Error("stub: host key mismatch for instance " + vm_->id());
}

std::vector<sdk::InstancePrice> StubInstance::price_history(const sdk::InstanceType &type) const {
    context_->enter(Op::price_history);
    return {{vm_->created_at(), type.price}};
}

} // namespace cloudhost::stub
