// The instance both sides of the "trivial call" benchmark use: compiled into
// bench_driver.so (called through the host wrapper and the C ABI) and into
// cloudhost-bench itself (called directly through a virtual call), so the two
// measurements differ only by the path, not by the work.
#pragma once

#include "cloudhost/driver_sdk.hpp"

namespace cloudhost::bench {

class TrivialInstance : public sdk::Instance {
  public:
    explicit TrivialInstance(std::string id) : id_(std::move(id)) {}
    std::string id() const override { return id_; }
    std::string provider_type() const override { return "bench"; }
    sdk::Tags tags() const override { return {}; }
    void set_tags(const sdk::Tags &) override {}
    void destroy() override {}
    std::string address() const override { return "127.0.0.1:22"; }
    std::string remote_user() const override { return user_; }

  private:
    std::string id_;
    std::string user_ = "root";
};

} // namespace cloudhost::bench
