// The loopback driver's parameters (the driver config JSON).
//
//   {
//     "state_dir": "/path",        where instances live; default
//                                  $XDG_STATE_HOME/cloudhost/loopback, else
//                                  ~/.local/state/cloudhost/loopback, and
//                                  /var/lib/cloudhost/loopback for root
//     "max_instances": 64,         Create beyond it → QuotaError
//     "verify_host_key": true,     false: VerifyHostKey answers NotImplemented
//                                  (the host then proves identity with the
//                                  instance secret)
//     "skip_init_command": false,  true: instances do not run the InitCommand
//                                  (a broken cloud, for conformance tests)
//     "server_path": "/path"       cloudhost-loopback-server to run
//   }
//
// Parsed with the SDK config helper (cloudhost/driver_sdk_config.hpp):
// unknown keys and wrong types are InvalidConfigErrors naming the key, line
// and column. Many instance sets and processes may share one state
// directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace cloudhost::loopback {

struct LoopbackConfig {
    std::filesystem::path state_dir;
    uint32_t max_instances = 64;
    bool verify_host_key = true;
    bool skip_init_command = false;
    std::filesystem::path server_path;
};

// Parses and completes the config (defaults, absolute state_dir, server
// found: "server_path" > $CLOUDHOST_LOOPBACK_SERVER > the installed server
// > the one in the build tree). Throws sdk::InvalidConfigError.
LoopbackConfig parse_config(std::string_view json);

} // namespace cloudhost::loopback
