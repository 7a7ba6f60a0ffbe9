// A C++ SDK test driver publishing metrics with driver_sdk_metrics.hpp: the
// same metrics as metrics_c_driver.c (creates_total{instance_type},
// create_vcpus, instances). config_json "bad:NAME:LABEL" registers a counter
// NAME with label LABEL in the factory (rule tests).
#include "cloudhost/driver_sdk.hpp"

#include <atomic>

namespace {

using namespace cloudhost::sdk;

class TestInstance : public Instance {
  public:
    TestInstance(std::string id, std::string type, GaugeSeries instances)
        : id_(std::move(id)), type_(std::move(type)), instances_(instances) {}
    std::string id() const override { return id_; }
    std::string provider_type() const override { return type_; }
    Tags tags() const override { return {}; }
    void set_tags(const Tags &) override {}
    void destroy() override { instances_.dec(); }
    std::string address() const override { return ""; }
    std::string remote_user() const override { return "root"; }

  private:
    std::string id_, type_;
    GaugeSeries instances_;
};

class TestSet : public InstanceSet {
  public:
    explicit TestSet(const Metrics &metrics)
        : creates_(metrics.counter("creates_total", "Creates.", {"instance_type"})),
          vcpus_(metrics.histogram("create_vcpus", "vCPUs of created instances.", {}, {1, 2, 4, 8})
                     .labels()),
          instances_(metrics.gauge("instances", "Live instances.").labels()),
          small_(creates_.labels({"small"})) {}

    std::shared_ptr<Instance> create(const InstanceType &type, const std::string &, const Tags &,
                                     const std::string &,
                                     const std::optional<std::string> &) override {
        // The hot path: series handles got once, updated without a lock.
        (type.name == "small" ? small_ : creates_.labels({type.name})).inc();
        vcpus_.observe(type.vcpus);
        instances_.inc();
        return std::make_shared<TestInstance>("i-" + std::to_string(++next_id_), type.provider_type,
                                              instances_);
    }
    std::vector<std::shared_ptr<Instance>> instances(const Tags &) override { return {}; }

  private:
    Counter creates_;
    HistogramSeries vcpus_;
    GaugeSeries instances_;
    CounterSeries small_;
    std::atomic<unsigned long> next_id_{0};
};

std::unique_ptr<InstanceSet> make_set(const InstanceSetArgs &args) {
    if (args.config_json.rfind("bad:", 0) == 0) {
        const std::string spec = args.config_json.substr(4);
        const auto colon = spec.find(':');
        const std::string name = spec.substr(0, colon);
        if (colon == std::string::npos)
            args.metrics.counter(name, "Refused.");
        else
            args.metrics.counter(name, "Refused.", {spec.substr(colon + 1)});
    }
    return std::make_unique<TestSet>(args.metrics);
}

} // namespace

CLOUDHOST_DRIVER("metrics-sdk", "1.0.0", "Test driver publishing metrics from the C++ SDK",
                 make_set);
