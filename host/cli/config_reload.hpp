// What a re-read config file may change in a running `cloudhost watch`.
//
// Reloaded (HotSwappableInstanceSet::reload, the hot swap's init → health
// check → switch path): driver_parameters, resource_tags,
// max_cloud_ops_per_second; the CLI's own settings (timeouts.sync_interval,
// ...) apply at once. Restart only: the keys that choose or vet the code
// (driver, driver_version, driver_dirs, trust), where it runs (isolation,
// isolation_user, isolation_limits, timeouts.driver_call/driver_create: the
// helper factory is fixed for the set) and the instances' identity
// (instance_set_id, tag_key_prefix: instances tagged under the old ones
// would be orphaned).
#pragma once

#include "cloudhost/config.hpp"

#include <string>
#include <vector>

namespace cloudhost::cli {

// The restart-only keys whose values differ, in config file order; empty
// when `next` can be reloaded into a host running `running`.
std::vector<std::string> restart_only_changes(const Config &running, const Config &next);

} // namespace cloudhost::cli
