// The seam served in this process: the driver's C function table
// (DriverLibrary::table()) and its ch_instance_set. Owns the set (its
// destructor stops and frees it), the ch_logger the driver was given and a
// reference to the library, so the code stays mapped while the set lives.
//
// Every call into the driver goes through here, so the rules of
// driver_endpoint.hpp are kept once: NULL-slot defaults, exceptions thrown
// across the C ABI, releases deferred until the driver's function returned,
// and the checks of what the driver hands back.
#pragma once

#include "driver_endpoint.hpp"

#include "metrics/driver_metrics_service.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/driver_library.hpp"
#include "cloudhost/internal/logging.hpp"

#include <atomic>
#include <memory>
#include <string_view>

namespace cloudhost::detail {

class InProcessEndpoint final : public DriverEndpoint {
  public:
    // Calls the driver's instance_set_new; throws the mapped DriverError.
    // Usable as an EndpointFactory.
    static std::unique_ptr<DriverEndpoint> open(std::shared_ptr<DriverLibrary> library,
                                                const EndpointArgs &args);
    ~InProcessEndpoint() override;
    InProcessEndpoint(const InProcessEndpoint &) = delete;
    InProcessEndpoint &operator=(const InProcessEndpoint &) = delete;

    void create(const InstanceType &type, std::string_view image_id, const Tags &tags,
                std::string_view init_command, const std::optional<std::string> &public_key,
                InstanceVisitor &visitor) override;
    void instances(const Tags &filter, InstanceVisitor &visitor) override;
    std::string instance_quota_group(const InstanceType &type) override;
    void stop() noexcept override;

    void release(InstanceRef ref) noexcept override;
    std::optional<std::string> instance_string(InstanceRef ref) override;
    Tags instance_tags(InstanceRef ref) override;
    void instance_set_tags(InstanceRef ref, const Tags &tags) override;
    void instance_destroy(InstanceRef ref) override;
    std::string instance_address(InstanceRef ref) override;
    std::string instance_remote_user(InstanceRef ref) override;
    void instance_verify_host_key(InstanceRef ref, std::string_view public_key,
                                  CommandRunner *runner) override;
    std::vector<InstancePrice> instance_price_history(InstanceRef ref,
                                                      const InstanceType &type) override;

    const std::string &driver_name() const noexcept { return library_->info().name; }

  private:
    InProcessEndpoint(std::shared_ptr<DriverLibrary> library,
                      std::shared_ptr<spdlog::logger> logger);
    struct Listing;

    // Runs `call`, a driver function that hands instances to a sink,
    // releasing what the visitor (or the checks) dropped once it has
    // returned. `exactly_one`: create's rule.
    template <class Call>
    void list(std::string_view operation, bool exactly_one, InstanceVisitor &visitor, Call &&call);
    void release_now(InstanceRef ref) noexcept;
    // A driver exception where no result can carry it: logged, counted.
    void swallowed(std::string_view operation) noexcept;

    std::shared_ptr<DriverLibrary> library_; // first member: destroyed last
    const ch_driver_v1 &table_;
    DriverLogger logger_;
    std::unique_ptr<DriverMetricsService> metrics_; // valid until instance_set_free, as logger_
    ch_instance_set *set_ = nullptr;
    std::atomic<bool> stopped_{false};

    // The listing whose driver call runs on this thread: releases of its
    // endpoint's instances wait until that call has returned.
    static thread_local Listing *active_listing_;
};

} // namespace cloudhost::detail
