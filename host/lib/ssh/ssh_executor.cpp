#include "cloudhost/ssh_executor.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/printable.hpp"
#include "metrics/host_metrics.hpp"
#include "ssh_connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace cloudhost {
namespace {

using detail::SshConnection;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

void check_port(const HostPort &where, std::string_view address) {
    unsigned value = 0;
    const char *end = where.port.data() + where.port.size();
    auto [ptr, ec] = std::from_chars(where.port.data(), end, value);
    if (where.port.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535) {
        throw SshError("invalid SSH port \"" + where.port + "\" for address \"" +
                       std::string(address) + "\"");
    }
}

// Lets the target's verify_host_key run commands on the connection whose
// key it is judging. Errors reach the driver as DriverError, as documented
// for CommandRunner.
class UnverifiedConnectionRunner final : public CommandRunner {
  public:
    UnverifiedConnectionRunner(SshConnection &connection, milliseconds timeout)
        : connection_(connection), timeout_(timeout) {}

    CommandOutput run(std::string_view command, std::string_view stdin_data) override {
        try {
            return connection_.run({}, command, stdin_data, steady_clock::now() + timeout_);
        } catch (const SshError &error) {
            throw DriverError(error.what());
        }
    }

  private:
    SshConnection &connection_;
    milliseconds timeout_;
};

} // namespace

// Hidden: members of a nested type otherwise inherit the exported class's visibility.
struct __attribute__((visibility("hidden"))) SshExecutor::Pool {
    Pool(const ExecutorTarget &target, SshKey key, SshExecutorOptions options)
        : target(target), key(std::move(key)), options(std::move(options)) {
        this->options.max_connections = std::max<std::size_t>(this->options.max_connections, 1);
    }

    // A connection checked out by one thread; `generation` tells whether
    // close() ran meanwhile.
    struct Lease {
        std::unique_ptr<SshConnection> connection;
        uint64_t generation = 0;
    };

    Lease acquire();
    void release(Lease lease, bool reusable);
    void discard_idle();
    void close_all();

  private:
    std::unique_ptr<SshConnection> set_up_connection();

  public:
    const ExecutorTarget &target;
    const SshKey key;
    SshExecutorOptions options;

  private:
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::unique_ptr<SshConnection>> idle;
    std::size_t open = 0; // idle + checked out, this generation
    uint64_t generation = 0;
    bool setting_up = false;
    uint64_t setups_finished = 0;
    std::exception_ptr last_setup_error;
    std::string verified_host_key; // written only by the one thread setting up
};

SshExecutor::Pool::Lease SshExecutor::Pool::acquire() {
    std::unique_lock lock(mutex);
    const uint64_t setups_seen = setups_finished;
    for (;;) {
        if (!idle.empty()) {
            Lease lease{std::move(idle.back()), generation};
            idle.pop_back();
            return lease;
        }
        // A setup that finished while we waited and left no connection at
        // all: share its failure instead of repeating it (Arvados).
        if (setups_finished != setups_seen && last_setup_error && open == 0) {
            std::rethrow_exception(last_setup_error);
        }
        if (!setting_up && open < options.max_connections) {
            break;
        }
        changed.wait(lock);
    }
    setting_up = true;
    const uint64_t setup_generation = generation;
    lock.unlock();

    std::unique_ptr<SshConnection> connection;
    std::exception_ptr error;
    try {
        connection = set_up_connection();
    } catch (...) {
        error = std::current_exception();
    }
    detail::record_ssh_connection(error == nullptr);

    lock.lock();
    setting_up = false;
    ++setups_finished;
    last_setup_error = error;
    if (connection && setup_generation == generation) {
        ++open;
    }
    changed.notify_all();
    lock.unlock();
    if (error) {
        std::rethrow_exception(error);
    }
    return Lease{std::move(connection), setup_generation};
}

std::unique_ptr<SshConnection> SshExecutor::Pool::set_up_connection() {
    const std::string address = target.address();
    if (address.empty())
        throw NoAddressError(escape_text(target.name()));
    HostPort where = parse_address(address, options.default_port);
    check_port(where, address);
    auto connection =
        std::make_unique<SshConnection>(where, target.remote_user(), key, options.connect_timeout);
    const std::string &presented = connection->server_host_key();
    if (presented == verified_host_key) {
        return connection; // same server as before: no need to ask again
    }
    UnverifiedConnectionRunner runner(*connection, options.connect_timeout);
    try {
        target.verify_host_key(presented, &runner);
    } catch (const std::exception &refusal) {
        spdlog::warn("ssh: host key of {} refused: {}", connection->description(), refusal.what());
        throw HostKeyError("host key verification failed for " + connection->description() + ": " +
                           refusal.what());
    }
    spdlog::debug("ssh: host key of {} verified", connection->description());
    verified_host_key = presented;
    return connection;
}

void SshExecutor::Pool::release(Lease lease, bool reusable) {
    std::unique_lock lock(mutex);
    const bool current = lease.generation == generation;
    if (reusable && current && lease.connection->connected()) {
        idle.push_back(std::move(lease.connection));
    } else if (current) {
        --open;
    }
    changed.notify_all();
    lock.unlock();
    lease.connection.reset(); // disconnect outside the lock
}

void SshExecutor::Pool::discard_idle() {
    std::vector<std::unique_ptr<SshConnection>> stale;
    {
        std::lock_guard lock(mutex);
        stale.swap(idle);
        open -= stale.size();
        changed.notify_all();
    }
}

void SshExecutor::Pool::close_all() {
    std::vector<std::unique_ptr<SshConnection>> closing;
    {
        std::lock_guard lock(mutex);
        closing.swap(idle);
        ++generation; // connections checked out now are dropped on release
        open = 0;
        changed.notify_all();
    }
}

SshExecutor::SshExecutor(std::shared_ptr<const ExecutorTarget> target, SshKey key,
                         SshExecutorOptions options)
    : target_(std::move(target)) {
    if (!target_) {
        throw std::invalid_argument("SshExecutor needs a target");
    }
    pool_ = std::make_unique<Pool>(*target_, std::move(key), std::move(options));
}

SshExecutor::~SshExecutor() {
    pool_->close_all();
}

void SshExecutor::close() {
    pool_->close_all();
}

CommandOutput SshExecutor::execute(const Environment &env, std::string_view command,
                                   std::string_view stdin_data,
                                   std::optional<milliseconds> timeout) {
    if (!timeout) {
        timeout = pool_->options.command_timeout;
    }
    detail::SshCommandRecord record; // failed unless set below
    for (int attempt = 1;; ++attempt) {
        Pool::Lease lease = pool_->acquire();
        SshConnection::Deadline deadline;
        if (timeout) {
            deadline = steady_clock::now() + *timeout;
        }
        try {
            CommandOutput output = lease.connection->run(env, command, stdin_data, deadline);
            pool_->release(std::move(lease), true);
            record.set(detail::SshCommandOutcome::ok);
            return output;
        } catch (const detail::CommandNotStartedError &error) {
            // The connection is dead (server restarted, network cut): so are
            // its idle siblings most likely. Nothing ran, so one retry on a
            // fresh connection is safe.
            pool_->release(std::move(lease), false);
            pool_->discard_idle();
            if (attempt >= 2) {
                throw SshError(error.what());
            }
            spdlog::debug("ssh: {}; reconnecting", error.what());
        } catch (const CommandTimeoutError &) {
            record.set(detail::SshCommandOutcome::timeout);
            pool_->release(std::move(lease), true);
            throw;
        } catch (...) {
            // The command may have run: report, do not retry, and start the
            // next command on a fresh connection.
            pool_->release(std::move(lease), false);
            throw;
        }
    }
}

} // namespace cloudhost
