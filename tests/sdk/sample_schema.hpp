// A driver config using every kind of key the SDK config helper offers, for
// the tests and the fuzz target.
#pragma once

#include <cloudhost/driver_sdk_config.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost::test {

struct SampleZone {
    std::string name;
    uint16_t weight = 1;
};

struct SampleConfig {
    std::string region;
    uint32_t max_instances = 64;
    int32_t offset = 0;
    bool verify_host_key = true;
    double error_rate = 0;
    std::chrono::milliseconds boot_delay{0};
    std::string state_dir = "/var/lib/sample";
    std::vector<SampleZone> zones;
    std::optional<uint64_t> quota;
};

inline const sdk::ConfigSchema<SampleZone> &sample_zone_schema() {
    static const auto schema =
        sdk::ConfigSchema<SampleZone>("sample config")
            .string("name", &SampleZone::name, sdk::Presence::required)
            .integer("weight", &SampleZone::weight, uint16_t(1), uint16_t(100));
    return schema;
}

inline const sdk::ConfigSchema<SampleConfig> &sample_schema() {
    static const auto schema =
        sdk::ConfigSchema<SampleConfig>("sample config")
            .string("region", &SampleConfig::region, sdk::Presence::required)
            .integer("max_instances", &SampleConfig::max_instances, 1u, 100000u)
            .integer("offset", &SampleConfig::offset, -10, 10)
            .boolean("verify_host_key", &SampleConfig::verify_host_key)
            .number("error_rate", &SampleConfig::error_rate, 0.0, 1.0)
            .milliseconds("boot_delay_ms", &SampleConfig::boot_delay)
            .string("state_dir", &SampleConfig::state_dir, sdk::Presence::optional,
                    [](const std::string &dir) -> std::optional<std::string> {
                        if (dir.empty() || dir.front() != '/')
                            return "must be an absolute path";
                        return std::nullopt;
                    })
            .custom("zones",
                    [](SampleConfig &c, const sdk::ConfigValue &v) {
                        for (const auto &item : v.items())
                            c.zones.push_back(sample_zone_schema().parse(item));
                    })
            .custom("quota", [](SampleConfig &c, const sdk::ConfigValue &v) {
                c.quota = v.as_integer<uint64_t>(0, UINT64_MAX);
            });
    return schema;
}

} // namespace cloudhost::test
