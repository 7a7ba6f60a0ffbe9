// Spot price history per (instance type, availability zone), fetched with
// DescribeSpotPriceHistory at most once per spot_price_update_interval.
#pragma once

#include "ec2_api.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cloudhost::ec2 {

class SpotPrices {
  public:
    SpotPrices(Ec2Api &api, std::chrono::seconds update_interval, sdk::Logger logger)
        : api_(api), interval_(update_interval), logger_(logger) {}

    // Newest first. Fetches when the cached entry is older than the interval;
    // a failed fetch is logged and the stale entry (maybe none) returned.
    std::vector<sdk::InstancePrice> history(const std::string &instance_type,
                                            const std::string &availability_zone);
    bool enabled() const { return interval_.count() > 0; }

  private:
    struct Entry {
        std::chrono::steady_clock::time_point fetched;
        std::vector<sdk::InstancePrice> prices;
    };
    std::vector<sdk::InstancePrice> fetch(const std::string &instance_type,
                                          const std::string &availability_zone);

    Ec2Api &api_;
    const std::chrono::seconds interval_;
    sdk::Logger logger_;
    std::mutex mutex_; // guards cache_ (a fetch runs without it)
    std::map<std::pair<std::string, std::string>, Entry> cache_;
};

} // namespace cloudhost::ec2
