// A driver whose every answer that is free text is hostile: terminal escape
// sequences (OSC title, clear screen, C1 CSI as UTF-8), BEL, CR/LF and
// invalid UTF-8, in an instance's string,
// tags, address and remote user, and in every error message. Its one
// instance has a valid id and provider type (those are checked at the ABI
// boundary and an instance breaking them is dropped), so every other field
// reaches the CLI's output. Used by hostile_text_test.py.
#include "cloudhost/driver_sdk.hpp"

#include <memory>
#include <string>

namespace {

using namespace cloudhost::sdk;

// Each kind of bad text the adversarial run found, in one string.
const std::string hostile = "x\x1b]0;owned\x07y\x1b[2J\r\nz\xc2\x9b"
                            "31m\xff\xfe";

class TextInstance final : public Instance {
  public:
    explicit TextInstance(std::string set_id) : set_id_(std::move(set_id)) {}
    std::string id() const override { return "i-hostile"; }
    std::string string() const override { return "instance " + hostile; }
    std::string provider_type() const override { return "t1"; }
    // The InstanceSetID tag (default prefix) keeps it listed by the CLI's filter.
    Tags tags() const override {
        return {{"cloudhost-InstanceSetID", set_id_}, {"note", hostile}, {"k" + hostile, "v"}};
    }
    void set_tags(const Tags &) override { throw Error("set_tags refused: " + hostile); }
    void destroy() override { throw Error("destroy refused: " + hostile); }
    std::string address() const override { return "127.0.0.1" + hostile; }
    std::string remote_user() const override { return "root" + hostile; }
    void verify_host_key(const std::string &, const CommandRunner *) override {
        throw Error("verify_host_key refused: " + hostile);
    }

  private:
    std::string set_id_;
};

class TextSet final : public InstanceSet {
  public:
    explicit TextSet(std::string set_id) : set_id_(std::move(set_id)) {}
    std::shared_ptr<Instance> create(const InstanceType &, const std::string &, const Tags &,
                                     const std::string &,
                                     const std::optional<std::string> &) override {
        return std::make_shared<TextInstance>(set_id_);
    }
    std::vector<std::shared_ptr<Instance>> instances(const Tags &) override {
        return {std::make_shared<TextInstance>(set_id_)};
    }
    std::string instance_quota_group(const InstanceType &) override { return "group" + hostile; }

  private:
    std::string set_id_;
};

std::unique_ptr<InstanceSet> make_set(const InstanceSetArgs &args) {
    if (args.config_json.find("refuse") != std::string::npos)
        throw InvalidConfigError("config refused: " + hostile);
    return std::make_unique<TextSet>(args.instance_set_id);
}

} // namespace

// The description is clean: the catalog refuses metadata with control
// characters before any code runs (tests/catalog), so a hostile one would
// keep the driver from loading at all.
CLOUDHOST_DRIVER("textcloud", "1.0.0", "Hostile text \u2014 every answer", make_set);
