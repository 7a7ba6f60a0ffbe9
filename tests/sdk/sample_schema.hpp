// A driver config using every kind of key the SDK config helper offers, for
// the tests and the fuzz target.
#pragma once

#include <cloudhost/driver_sdk_config.hpp>

#include <chrono>
#include <cstdint>
#include <map>
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
    std::vector<std::string> subnets; // "a" or ["a", "b"]
    std::vector<std::string> groups;  // ["g"] only
    std::map<std::string, std::string> labels;
};

// No spaces: the rule the list and map tests break.
inline std::optional<std::string> sample_word(const std::string &s) {
    if (s.empty() || s.find(' ') != std::string::npos)
        return "must be a word without spaces";
    return std::nullopt;
}

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
            .custom("quota",
                    [](SampleConfig &c, const sdk::ConfigValue &v) {
                        c.quota = v.as_integer<uint64_t>(0, UINT64_MAX);
                    })
            .string_list("subnets", &SampleConfig::subnets, sdk::Presence::optional, sample_word,
                         sdk::StringListForm::string_or_array, 3)
            .string_list("groups", &SampleConfig::groups, sdk::Presence::optional, sample_word)
            .string_map("labels", &SampleConfig::labels, sdk::Presence::optional, sample_word,
                        sample_word);
    return schema;
}

} // namespace cloudhost::test
