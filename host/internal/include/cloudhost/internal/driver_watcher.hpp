// Watches driver directories with inotify and reports changes to `*.so`
// files once they are complete: closed after writing, renamed in, removed or
// renamed away. A file still being written is never reported as changed.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

namespace cloudhost {

class DriverWatcher {
  public:
    // Watches each of `dirs` that exists. `on_change` runs on the watcher's
    // own thread after a burst of changes has settled (~20 ms). Throws
    // std::system_error when inotify cannot be set up.
    DriverWatcher(const std::vector<std::filesystem::path> &dirs, std::function<void()> on_change);
    ~DriverWatcher(); // stops the thread; no on_change runs after it returns
    DriverWatcher(const DriverWatcher &) = delete;
    DriverWatcher &operator=(const DriverWatcher &) = delete;

    // True while `file` was created or modified and not yet closed.
    bool being_written(const std::filesystem::path &file) const;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace cloudhost
