// One loopback instance: a view of its directory. Every call reads the
// directory afresh, so changes made by other processes (SetTags, Destroy,
// the server publishing its address) are seen at once.
#pragma once

#include "loopback_config.hpp"
#include "state_json.hpp"

#include <cloudhost/driver_sdk.hpp>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

namespace cloudhost::loopback {

class LoopbackInstance : public sdk::Instance {
  public:
    LoopbackInstance(std::shared_ptr<const LoopbackConfig> config, sdk::Logger logger,
                     std::filesystem::path directory, InstanceMeta meta, sdk::Tags tags,
                     std::string tags_problem = {});

    std::string id() const override { return id_; }
    std::string provider_type() const override { return meta_.provider_type; }
    sdk::Tags tags() const override;
    void set_tags(const sdk::Tags &tags) override;
    void destroy() override;
    std::string address() const override;
    std::string remote_user() const override;
    void verify_host_key(const std::string &public_key, const sdk::CommandRunner *runner) override;

  private:
    std::shared_ptr<const LoopbackConfig> config_;
    sdk::Logger logger_;
    std::filesystem::path directory_;
    std::string id_;
    InstanceMeta meta_;
    mutable std::mutex mutex_;
    mutable sdk::Tags last_tags_;      // answered once the directory is gone or broken
    mutable std::string tags_problem_; // last one logged, so it is logged once
};

// What an instance whose meta.json cannot be read reports as its type.
inline constexpr const char *unknown_provider_type = "unknown";

// Reads the instance in `directory`; nullptr when it no longer exists. An
// unreadable meta.json or tags.json (corrupt, wrong types, missing, not a
// regular file, permission denied) is logged with its path, and the
// instance is returned with what can be read: tags from tags.json, else
// the tags it was created with (meta.json), else none.
std::shared_ptr<LoopbackInstance> load_instance(std::shared_ptr<const LoopbackConfig> config,
                                                sdk::Logger logger,
                                                const std::filesystem::path &directory);

} // namespace cloudhost::loopback
