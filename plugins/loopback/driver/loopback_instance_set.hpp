// The loopback InstanceSet: instances are directories under the state
// directory, shared by every set and process that uses it (the host filters
// by the InstanceSetID tag).
#pragma once

#include "loopback_config.hpp"

#include <cloudhost/driver_sdk.hpp>

#include <memory>

namespace cloudhost::loopback {

class LoopbackInstanceSet : public sdk::InstanceSet {
  public:
    // Throws sdk::InvalidConfigError (bad config, unusable state directory).
    explicit LoopbackInstanceSet(const sdk::InstanceSetArgs &args);

    std::shared_ptr<sdk::Instance> create(const sdk::InstanceType &type,
                                          const std::string &image_id, const sdk::Tags &tags,
                                          const std::string &init_command,
                                          const std::optional<std::string> &public_key) override;
    std::vector<std::shared_ptr<sdk::Instance>> instances(const sdk::Tags &filter) override;
    // Nothing runs in this process: the servers are the instances and
    // outlive the host by design.
    void stop() override {}

  private:
    std::shared_ptr<const LoopbackConfig> config_;
    std::string instance_set_id_;
    sdk::Logger logger_;
    // Published as cloudhost_driver_loopback_* (inert with an older host):
    // server launches by outcome and how long one took, and the instance
    // directories the last Instances() listed.
    sdk::CounterSeries launches_ok_, launches_failed_;
    sdk::HistogramSeries launch_seconds_;
    sdk::GaugeSeries listed_;
};

} // namespace cloudhost::loopback
