// A loopback driver with exactly one defect, chosen at build time with
// -DCLOUDHOST_DEFECT_<NAME>: each build is its own .so (its own driver name)
// that breaks one rule of the driver contract and keeps every other, so
// cloudtest --conformance must fail exactly the step proving that rule.
#include "loopback_instance_set.hpp"

#include <cloudhost/driver_sdk.hpp>

#include <mutex>
#include <set>

namespace {

using namespace cloudhost;

// Delegates everything to the real loopback instance, but for the defect.
class DefectiveInstance : public sdk::Instance {
  public:
    DefectiveInstance(std::shared_ptr<sdk::Instance> inner, sdk::Tags listing_overlay = {})
        : inner_(std::move(inner)), overlay_(std::move(listing_overlay)) {}

    std::string id() const override { return inner_->id(); }
    std::string provider_type() const override { return inner_->provider_type(); }
    sdk::Tags tags() const override { return inner_->tags(); }
    std::shared_ptr<const sdk::Tags> tags_snapshot() const override {
        // CLOUDHOST_DEFECT_FILTER: the listing claims the filter's tags.
        sdk::Tags tags = inner_->tags();
        for (const auto &[k, v] : overlay_)
            tags[k] = v;
        return std::make_shared<const sdk::Tags>(std::move(tags));
    }
    void set_tags(const sdk::Tags &tags) override {
#ifdef CLOUDHOST_DEFECT_SET_TAGS
        (void)tags; // accepted, never applied
#else
        inner_->set_tags(tags);
#endif
    }
    void destroy() override {
#ifdef CLOUDHOST_DEFECT_DESTROY_TWICE
        static std::mutex mutex;
        static std::set<std::string> destroyed;
        {
            std::lock_guard lock(mutex);
            if (!destroyed.insert(id()).second)
                throw sdk::Error("defective: instance " + id() + " not found");
        }
#endif
        inner_->destroy();
    }
    std::string address() const override {
        return inner_->address();
    }
    std::string remote_user() const override {
#ifdef CLOUDHOST_DEFECT_REMOTE_USER
        return "cloudtest-nobody"; // commands still run as the server's user
#else
        return inner_->remote_user();
#endif
    }
    void verify_host_key(const std::string &key, const sdk::CommandRunner *runner) override {
        inner_->verify_host_key(key, runner);
    }

  private:
    std::shared_ptr<sdk::Instance> inner_;
    sdk::Tags overlay_;
};

class DefectiveInstanceSet : public sdk::InstanceSet {
  public:
    explicit DefectiveInstanceSet(const sdk::InstanceSetArgs &args) : inner_(args) {}

    std::shared_ptr<sdk::Instance> create(const sdk::InstanceType &type,
                                          const std::string &image_id, const sdk::Tags &tags,
                                          const std::string &init_command,
                                          const std::optional<std::string> &public_key) override {
#ifdef CLOUDHOST_DEFECT_INIT_COMMAND
        (void)init_command;
        const std::string run_at_boot; // never run; VerifyHostKey still succeeds
#else
        const std::string &run_at_boot = init_command;
#endif
        std::shared_ptr<sdk::Instance> made;
#ifdef CLOUDHOST_DEFECT_UNTYPED_QUOTA
        try {
            made = inner_.create(type, image_id, tags, run_at_boot, public_key);
        } catch (const sdk::QuotaError &e) {
            throw sdk::Error(e.what()); // the quota's type is lost
        }
#else
        made = inner_.create(type, image_id, tags, run_at_boot, public_key);
#endif
        std::lock_guard lock(mutex_);
        mine_.insert(made->id());
        return std::make_shared<DefectiveInstance>(made);
    }

    std::vector<std::shared_ptr<sdk::Instance>> instances(const sdk::Tags &filter) override {
        std::vector<std::shared_ptr<sdk::Instance>> out;
#ifdef CLOUDHOST_DEFECT_FILTER
        const sdk::Tags overlay = filter;
        const sdk::Tags inner_filter; // every instance, claiming to match
#else
        const sdk::Tags overlay;
        const sdk::Tags &inner_filter = filter;
#endif
        for (auto &inst : inner_.instances(inner_filter)) {
#ifdef CLOUDHOST_DEFECT_LOST_ACROSS_SETS
            // Only what this very object created: another process (or a
            // restart) sees nothing.
            std::lock_guard lock(mutex_);
            if (!mine_.count(inst->id()))
                continue;
#endif
            out.push_back(std::make_shared<DefectiveInstance>(inst, overlay));
        }
        return out;
    }

  private:
    loopback::LoopbackInstanceSet inner_;
    std::mutex mutex_;
    std::set<std::string> mine_;
};

std::unique_ptr<sdk::InstanceSet> make_defective_set(const sdk::InstanceSetArgs &args) {
    return std::make_unique<DefectiveInstanceSet>(args);
}

} // namespace

CLOUDHOST_DRIVER(CLOUDHOST_DEFECT_NAME, "1.0.0", "loopback with one contract defect (tests)",
                 make_defective_set);
