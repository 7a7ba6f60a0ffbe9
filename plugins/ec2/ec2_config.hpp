// driver_parameters of the ec2 driver (see docs/ec2.md for every key).
#pragma once

#include "sigv4.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::ec2 {

struct Ec2Config {
    std::string region;
    std::string endpoint; // URL; default https://ec2.<region>.amazonaws.com/
    std::vector<std::string> subnet_ids;
    std::vector<std::string> security_group_ids;
    std::string admin_username = "root";
    std::string iam_instance_profile;
    std::string ebs_volume_type = "gp2";
    double ebs_price = 0.10;                                       // USD per GiB-month
    std::chrono::seconds spot_price_update_interval{24 * 3600};    // 0: no spot price lookups
    std::map<std::string, std::string> instance_type_quota_groups; // lowercase prefix -> group
    std::optional<unsigned> ssh_port;                              // appended to Address() when set
    std::string ca_file;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds request_timeout{60'000};
    // Credentials: explicit ones win; else environment, shared file, IMDSv2.
    std::optional<AwsCredentials> credentials;
    std::string profile;       // shared credentials file profile ("" = AWS_PROFILE or default)
    std::string imds_endpoint; // default http://169.254.169.254
};

// The quota groups Arvados uses when none are configured.
std::map<std::string, std::string> default_quota_groups();

// Throws sdk::InvalidConfigError naming the key for every bad value and
// every unknown key.
Ec2Config parse_config(std::string_view json);

// "24h", "1h30m", "90s", "500ms", "0" (Go duration syntax, non-negative), or
// a number of seconds. std::nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

} // namespace cloudhost::ec2
