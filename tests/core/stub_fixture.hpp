// Helpers shared by the core tests: load the real stub driver from the build
// tree and capture what it logs through the host's logging bridge.
#pragma once

#include "cloudhost/driver_library.hpp"
#include "cloudhost/instance_set.hpp"

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace core_test {

inline const std::string set_id = "zzzzz-zzzzz-zzzzzzzzzzzcore";

inline std::filesystem::path stub_path() {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    if (!root)
        throw std::runtime_error("CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    return std::filesystem::path(root) / "plugins" / "stub" / "stub.so";
}

inline std::shared_ptr<cloudhost::DriverLibrary> open_stub() {
    cloudhost::DriverInfo info;
    info.name = "stub";
    info.version = "1.0.0";
    info.abi_min = info.abi_max = 1;
    return cloudhost::DriverLibrary::open(stub_path(), info);
}

// A cloud name no other test (or earlier run) uses: the stub shares
// instances between sets of the same process with the same name.
inline std::string unique_cloud(std::string_view what) {
    static std::atomic<int> counter{0};
    return std::string(what) + "-" + std::to_string(getpid()) + "-" +
           std::to_string(counter.fetch_add(1));
}

// Every record that reaches the InstanceSet's logger, kept in memory.
class LogCapture {
  public:
    explicit LogCapture(spdlog::level::level_enum level = spdlog::level::debug)
        : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(capacity)),
          logger_(std::make_shared<spdlog::logger>("core-test", sink_)) {
        logger_->set_level(level);
    }
    const std::shared_ptr<spdlog::logger> &logger() const { return logger_; }

    struct Record {
        spdlog::level::level_enum level;
        std::string text;
    };
    std::vector<Record> records() const {
        std::vector<Record> out;
        for (const auto &raw : sink_->last_raw())
            out.push_back({raw.level, std::string(raw.payload.data(), raw.payload.size())});
        if (out.size() >= capacity)
            throw std::runtime_error("log capture overflowed; counts would be wrong");
        return out;
    }
    // Records "stub call ... op=<op> ..." the stub wrote on entering `op`.
    std::size_t stub_calls(std::string_view op) const {
        std::size_t n = 0;
        for (const auto &r : records())
            if (r.text.rfind("stub call", 0) == 0 && has_field(r.text, "op", op))
                ++n;
        return n;
    }
    static bool has_field(const std::string &text, std::string_view key, std::string_view value) {
        const std::string token = " " + std::string(key) + "=" + std::string(value);
        for (auto pos = text.find(token); pos != std::string::npos;
             pos = text.find(token, pos + 1)) {
            const auto end = pos + token.size();
            if (end == text.size() || text[end] == ' ')
                return true;
        }
        return false;
    }

  private:
    static constexpr std::size_t capacity = 20000;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> logger_;
};

inline cloudhost::InstanceSetOptions options(const std::string &config_json,
                                             std::shared_ptr<spdlog::logger> logger = nullptr) {
    cloudhost::InstanceSetOptions o;
    o.config_json = config_json;
    o.instance_set_id = set_id;
    o.logger = std::move(logger);
    return o;
}

inline cloudhost::InstanceType type(const std::string &provider_type, double price = 0.25,
                                    bool preemptible = false) {
    cloudhost::InstanceType t;
    t.name = "name-" + provider_type;
    t.provider_type = provider_type;
    t.vcpus = 2;
    t.ram = 4ull << 30;
    t.price = price;
    t.preemptible = preemptible;
    return t;
}

} // namespace core_test
