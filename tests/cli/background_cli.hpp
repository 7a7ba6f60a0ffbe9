// The cloudhost CLI started in the background (stdout and stderr to files),
// for tests that signal it while it runs and check how it ends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost::test {

class BackgroundProcess {
  public:
    BackgroundProcess(const std::vector<std::string> &argv, const std::filesystem::path &dir,
                      const std::map<std::string, std::string> &env);
    ~BackgroundProcess(); // SIGKILLs and reaps it if it still runs
    BackgroundProcess(const BackgroundProcess &) = delete;
    BackgroundProcess &operator=(const BackgroundProcess &) = delete;

    pid_t pid() const { return pid_; }
    void signal(int signal_number) const;
    // Its exit status (128 + signal if killed), or nothing if it still runs
    // after `timeout`.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    std::string out() const;
    std::string err() const;
    // Polls stdout until it contains `text`; false after `timeout`.
    bool wait_for_output(const std::string &text, std::chrono::milliseconds timeout) const;

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path out_, err_;
};

// Live processes whose command line contains `needle` (e.g. a helper's
// "--parent=PID", a loopback state directory).
int processes_mentioning(const std::string &needle);

} // namespace cloudhost::test
