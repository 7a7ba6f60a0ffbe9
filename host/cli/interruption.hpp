// SIGINT and SIGTERM for commands that must clean up before they exit
// (cloudtest, create, watch), and SIGHUP for watch's reload. The handlers
// only store into lock-free atomics (async-signal-safe); the command polls
// them between steps, so a signal never interrupts a half-done change.
#pragma once

namespace cloudhost::cli {

// While alive: the first SIGINT/SIGTERM is recorded for the command to act
// on; a second one exits at once with 128+signal (for an operator who
// cannot wait). With `hangup`, SIGHUP is recorded as a reload request.
// The previous dispositions come back when it is destroyed.
class InterruptionGuard {
  public:
    explicit InterruptionGuard(bool hangup = false);
    ~InterruptionGuard();
    InterruptionGuard(const InterruptionGuard &) = delete;
    InterruptionGuard &operator=(const InterruptionGuard &) = delete;

  private:
    bool hangup_;
};

// The signal that interrupted the command, 0 for none.
int interrupting_signal() noexcept;
// True once per SIGHUP received (several before a call count as one).
bool take_reload_request() noexcept;
// "SIGINT", "SIGTERM", ...
const char *signal_name(int signal_number) noexcept;

} // namespace cloudhost::cli
