// The Instance handle an InstanceSet hands to the host: a VM of the cloud
// seen through that set (its logger, faults and stop flag).
#pragma once

#include "set_context.hpp"
#include "stub_vm.hpp"

#include <memory>
#include <string>
#include <vector>

namespace cloudhost::stub {

class StubInstance final : public sdk::Instance {
  public:
    StubInstance(std::shared_ptr<StubVm> vm, std::shared_ptr<SetContext> context);

    const StubVm &vm() const noexcept { return *vm_; }

    std::string id() const override { return vm_->id(); }
    std::string provider_type() const override { return vm_->provider_type(); }
    sdk::Tags tags() const override;
    // What the SDK hands over with each listed instance: shared, not copied,
    // and not a host call (no log, no fault; a broken VM is still listed).
    std::shared_ptr<const sdk::Tags> tags_snapshot() const override;
    void set_tags(const sdk::Tags &tags) override;
    void destroy() override;
    std::string address() const override;
    std::string remote_user() const override;
    void verify_host_key(const std::string &public_key, const sdk::CommandRunner *runner) override;
    std::vector<sdk::InstancePrice> price_history(const sdk::InstanceType &type) const override;

  private:
    void throw_if_broken(sdk::Clock::time_point now) const;

    const std::shared_ptr<StubVm> vm_;
    const std::shared_ptr<SetContext> context_;
};

} // namespace cloudhost::stub
