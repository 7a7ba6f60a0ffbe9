#include "spot_prices.hpp"

#include "credentials.hpp"
#include "ec2_errors.hpp"

#include <algorithm>
#include <ctime>

namespace cloudhost::ec2 {
namespace {

constexpr int max_pages = 100;

std::string iso8601(sdk::Clock::time_point time) {
    const std::time_t seconds = sdk::Clock::to_time_t(time);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buffer;
}

} // namespace

std::vector<sdk::InstancePrice> SpotPrices::history(const std::string &instance_type,
                                                    const std::string &availability_zone) {
    const auto key = std::make_pair(instance_type, availability_zone);
    {
        std::lock_guard lock(mutex_);
        const auto it = cache_.find(key);
        if (it != cache_.end() && std::chrono::steady_clock::now() - it->second.fetched < interval_)
            return it->second.prices;
    }
    try {
        auto prices = fetch(instance_type, availability_zone);
        std::lock_guard lock(mutex_);
        cache_[key] = Entry{std::chrono::steady_clock::now(), prices};
        return prices;
    } catch (const std::exception &e) {
        logger_.warn("ec2: spot price lookup failed",
                     {{"instance_type", instance_type}, {"error", e.what()}});
        std::lock_guard lock(mutex_);
        const auto it = cache_.find(key);
        return it == cache_.end() ? std::vector<sdk::InstancePrice>{} : it->second.prices;
    }
}

std::vector<sdk::InstancePrice> SpotPrices::fetch(const std::string &instance_type,
                                                  const std::string &availability_zone) {
    std::vector<sdk::InstancePrice> prices;
    std::string next_token;
    for (int page = 0; page < max_pages; ++page) {
        QueryParams params;
        params.add("InstanceType.1", instance_type)
            .add("ProductDescription.1", "Linux/UNIX")
            .add("StartTime", iso8601(sdk::Clock::now() - 3 * interval_));
        if (!availability_zone.empty())
            params.add("AvailabilityZone", availability_zone);
        if (!next_token.empty())
            params.add("NextToken", next_token);
        const auto doc = api_.call("DescribeSpotPriceHistory", params);
        const pugi::xml_node root = doc->document_element();
        for (const pugi::xml_node item : root.child("spotPriceHistorySet").children("item")) {
            if (child_text(item, "instanceType") != instance_type)
                continue;
            const auto when = parse_iso8601_utc(child_text(item, "timestamp"));
            const double price = item.child("spotPrice").text().as_double(-1);
            if (when && price >= 0 && price < 1e9)
                prices.push_back({*when, price});
        }
        next_token = child_text(root, "nextToken");
        if (next_token.empty())
            break;
    }
    std::sort(prices.begin(), prices.end(),
              [](const auto &a, const auto &b) { return a.start_time > b.start_time; });
    return prices;
}

} // namespace cloudhost::ec2
