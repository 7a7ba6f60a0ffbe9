#include "config_reload.hpp"

namespace cloudhost::cli {
namespace {

bool same_keys(const std::vector<TrustedKey> &a, const std::vector<TrustedKey> &b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].blob != b[i].blob) // a new comment alone trusts nothing new
            return false;
    return true;
}

bool same_trust(const TrustPolicy &a, const TrustPolicy &b) {
    return a.mode == b.mode && a.digests == b.digests && a.permissions == b.permissions &&
           same_keys(a.public_keys, b.public_keys);
}

} // namespace

std::vector<std::string> restart_only_changes(const Config &running, const Config &next) {
    std::vector<std::string> changed;
    const auto check = [&changed](bool same, const char *key) {
        if (!same)
            changed.emplace_back(key);
    };
    const IsolationSettings &a = running.isolation;
    const IsolationSettings &b = next.isolation;
    check(running.driver == next.driver, "driver");
    check(running.driver_version == next.driver_version, "driver_version");
    check(running.driver_dirs == next.driver_dirs, "driver_dirs");
    check(running.instance_set_id == next.instance_set_id, "instance_set_id");
    check(running.tag_key_prefix == next.tag_key_prefix, "tag_key_prefix");
    check(same_trust(running.trust, next.trust), "trust");
    check(a.mode == b.mode, "isolation");
    check(a.user == b.user, "isolation_user");
    check(a.max_address_space == b.max_address_space && a.max_open_files == b.max_open_files,
          "isolation_limits");
    check(a.driver_call == b.driver_call && a.per_operation == b.per_operation,
          "timeouts.driver_call");
    check(a.create == b.create, "timeouts.driver_create");
    return changed;
}

} // namespace cloudhost::cli
