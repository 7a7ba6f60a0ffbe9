// The ec2 driver's InstanceSet and Instance (Arvados lib/cloud/ec2 semantics).
#pragma once

#include "ec2_api.hpp"
#include "ec2_config.hpp"
#include "ec2_errors.hpp"
#include "instance_registry.hpp"
#include "spot_prices.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace cloudhost::ec2 {

// What the set and every instance it hands out share; instances keep it
// alive, since the host may use them after stop().
struct Ec2Context {
    Ec2Context(Ec2Config c, sdk::Logger l, sdk::Tags shared_tags)
        : config(std::move(c)), logger(l), shared_resource_tags(std::move(shared_tags)),
          api(config, logger), spot_prices(api, config.spot_price_update_interval, logger) {}

    const Ec2Config config;
    const sdk::Logger logger;
    const sdk::Tags shared_resource_tags;
    Ec2Api api;
    SpotPrices spot_prices;
    // Separate throttle back-offs, as Arvados keeps for Create and Instances.
    Backoff create_backoff, list_backoff, other_backoff;
    InstanceRegistry registry;
};

// Reads an instancesSet/item element.
InstanceData parse_instance(const pugi::xml_node &item);

// base64("#!/bin/sh\n" + init_command + "\n")
std::string user_data(const std::string &init_command);

// The RunInstances parameters for one attempt (everything but the key pair
// name and subnet are decided by the config and the arguments).
QueryParams run_instances_params(const Ec2Config &config, const sdk::InstanceType &type,
                                 const std::string &image_id, const sdk::Tags &tags,
                                 const std::string &init_command, const std::string &key_name,
                                 const std::string &subnet_id);

class Ec2Instance final : public sdk::Instance {
  public:
    Ec2Instance(std::shared_ptr<Ec2Context> context, std::shared_ptr<InstanceState> state)
        : context_(std::move(context)), state_(std::move(state)), id_(state_->get().id),
          provider_type_(state_->get().instance_type) {}

    std::string id() const override { return id_; }
    std::string provider_type() const override { return provider_type_; }
    sdk::Tags tags() const override { return *state_->get().tags; }
    std::shared_ptr<const sdk::Tags> tags_snapshot() const override { return state_->get().tags; }
    void set_tags(const sdk::Tags &tags) override;
    void destroy() override;
    std::string address() const override;
    std::string remote_user() const override { return context_->config.admin_username; }
    std::vector<sdk::InstancePrice> price_history(const sdk::InstanceType &type) const override;

  private:
    void refresh() const;

    std::shared_ptr<Ec2Context> context_;
    std::shared_ptr<InstanceState> state_; // shared by every handle of this id
    const std::string id_, provider_type_;
};

class Ec2InstanceSet final : public sdk::InstanceSet {
  public:
    Ec2InstanceSet(Ec2Config config, sdk::Logger logger, sdk::Tags shared_resource_tags);

    std::shared_ptr<sdk::Instance> create(const sdk::InstanceType &type,
                                          const std::string &image_id, const sdk::Tags &tags,
                                          const std::string &init_command,
                                          const std::optional<std::string> &public_key) override;
    std::vector<std::shared_ptr<sdk::Instance>> instances(const sdk::Tags &filter) override;
    std::string instance_quota_group(const sdk::InstanceType &type) override;

    // For tests and the benchmark.
    HttpStats http_stats() const { return context_->api.http_stats(); }

  private:
    std::string key_pair_for(const std::string &public_key);
    std::shared_ptr<Ec2Instance> run_instance(const sdk::InstanceType &type,
                                              const std::string &image_id, const sdk::Tags &tags,
                                              const std::string &init_command,
                                              const std::string &key_name);

    std::shared_ptr<Ec2Context> context_;
    std::map<std::string, std::string> quota_groups_;
    std::mutex key_mutex_;                         // guards key_names_
    std::map<std::string, std::string> key_names_; // fingerprint -> key pair name
    std::atomic<std::size_t> subnet_index_{0};     // the subnet that worked last
};

} // namespace cloudhost::ec2
