// The instance's SSH identity and the one client key it accepts.
#pragma once

#include <libssh/libssh.h>

namespace cloudhost::loopback_server {

// The ed25519 host key in ./host_key, generated on first boot together with
// ./host_key.pub ("ssh-ed25519 AAAA...", what the driver's VerifyHostKey
// compares against). Throws std::runtime_error. The caller owns the key.
ssh_key load_or_generate_host_key();

// The public key in ./authorized_key ("TYPE BASE64 [comment]"). Throws
// std::runtime_error naming the file. The caller owns the key.
ssh_key load_authorized_key();

} // namespace cloudhost::loopback_server
