// The one seam between the host's core and a driver's instance set: a method
// per ABI operation. Two implementations: InProcessEndpoint (the driver's C
// function table in this process) and IsolatedEndpoint (a client of a
// cloudhost-driver-host helper process serving the same .so). Nothing above
// this interface (core, hot swap, cloudtest) touches the C function table.
//
// Rules every implementation keeps:
//  - NULL-slot defaults live here, once: instance_string answers nullopt
//    (the caller uses the id), instance_quota_group "", price_history {},
//    verify_host_key NotImplementedError; the other optional slots throw
//    NotImplementedError naming the operation.
//  - Methods throw the exceptions of cloudhost/errors.hpp only: a driver's
//    status becomes the mapped DriverError, a foreign C++ exception thrown
//    across the C ABI becomes DriverError ("driver threw across the C
//    ABI"), a dead helper DriverCrashedError, a call past its deadline
//    DriverTimeoutError.
//  - No driver function is ever called from inside a driver callback (sink,
//    logger, command runner): instances the visitor drops are released after
//    the driver's function has returned.
//  - Everything the driver hands back is untrusted: ids are checked (non-
//    empty, bounded, printable) before the visitor sees them; strings, tag
//    sets and price histories are bounded (driver_limits.hpp).
#pragma once

#include "cloudhost/instance.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/types.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::detail {

// An opaque reference to one driver instance handle, owned by the host
// until release(). In process: the ch_instance pointer; isolated: the
// helper's token for it.
using InstanceRef = std::uint64_t;

// What a driver says about one instance it hands over, as views valid only
// during the visitor call.
struct InstanceDescView {
    std::string_view id;
    std::string_view provider_type;
    // Tags as of the call, in the driver's order; size() pairs.
    const std::vector<std::pair<std::string_view, std::string_view>> &tags;
};

// Receives the instances create/instances hand over, one at a time.
class InstanceVisitor {
  public:
    virtual ~InstanceVisitor() = default;
    // Returns true to take over the reference (the host will release() it
    // later), false to have the endpoint release it once the driver's call
    // has returned. Must not throw.
    virtual bool take(InstanceRef ref, const InstanceDescView &desc) noexcept = 0;
    // False: desc.tags is left empty (a listing without a filter need not
    // gather 8 tag views per instance).
    virtual bool needs_tags() const noexcept { return true; }
};

class DriverEndpoint {
  public:
    virtual ~DriverEndpoint() = default; // instance_set_free (after stop)

    // InstanceSet ---------------------------------------------------------
    // Create: the visitor sees exactly one instance or the call throws
    // DriverError naming the rule.
    virtual void create(const InstanceType &type, std::string_view image_id, const Tags &tags,
                        std::string_view init_command, const std::optional<std::string> &public_key,
                        InstanceVisitor &visitor) = 0;
    virtual void instances(const Tags &filter, InstanceVisitor &visitor) = 0;
    virtual std::string instance_quota_group(const InstanceType &type) = 0;
    // instance_set_stop, at most once; never throws.
    virtual void stop() noexcept = 0;

    // Instance ------------------------------------------------------------
    virtual void release(InstanceRef ref) noexcept = 0;
    virtual std::optional<std::string> instance_string(InstanceRef ref) = 0;
    virtual Tags instance_tags(InstanceRef ref) = 0;
    virtual void instance_set_tags(InstanceRef ref, const Tags &tags) = 0;
    virtual void instance_destroy(InstanceRef ref) = 0;
    virtual std::string instance_address(InstanceRef ref) = 0;
    virtual std::string instance_remote_user(InstanceRef ref) = 0;
    // `runner` may be null.
    virtual void instance_verify_host_key(InstanceRef ref, std::string_view public_key,
                                          CommandRunner *runner) = 0;
    virtual std::vector<InstancePrice> instance_price_history(InstanceRef ref,
                                                              const InstanceType &type) = 0;
};

// What instance_set_new is given.
struct EndpointArgs {
    std::string config_json;
    std::string instance_set_id;
    Tags shared_resource_tags;
    std::shared_ptr<spdlog::logger> logger; // null: spdlog's default logger
};

// EndpointFactory (cloudhost/instance_set.hpp) opens one driver instance set
// (instance_set_new) and returns the endpoint serving it, throwing the mapped
// DriverError. A second implementation of the seam plugs in by providing
// one (InstanceSetOptions::endpoint_factory); InProcessEndpoint::open is the
// default.

} // namespace cloudhost::detail
