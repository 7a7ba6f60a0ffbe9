// The one source of the defaults for tag names and the instance secret,
// used by Config, the tag verifier (prepare_create, TagVerifier), cloudtest,
// the CLI and the guide: a dispatcher calling prepare_create() with its
// defaults gets the names the config and the CLI use.
#pragma once

#include <string_view>

namespace cloudhost {

// Config "tag_key_prefix": tags the host adds are `<prefix>InstanceSetID`,
// `<prefix>InstanceType`, `<prefix>InstanceSecret`.
inline constexpr std::string_view default_tag_key_prefix = "cloudhost-";
// Config "instance_secret_path" for drivers other than loopback (loopback's
// instances share one machine, so it uses a path relative to each one's
// directory: loopback_instance_secret_path).
inline constexpr std::string_view default_instance_secret_path =
    "/var/run/cloudhost-instance-secret";
inline constexpr std::string_view loopback_instance_secret_path = "instance-secret";
inline constexpr std::string_view instance_secret_tag_suffix = "InstanceSecret";

} // namespace cloudhost
