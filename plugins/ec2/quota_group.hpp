// InstanceQuotaGroup as Arvados's EC2 driver computes it.
#pragma once

#include <map>
#include <string>

namespace cloudhost::ec2 {

// Lowercases `provider_type`; its group is the longest configured prefix at
// least as long as its leading run of letters (its family), else the family
// itself; "-spot" is appended for preemptible types. "" stays "".
std::string quota_group(const std::string &provider_type, bool preemptible,
                        const std::map<std::string, std::string> &groups);

} // namespace cloudhost::ec2
