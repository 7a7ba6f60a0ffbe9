// The hot swap's health check: does the new version see the instances the
// active one sees?
#pragma once

#include "core/bound_instance.hpp"

#include <string>

namespace cloudhost::detail {

struct HealthCheckResult {
    bool ok = false;
    std::string reason;            // why not, when !ok
    bool conclusive = true;        // false: a listing failed; may pass later
    BoundInstances candidate_list; // the candidate's listing, when ok
};

// Lists the active binding, the candidate, then the active one again (the
// cloud may change meanwhile): every id the active version listed both times
// must be listed by the candidate, and the candidate must list nothing the
// active version did not list either time. Retried a few times while the
// cloud churns. Never throws: a failed listing is a failed check.
HealthCheckResult check_same_instances(const std::shared_ptr<Binding> &active,
                                       const std::shared_ptr<Binding> &candidate);

} // namespace cloudhost::detail
