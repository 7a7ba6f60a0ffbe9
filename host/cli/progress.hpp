// Progress of long-running steps (boot wait, destroy wait, cloudtest) for a
// person watching, kept out of the command's result: commands whose stdout
// is their result (create, destroy) report on stderr, and only when it is a
// terminal and --json is off; cloudtest's text output is its progress, so it
// reports on stdout unless --json.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>

namespace cloudhost::cli {

class Progress {
  public:
    // Reports on `out` when `enabled`. On a `terminal`, status() rewrites one
    // line in place; elsewhere it prints a line each time the status changes.
    Progress(std::ostream &out, bool enabled, bool terminal);
    // stderr, enabled when it is a terminal and --json is off.
    static Progress on_terminal(bool json);
    ~Progress();
    Progress(const Progress &) = delete;
    Progress &operator=(const Progress &) = delete;
    Progress(Progress &&) = default;

    bool enabled() const { return enabled_; }
    // A line that stays (it replaces an open status line).
    void line(const std::string &message);
    // The current state of a wait; on a terminal with the time waited so far.
    void status(const std::string &message, double elapsed_seconds);
    // Leaves an open status line as it is and moves below it (before an error).
    void end_status();

  private:
    void clear_status();

    std::ostream *out_;
    bool enabled_;
    bool terminal_;
    bool status_open_ = false;
    std::string last_status_;
};

struct WaitResult {
    bool done = false;
    double seconds = 0;
    std::string last_detail;  // from the last attempt that did not succeed
    bool interrupted = false; // SIGINT/SIGTERM under an InterruptionGuard
};

// Calls `attempt` until it returns true or `timeout` has passed, sleeping
// `interval` between attempts (poll_until: the last attempt is at the
// deadline), and reports "WHAT: DETAIL" as status. `seconds` is the time
// actually waited. `attempt` sets `detail` to say why it is not done yet.
// Ends early when interrupting_signal() is set.
WaitResult wait_with_progress(Progress &progress, const std::string &what,
                              std::chrono::milliseconds timeout, std::chrono::milliseconds interval,
                              const std::function<bool(std::string &detail)> &attempt);

// "1.23s"
std::string format_seconds(double seconds);

} // namespace cloudhost::cli
