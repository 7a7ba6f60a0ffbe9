// The ec2 driver's exported entry: Amazon EC2 through the Query API.
#include "ec2_config.hpp"
#include "ec2_instance_set.hpp"

#include "cloudhost/driver_sdk.hpp"

namespace {

std::unique_ptr<cloudhost::sdk::InstanceSet> make_set(const cloudhost::sdk::InstanceSetArgs &args) {
    return std::make_unique<cloudhost::ec2::Ec2InstanceSet>(
        cloudhost::ec2::parse_config(args.config_json), args.logger, args.shared_resource_tags);
}

} // namespace

CLOUDHOST_DRIVER("ec2", "1.0.0",
                 "Amazon EC2 (Query API 2016-11-15, SigV4; libcurl, OpenSSL, pugixml)", make_set);
