#include "cloudhost/internal/driver_watcher.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace cloudhost {

namespace {

constexpr uint32_t complete_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM;
constexpr uint32_t writing_mask = IN_CREATE | IN_MODIFY;
constexpr int settle_ms = 20; // a burst of events (cp = create, modify, close) yields one call

bool is_driver_file(std::string_view name) {
    return name.size() > 3 && name.substr(name.size() - 3) == ".so";
}

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {
        if (fd_ < 0)
            throw std::system_error(errno, std::generic_category(), "driver watcher");
    }
    ~Fd() { ::close(fd_); }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const noexcept { return fd_; }

  private:
    int fd_;
};

} // namespace

struct DriverWatcher::State {
    Fd inotify{inotify_init1(IN_NONBLOCK | IN_CLOEXEC)};
    Fd wake{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    std::map<int, std::filesystem::path> dirs; // watch descriptor → directory
    std::function<void()> on_change;
    mutable std::mutex mutex;
    std::set<std::filesystem::path> writing;
    std::thread thread;

    // Reads every queued event; true if a complete change was among them.
    bool drain() {
        alignas(inotify_event) char buffer[16 * 1024];
        bool changed = false;
        for (;;) {
            const ssize_t n = ::read(inotify.get(), buffer, sizeof buffer);
            if (n <= 0)
                return changed;
            for (ssize_t at = 0; at < n;) {
                const auto *event = reinterpret_cast<const inotify_event *>(buffer + at);
                at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
                if (event->mask & IN_Q_OVERFLOW) {
                    changed = true; // events lost: rescan anyway
                    continue;
                }
                const auto dir = dirs.find(event->wd);
                if (event->len == 0 || dir == dirs.end() || !is_driver_file(event->name))
                    continue;
                const auto file = dir->second / event->name;
                const std::lock_guard lock(mutex);
                if (event->mask & complete_mask) {
                    writing.erase(file);
                    changed = true;
                } else if (event->mask & writing_mask) {
                    writing.insert(file);
                }
            }
        }
    }

    void run() {
        pollfd fds[2] = {{inotify.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
        bool pending = false;
        for (;;) {
            const int ready = ::poll(fds, 2, pending ? settle_ms : -1);
            if (ready < 0 && errno != EINTR)
                return;
            if (fds[1].revents & POLLIN)
                return;
            if (ready > 0 && (fds[0].revents & POLLIN)) {
                pending = drain() || pending;
                continue; // wait for the burst to settle
            }
            if (ready == 0 && pending) {
                pending = false;
                try {
                    on_change();
                } catch (const std::exception &e) {
                    spdlog::warn("driver watcher: rescan failed: {}", e.what());
                }
            }
        }
    }
};

DriverWatcher::DriverWatcher(const std::vector<std::filesystem::path> &dirs,
                             std::function<void()> on_change)
    : state_(std::make_unique<State>()) {
    state_->on_change = std::move(on_change);
    for (const auto &dir : dirs) {
        const int wd = inotify_add_watch(state_->inotify.get(), dir.c_str(),
                                         complete_mask | writing_mask | IN_ONLYDIR);
        if (wd >= 0)
            state_->dirs.emplace(wd, dir);
        else if (errno != ENOENT)
            spdlog::warn("driver watcher: cannot watch {}: {}", dir.string(),
                         std::generic_category().message(errno));
    }
    state_->thread = std::thread([state = state_.get()] { state->run(); });
}

DriverWatcher::~DriverWatcher() {
    const uint64_t one = 1;
    if (::write(state_->wake.get(), &one, sizeof one) < 0)
        spdlog::error("driver watcher: cannot wake the thread");
    state_->thread.join();
}

bool DriverWatcher::being_written(const std::filesystem::path &file) const {
    const std::lock_guard lock(state_->mutex);
    return state_->writing.count(file) != 0;
}

} // namespace cloudhost
