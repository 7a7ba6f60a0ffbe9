// A shared_ptr that many threads load while another replaces it.
//
// Not std::atomic<std::shared_ptr>: GCC 12's libstdc++ drops its internal
// lock with memory_order_relaxed at the end of load(), so a later exchange()
// is not ordered after the pointer read — a data race by the memory model,
// and ThreadSanitizer reports it. This spin lock has the same cost (one CAS
// and one store per load) and releases with memory_order_release.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <utility>

namespace cloudhost::detail {

template <class T> class GuardedSharedPtr {
  public:
    explicit GuardedSharedPtr(std::shared_ptr<T> value) noexcept : value_(std::move(value)) {}
    GuardedSharedPtr(const GuardedSharedPtr &) = delete;
    GuardedSharedPtr &operator=(const GuardedSharedPtr &) = delete;

    std::shared_ptr<T> load() const noexcept {
        const Lock lock(locked_);
        return value_;
    }

    // Returns the previous value, released (if last) outside the lock.
    std::shared_ptr<T> exchange(std::shared_ptr<T> next) noexcept {
        {
            const Lock lock(locked_);
            value_.swap(next);
        }
        return next;
    }

    // Runs `fn(value)` while no other thread can replace the value: cheaper
    // than load() when `fn` only needs to look (no reference counting).
    // `fn` must be short and must not touch this object.
    template <class Fn> decltype(auto) visit(Fn &&fn) const {
        const Lock lock(locked_);
        return fn(value_);
    }

  private:
    class Lock {
      public:
        explicit Lock(std::atomic_flag &flag) noexcept : flag_(flag) {
            // Held for a reference-count increment at most; yield rather
            // than spin when the holder was preempted (2-core machines).
            for (int spins = 0; flag_.test_and_set(std::memory_order_acquire); ++spins)
                if (spins >= 64)
                    std::this_thread::yield();
        }
        ~Lock() { flag_.clear(std::memory_order_release); }
        Lock(const Lock &) = delete;
        Lock &operator=(const Lock &) = delete;

      private:
        std::atomic_flag &flag_;
    };

    mutable std::atomic_flag locked_;
    std::shared_ptr<T> value_;
};

} // namespace cloudhost::detail
