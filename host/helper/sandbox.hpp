// What cloudhost-driver-host does to itself before it loads a driver: dies
// with its parent, closes every inherited fd but the socket, caps resources,
// optionally becomes `user`, sets no_new_privs and installs a seccomp filter
// that refuses the system calls a cloud driver never needs and an attacker
// would (ptrace, process_vm_readv/writev, mount, kexec, module loading,
// bpf, ...) with EPERM.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace cloudhost::helper {

struct SandboxOptions {
    int channel_fd = 3;
    int library_fd = 4; // the driver's private copy, open for reading
    pid_t parent = 0;   // the host; 0: not checked
    std::uint64_t max_address_space = 0;
    std::uint64_t max_open_files = 1024;
    std::string user;
};

// Throws std::runtime_error naming the step that failed.
void enter_sandbox(const SandboxOptions &options);

} // namespace cloudhost::helper
