#include "sandbox.hpp"

#include <seccomp.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace cloudhost::helper {
namespace {

[[noreturn]] void fail(const std::string &step) {
    throw std::runtime_error(step + ": " + std::strerror(errno));
}

void set_limit(int resource, std::uint64_t value, const char *name) {
    rlimit limit{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    if (::setrlimit(resource, &limit) != 0)
        fail(std::string("setrlimit ") + name);
}

void close_other_fds(int channel, int library) {
    // 0-2 stay (stdin is /dev/null, stdout goes to stderr), and the two fds
    // the host handed over, which must sit right after them.
    if (channel != 3 || library != 4)
        throw std::runtime_error("the host hands over fds 3 and 4");
    if (::syscall(SYS_close_range, 5u, ~0u, 0u) != 0)
        fail("close_range");
    // Whatever the driver execs must not inherit them.
    if (::fcntl(channel, F_SETFD, FD_CLOEXEC) != 0 || ::fcntl(library, F_SETFD, FD_CLOEXEC) != 0)
        fail("fcntl FD_CLOEXEC");
}

void become(const std::string &user) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd *found = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
        throw std::runtime_error("isolation_user " + user + ": no such user");
    if (::setgroups(0, nullptr) != 0)
        fail("setgroups");
    if (::setgid(pw.pw_gid) != 0)
        fail("setgid");
    if (::setuid(pw.pw_uid) != 0)
        fail("setuid " + user);
    if (::setuid(0) == 0)
        throw std::runtime_error("setuid " + user + ": root could be regained");
}

void install_seccomp() {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        throw std::runtime_error("seccomp_init failed");
    static const int refused[] = {
        SCMP_SYS(ptrace),
        SCMP_SYS(process_vm_readv),
        SCMP_SYS(process_vm_writev),
        SCMP_SYS(mount),
        SCMP_SYS(umount2),
        SCMP_SYS(pivot_root),
        SCMP_SYS(chroot),
        SCMP_SYS(kexec_load),
        SCMP_SYS(kexec_file_load),
        SCMP_SYS(init_module),
        SCMP_SYS(finit_module),
        SCMP_SYS(delete_module),
        SCMP_SYS(bpf),
        SCMP_SYS(perf_event_open),
        SCMP_SYS(reboot),
        SCMP_SYS(swapon),
        SCMP_SYS(swapoff),
        SCMP_SYS(setns),
        SCMP_SYS(unshare),
        SCMP_SYS(userfaultfd),
        SCMP_SYS(keyctl),
        SCMP_SYS(add_key),
        SCMP_SYS(request_key),
        SCMP_SYS(open_by_handle_at),
        SCMP_SYS(name_to_handle_at),
        SCMP_SYS(iopl),
        SCMP_SYS(ioperm),
    };
    int rc = 0;
    for (int nr : refused)
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) != 0)
            break;
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0)
        throw std::runtime_error(std::string("seccomp: ") + std::strerror(-rc));
}

// The host whose death ends this helper; written once before the handler
// is installed.
volatile pid_t host_pid = 0;

// Not SIGKILL (see enter_sandbox); one of the real-time signals glibc leaves
// free, so that no driver's use of SIGUSR1/2 is mistaken for it.
int parent_death_signal() {
    return SIGRTMAX - 1;
}

void on_parent_death_signal(int) {
    if (::getppid() != host_pid) // async-signal-safe, both
        ::kill(::getpid(), SIGKILL);
}

} // namespace

void enter_sandbox(const SandboxOptions &options) {
    // Die with the host. Linux sends the parent-death signal when the
    // *thread* that started us exits, not only the host process: a helper
    // started by a dispatcher's worker thread (or hot swap's watcher) would
    // die with that thread. So the signal only wakes a handler that checks
    // whether the host process itself is gone (we were re-parented). If it
    // is already gone, the signal was set too late: the check below.
    host_pid = options.parent != 0 ? options.parent : ::getppid();
    struct sigaction action {};
    action.sa_handler = on_parent_death_signal;
    ::sigemptyset(&action.sa_mask);
    if (::sigaction(parent_death_signal(), &action, nullptr) != 0)
        fail("sigaction for the parent-death signal");
    if (::prctl(PR_SET_PDEATHSIG, parent_death_signal()) != 0)
        fail("prctl PR_SET_PDEATHSIG");
    if (::getppid() != host_pid)
        throw std::runtime_error("the host process is gone");
    if (::getpgrp() != ::getpid() && ::setpgid(0, 0) != 0)
        fail("setpgid");
    close_other_fds(options.channel_fd, options.library_fd);
    if (options.max_address_space != 0)
        set_limit(RLIMIT_AS, options.max_address_space, "RLIMIT_AS");
    if (options.max_open_files != 0)
        set_limit(RLIMIT_NOFILE, options.max_open_files, "RLIMIT_NOFILE");
    set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE"); // a crash must not leave the config in a core file
    if (!options.user.empty())
        become(options.user);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail("prctl PR_SET_NO_NEW_PRIVS");
    install_seccomp();
}

} // namespace cloudhost::helper
