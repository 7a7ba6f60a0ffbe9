// swapcloud: a test driver whose VMs live in files under the config's
// "state_dir", so two versions of it (built from this one source with
// different -D stamps) see the same cloud, as real versions of a cloud
// driver do. Every call fails once the set is stopped, so a call that a hot
// swap let through to a stopped version shows up as a failure.
//
// Build stamps: SWAPCLOUD_VERSION ("1.0.0"), SWAPCLOUD_ABI (1),
// SWAPCLOUD_FAIL_INIT (init throws), SWAPCLOUD_HIDE_INSTANCES (Instances
// answers an empty list).
#include "cloudhost/driver_sdk.hpp"

#include <rapidjson/document.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#ifndef SWAPCLOUD_VERSION
#define SWAPCLOUD_VERSION "1.0.0"
#endif
#ifndef SWAPCLOUD_ABI
#define SWAPCLOUD_ABI 1u
#endif

namespace swapcloud {

namespace fs = std::filesystem;
using cloudhost::sdk::Error;
using cloudhost::sdk::Tags;

struct SetState {
    fs::path dir;
    std::atomic<bool> stopped{false};

    void check_running(const char *op) const {
        if (stopped)
            throw Error(std::string(op) + " called after Stop (swapcloud " SWAPCLOUD_VERSION ")");
    }
};

// File format: line 1 the provider type, then one "key\tvalue" per tag.
void write_vm(const fs::path &file, const std::string &provider_type, const Tags &tags) {
    const fs::path tmp = file.parent_path() / (".tmp-" + file.filename().string());
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << provider_type << '\n';
        for (const auto &[key, value] : tags)
            out << key << '\t' << value << '\n';
        if (!out.flush())
            throw Error("cannot write " + tmp.string());
    }
    fs::rename(tmp, file);
}

bool read_vm(const fs::path &file, std::string &provider_type, Tags &tags) {
    std::ifstream in(file);
    if (!in || !std::getline(in, provider_type))
        return false;
    std::string line;
    while (std::getline(in, line)) {
        const auto tab = line.find('\t');
        if (tab != std::string::npos)
            tags[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return true;
}

class Vm : public cloudhost::sdk::Instance {
  public:
    Vm(std::shared_ptr<SetState> set, std::string id, std::string provider_type, Tags listed)
        : set_(std::move(set)), id_(std::move(id)), provider_type_(std::move(provider_type)),
          listed_(std::make_shared<const Tags>(std::move(listed))) {}

    std::string id() const override { return id_; }
    std::string string() const override { return id_ + " (swapcloud " SWAPCLOUD_VERSION ")"; }
    std::string provider_type() const override { return provider_type_; }
    Tags tags() const override {
        set_->check_running("tags");
        std::string type;
        Tags tags;
        if (!read_vm(file(), type, tags))
            throw Error("instance " + id_ + " not found");
        return tags;
    }
    // The tags as listed: a VM destroyed meanwhile must not fail the listing.
    std::shared_ptr<const Tags> tags_snapshot() const override { return listed_; }
    void set_tags(const Tags &tags) override {
        set_->check_running("set_tags");
        if (!fs::exists(file()))
            throw Error("instance " + id_ + " not found");
        write_vm(file(), provider_type_, tags);
    }
    void destroy() override {
        set_->check_running("destroy");
        if (!fs::remove(file()))
            throw Error("instance " + id_ + " not found");
    }
    std::string address() const override { return ""; }
    std::string remote_user() const override { return "root"; }

  private:
    fs::path file() const { return set_->dir / id_; }
    std::shared_ptr<SetState> set_;
    std::string id_, provider_type_;
    std::shared_ptr<const Tags> listed_;
};

class Set : public cloudhost::sdk::InstanceSet {
  public:
    explicit Set(fs::path dir) : state_(std::make_shared<SetState>()) {
        state_->dir = std::move(dir);
    }

    std::shared_ptr<cloudhost::sdk::Instance> create(const cloudhost::sdk::InstanceType &type,
                                                     const std::string &, const Tags &tags,
                                                     const std::string &,
                                                     const std::optional<std::string> &) override {
        state_->check_running("create");
        std::random_device random;
        std::ostringstream id;
        id << "i-" << std::hex << random() << random();
        write_vm(state_->dir / id.str(), type.provider_type, tags);
        return std::make_shared<Vm>(state_, id.str(), type.provider_type, tags);
    }

    std::vector<std::shared_ptr<cloudhost::sdk::Instance>> instances(const Tags &) override {
        state_->check_running("instances");
        std::vector<std::shared_ptr<cloudhost::sdk::Instance>> out;
#ifndef SWAPCLOUD_HIDE_INSTANCES
        for (const auto &entry : fs::directory_iterator(state_->dir)) {
            const std::string name = entry.path().filename().string();
            std::string type;
            Tags tags;
            if (name.rfind("i-", 0) == 0 && read_vm(entry.path(), type, tags))
                out.push_back(std::make_shared<Vm>(state_, name, type, std::move(tags)));
        }
#endif
        return out;
    }

    void stop() override {
        state_->stopped = true;
    }

  private:
    std::shared_ptr<SetState> state_;
};

std::unique_ptr<cloudhost::sdk::InstanceSet> make_set(const cloudhost::sdk::InstanceSetArgs &args) {
#ifdef SWAPCLOUD_FAIL_INIT
    (void)args;
    throw cloudhost::sdk::InvalidConfigError("swapcloud " SWAPCLOUD_VERSION
                                             ": this build refuses every config");
#else
    rapidjson::Document config;
    config.Parse(args.config_json.data(), args.config_json.size());
    if (config.HasParseError() || !config.IsObject() || !config.HasMember("state_dir") ||
        !config["state_dir"].IsString())
        throw cloudhost::sdk::InvalidConfigError("swapcloud config: \"state_dir\" (string) is "
                                                 "required");
    fs::path dir = config["state_dir"].GetString();
    fs::create_directories(dir);
    return std::make_unique<Set>(std::move(dir));
#endif
}

} // namespace swapcloud

CH_DRIVER_DEFINE_INFO("swapcloud", SWAPCLOUD_VERSION, SWAPCLOUD_ABI, SWAPCLOUD_ABI,
                      "File-backed test cloud for hot swap tests");
CH_DRIVER_ENTRY(cloudhost_request_, cloudhost_reply_) {
    return ::cloudhost::sdk::detail::Bridge<&swapcloud::make_set>::entry(cloudhost_request_,
                                                                         cloudhost_reply_);
}
