// An ExecutorTarget for tests: a fixed address and user, and a verification
// step the test chooses. Counts verification calls.
#pragma once

#include "cloudhost/ssh_executor.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

namespace cloudhost::test {

class TestTarget final : public ExecutorTarget {
  public:
    using Verify = std::function<void(const std::string &key, CommandRunner *runner)>;

    TestTarget(std::string address, std::string user, Verify verify)
        : address_(std::move(address)), user_(std::move(user)), verify_(std::move(verify)) {}

    std::string address() const override {
        std::lock_guard lock(mutex_);
        return address_;
    }
    void set_address(std::string address) {
        std::lock_guard lock(mutex_);
        address_ = std::move(address);
    }
    std::string remote_user() const override { return user_; }
    void verify_host_key(const std::string &key, CommandRunner *runner) const override {
        ++verify_calls;
        verify_(key, runner);
    }

    mutable std::atomic<int> verify_calls{0};

  private:
    mutable std::mutex mutex_;
    std::string address_;
    std::string user_;
    Verify verify_;
};

} // namespace cloudhost::test
