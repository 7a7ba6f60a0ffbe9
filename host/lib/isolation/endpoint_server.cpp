#include "endpoint_server.hpp"

#include "listing_encoder.hpp"
#include "protocol.hpp"

#include "cloudhost/errors.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unistd.h>

namespace cloudhost::isolation {
namespace {

using Steady = std::chrono::steady_clock;

// The socket's write side, shared by every thread that answers.
class Connection {
  public:
    explicit Connection(int fd) : fd_(fd) {}
    // False if the host is gone.
    bool send(Writer &w) {
        const auto frame = w.frame();
        std::lock_guard lock(mutex_);
        if (!closed_ && !write_all(fd_, frame))
            closed_ = true;
        return !closed_;
    }

  private:
    int fd_;
    std::mutex mutex_;
    bool closed_ = false;
};

// Driver log records go to the host as LOG frames, at most `limit` per
// second: a flooding driver loses records (counted), it cannot flood the
// host's log or starve replies.
class ForwardingSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    ForwardingSink(std::shared_ptr<Connection> connection, std::size_t limit)
        : connection_(std::move(connection)), limit_(limit) {}

  protected:
    void sink_it_(const spdlog::details::log_msg &msg) override {
        const auto now = Steady::now();
        if (now - window_start_ >= std::chrono::seconds(1)) {
            window_start_ = now;
            sent_ = 0;
            if (dropped_ > 0) {
                const auto note = "driver log flood: " + std::to_string(dropped_) +
                                  " records dropped in the last second";
                dropped_ = 0;
                forward(spdlog::level::warn, note);
            }
        }
        if (sent_ >= limit_) {
            ++dropped_;
            return;
        }
        ++sent_;
        forward(msg.level, std::string_view(msg.payload.data(), msg.payload.size()));
    }
    void flush_() override {}

  private:
    void forward(spdlog::level::level_enum level, std::string_view text) {
        Writer w;
        w.array(3).u64(static_cast<std::uint64_t>(Kind::log)).u64(level).str(text);
        connection_->send(w);
    }
    std::shared_ptr<Connection> connection_;
    std::size_t limit_;
    Steady::time_point window_start_{};
    std::size_t sent_ = 0;
    std::size_t dropped_ = 0;
};

// A bounded pool that grows on demand: a call waits only when every thread
// is busy with another one.
class Pool {
  public:
    explicit Pool(std::size_t max) : max_(max) {}
    void post(std::function<void()> job) {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(job));
        // Idle threads already notified for earlier jobs are not free.
        if (idle_ < queue_.size() && live_ < max_) {
            ++live_;
            std::thread([this] { work(); }).detach();
        } else {
            cv_.notify_one();
        }
    }
    // Waits up to `timeout` for the queue to empty and every job to end.
    bool drain(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return done_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && busy_ == 0; });
    }
    // After a successful drain: ends the idle threads and waits for them.
    void stop() {
        std::unique_lock lock(mutex_);
        stopping_ = true;
        cv_.notify_all();
        done_cv_.wait(lock, [&] { return live_ == 0; });
    }

  private:
    void work() {
        std::unique_lock lock(mutex_);
        for (;;) {
            ++idle_;
            cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
            --idle_;
            if (queue_.empty()) { // stopping
                --live_;
                done_cv_.notify_all();
                return;
            }
            auto job = std::move(queue_.front());
            queue_.pop_front();
            ++busy_;
            lock.unlock();
            job();
            lock.lock();
            --busy_;
            if (queue_.empty() && busy_ == 0)
                done_cv_.notify_all();
        }
    }
    std::size_t max_;
    std::mutex mutex_;
    std::condition_variable cv_, done_cv_;
    std::deque<std::function<void()>> queue_;
    std::size_t idle_ = 0, live_ = 0, busy_ = 0;
    bool stopping_ = false;
};

// verify_host_key's command runner: asks the host to run the command on its
// SSH connection and waits for the answer (routed by call id).
class Server;
class RemoteRunner final : public CommandRunner {
  public:
    RemoteRunner(Server &server, std::uint64_t call_id) : server_(server), call_id_(call_id) {}
    CommandOutput run(std::string_view command, std::string_view stdin_data) override;

  private:
    Server &server_;
    std::uint64_t call_id_;
};

class Server : public std::enable_shared_from_this<Server> {
  public:
    Server(int fd, EndpointOpener opener, ServerOptions options)
        : connection_(std::make_shared<Connection>(fd)), opener_(std::move(opener)),
          options_(options), pool_(options.max_threads) {}

    void hello() {
        Writer w;
        w.array(3)
            .u64(static_cast<std::uint64_t>(Kind::hello))
            .u64(protocol_version)
            .u64(static_cast<std::uint64_t>(::getpid()));
        connection_->send(w);
    }

    // One frame from the host. Throws ProtocolError on a malformed one.
    void dispatch(std::string payload) {
        auto message = std::make_shared<Message>(std::move(payload));
        const auto root = message->root();
        const auto kind = static_cast<Kind>(root.at(0, "kind").u64());
        if (kind == Kind::run_reply) {
            const auto id = root.at(1, "call id").u64();
            std::lock_guard lock(runs_mutex_);
            auto it = runs_.find(id);
            if (it != runs_.end()) {
                it->second->answer = std::move(message);
                it->second->cv.notify_all();
            }
            return;
        }
        if (kind != Kind::call)
            throw ProtocolError("message kind " + std::to_string(static_cast<int>(kind)) +
                                " is not a call");
        const auto id = root.at(1, "call id").u64();
        const auto op = static_cast<Op>(root.at(2, "op").u64());
        if (op == Op::set_log_level) {
            set_log_level(root.at(3, "level").u64());
            return;
        }
        if (op == Op::release) { // cheap and never blocks on the driver's cloud
            auto ep = endpoint();
            for (std::size_t i = 3; i < root.size(); ++i) { // a batch: ref...
                const auto ref = root.at(i, "ref").u64();
                if (ep) {
                    ep->release(ref);
                    outstanding_.fetch_sub(1);
                }
            }
            return;
        }
        if (op == Op::metrics) { // no driver code: answered even while every pool thread is stuck
            Writer w;
            w.array(4).u64(static_cast<std::uint64_t>(Kind::reply)).u64(id).boolean(true);
            write_metrics_snapshot(w, detail::take_snapshot(*metrics_));
            connection_->send(w);
            return;
        }
        auto self = shared_from_this();
        pool_.post([self, message, id, op] { self->run_call(*message, id, op); });
    }

    // The host closed the socket. Frees the driver's set only if the host
    // gave every instance back; false if a call is still stuck in the driver
    // (then only the process exit ends it).
    bool shutdown() {
        if (!pool_.drain(std::chrono::seconds(2)))
            return false;
        pool_.stop();
        {
            std::lock_guard lock(runs_mutex_);
            closed_ = true;
        }
        if (outstanding_.load() == 0) {
            std::lock_guard lock(endpoint_mutex_);
            endpoint_.reset();
        }
        return true;
    }

    struct RunSlot {
        std::condition_variable cv;
        std::shared_ptr<Message> answer;
    };

    CommandOutput run_remote(std::uint64_t call_id, std::string_view command,
                             std::string_view stdin_data) {
        auto slot = std::make_shared<RunSlot>();
        {
            std::lock_guard lock(runs_mutex_);
            if (closed_)
                throw DriverError("host connection closed");
            runs_[call_id] = slot;
        }
        Writer w;
        w.array(4)
            .u64(static_cast<std::uint64_t>(Kind::run))
            .u64(call_id)
            .str(command)
            .str(stdin_data);
        connection_->send(w);
        std::unique_lock lock(runs_mutex_);
        slot->cv.wait(lock, [&] { return slot->answer != nullptr || closed_; });
        runs_.erase(call_id);
        if (!slot->answer)
            throw DriverError("host connection closed");
        const auto root = slot->answer->root();
        if (!root.at(2, "ok").boolean())
            throw_wire_error(read_error(root, 3), "command runner");
        CommandOutput out;
        out.stdout_data = root.at(3, "stdout").str();
        out.stderr_data = root.at(4, "stderr").str();
        out.exit_status = static_cast<int>(root.at(5, "exit status").i64());
        return out;
    }

    void close_runs() {
        std::lock_guard lock(runs_mutex_);
        closed_ = true;
        for (auto &[id, slot] : runs_)
            slot->cv.notify_all();
    }

  private:
    std::shared_ptr<detail::DriverEndpoint> endpoint() {
        std::lock_guard lock(endpoint_mutex_);
        return endpoint_;
    }

    void set_log_level(std::uint64_t level) {
        std::lock_guard lock(endpoint_mutex_);
        level_ = level > spdlog::level::off ? spdlog::level::off
                                            : static_cast<spdlog::level::level_enum>(level);
        if (logger_)
            logger_->set_level(level_);
    }

    // Encodes the instances `list` hands over as the reply's [desc...]
    // (`in_parts`: most of them go ahead as PART messages); if that fails,
    // gives the driver back those the host did not get. The host may release
    // a part's instances before they are counted here: outstanding_ dips
    // below the truth meanwhile, and it is only read once no call runs.
    template <class List>
    void reply_with_listing(detail::DriverEndpoint &ep, Writer &w, std::uint64_t id,
                            bool needs_tags, bool in_parts, List &&list) {
        ListingEncoder::SendPart send_part;
        if (in_parts)
            send_part = [this](Writer &part) {
                if (!connection_->send(part))
                    throw DriverError("host connection closed");
            };
        ListingEncoder encoder(needs_tags, id, std::move(send_part));
        try {
            list(encoder);
            encoder.finish(w);
        } catch (...) {
            outstanding_.fetch_add(static_cast<long>(encoder.handed_to_host()));
            for (const auto ref : encoder.unsent())
                ep.release(ref);
            throw;
        }
        outstanding_.fetch_add(static_cast<long>(encoder.handed_to_host()));
    }

    void open(const Value &root, Writer &w) {
        OpenRequest req;
        req.library_path = root.at(3, "library path").str();
        req.info.name = root.at(4, "driver name").str();
        req.info.version = root.at(5, "driver version").str();
        req.info.description = root.at(6, "driver description").str();
        req.info.abi_min = static_cast<std::uint32_t>(root.at(7, "abi_min").u64());
        req.info.abi_max = static_cast<std::uint32_t>(root.at(8, "abi_max").u64());
        req.config_json = root.at(9, "config").str();
        req.instance_set_id = root.at(10, "instance set id").str();
        req.shared_resource_tags = read_tags(root.at(11, "shared resource tags"));
        req.metrics_registry = metrics_;
        set_log_level(root.at(12, "log level").u64());
        auto sink =
            std::make_shared<ForwardingSink>(connection_, options_.max_log_records_per_second);
        auto logger = std::make_shared<spdlog::logger>("driver", std::move(sink));
        {
            std::lock_guard lock(endpoint_mutex_);
            if (endpoint_ || logger_)
                throw DriverError("instance set already open in this helper");
            logger->set_level(level_);
            logger_ = logger;
        }
        std::shared_ptr<detail::DriverEndpoint> ep = opener_(req, logger);
        std::lock_guard lock(endpoint_mutex_);
        endpoint_ = std::move(ep);
        w.nil();
    }

    void call_op(const Value &root, std::uint64_t id, Op op, Writer &w) {
        if (op == Op::open)
            return open(root, w);
        auto ep = endpoint();
        if (!ep)
            throw DriverError("the instance set is not open");
        auto ref = [&] { return root.at(3, "ref").u64(); };
        switch (op) {
        case Op::create: {
            const auto type = read_instance_type(root.at(3, "type"));
            const auto image = std::string(root.at(4, "image id").str());
            const auto tags = read_tags(root.at(5, "tags"));
            const auto init = std::string(root.at(6, "init command").str());
            std::optional<std::string> key;
            if (!root.at(7, "public key").is_nil())
                key = root.at(7, "public key").str();
            return reply_with_listing(*ep, w, id, true, false, [&](ListingEncoder &encoder) {
                ep->create(type, image, tags, init, key, encoder);
            });
        }
        case Op::instances: {
            const auto filter = read_tags(root.at(3, "filter"));
            return reply_with_listing(
                *ep, w, id, root.at(4, "needs tags").boolean(), true,
                [&](ListingEncoder &encoder) { ep->instances(filter, encoder); });
        }
        case Op::quota_group:
            w.str(ep->instance_quota_group(read_instance_type(root.at(3, "type"))));
            return;
        case Op::stop:
            ep->stop();
            w.nil();
            return;
        case Op::string: {
            const auto s = ep->instance_string(ref());
            if (s)
                w.str(*s);
            else
                w.nil();
            return;
        }
        case Op::tags:
            write_tags(w, ep->instance_tags(ref()));
            return;
        case Op::set_tags:
            ep->instance_set_tags(ref(), read_tags(root.at(4, "tags")));
            w.nil();
            return;
        case Op::destroy:
            ep->instance_destroy(ref());
            w.nil();
            return;
        case Op::address:
            w.str(ep->instance_address(ref()));
            return;
        case Op::remote_user:
            w.str(ep->instance_remote_user(ref()));
            return;
        case Op::verify_host_key: {
            const auto key = std::string(root.at(4, "public key").str());
            RemoteRunner runner(*this, id);
            ep->instance_verify_host_key(ref(), key,
                                         root.at(5, "has runner").boolean() ? &runner : nullptr);
            w.nil();
            return;
        }
        case Op::price_history: {
            const auto prices =
                ep->instance_price_history(ref(), read_instance_type(root.at(4, "type")));
            w.array(prices.size());
            for (const auto &p : prices)
                w.array(2)
                    .i64(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             p.start_time.time_since_epoch())
                             .count())
                    .f64(p.price);
            return;
        }
        default:
            throw ProtocolError(std::string("unexpected op ") + op_name(op));
        }
    }

    void run_call(const Message &message, std::uint64_t id, Op op) noexcept {
        try {
            auto w = std::make_unique<Writer>();
            w->array(4).u64(static_cast<std::uint64_t>(Kind::reply)).u64(id).boolean(true);
            try {
                call_op(message.root(), id, op, *w);
            } catch (...) {
                const auto error = wire_error_from_current_exception();
                w = std::make_unique<Writer>();
                w->array(7).u64(static_cast<std::uint64_t>(Kind::reply)).u64(id).boolean(false);
                write_error(*w, error);
            }
            if (id != 0)
                connection_->send(*w);
        } catch (...) {
            // Out of memory while answering: the host times the call out.
        }
    }

    std::shared_ptr<Connection> connection_;
    EndpointOpener opener_;
    ServerOptions options_;
    Pool pool_;
    std::mutex endpoint_mutex_;
    std::shared_ptr<detail::DriverEndpoint> endpoint_;
    const std::shared_ptr<MetricsRegistry> metrics_ = std::make_shared<MetricsRegistry>();
    std::shared_ptr<spdlog::logger> logger_;
    spdlog::level::level_enum level_ = spdlog::level::info;
    std::atomic<long> outstanding_{0};
    std::mutex runs_mutex_;
    std::map<std::uint64_t, std::shared_ptr<RunSlot>> runs_;
    bool closed_ = false;
};

CommandOutput RemoteRunner::run(std::string_view command, std::string_view stdin_data) {
    return server_.run_remote(call_id_, command, stdin_data);
}

} // namespace

int serve(int fd, const EndpointOpener &opener, const ServerOptions &options) {
    // Shared with the pool's threads, which may outlive this function if a
    // driver call never returns (the process exit ends them).
    auto server = std::make_shared<Server>(fd, opener, options);
    server->hello();
    FrameReader reader(fd, options.max_frame, options.spin);
    std::string payload;
    int code = 0;
    try {
        while (reader.next(payload))
            server->dispatch(std::move(payload));
    } catch (const ProtocolError &) {
        code = 3;
    }
    server->close_runs();
    if (!server->shutdown()) {
        // A driver call never returned: its thread still uses the server.
        new std::shared_ptr<Server>(server); // NOLINT: deliberately kept
        return 4;
    }
    return code;
}

} // namespace cloudhost::isolation
