// bench_driver.so: a driver whose instances do nothing but answer, for
// measuring the cost of the host wrapper and the C ABI.
#include "trivial_instance.hpp"

#include <atomic>

namespace cloudhost::bench {
namespace {

class TrivialSet : public sdk::InstanceSet {
  public:
    std::shared_ptr<sdk::Instance> create(const sdk::InstanceType &, const std::string &,
                                          const sdk::Tags &, const std::string &,
                                          const std::optional<std::string> &) override {
        return std::make_shared<TrivialInstance>("trivial-" + std::to_string(++serial_));
    }
    std::vector<std::shared_ptr<sdk::Instance>> instances(const sdk::Tags &) override { return {}; }

  private:
    std::atomic<int> serial_{0};
};

std::unique_ptr<sdk::InstanceSet> make_set(const sdk::InstanceSetArgs &) {
    return std::make_unique<TrivialSet>();
}

} // namespace
} // namespace cloudhost::bench

CLOUDHOST_DRIVER("bench-trivial", "1.0.0", "benchmark driver: instances that only answer",
                 cloudhost::bench::make_set)
