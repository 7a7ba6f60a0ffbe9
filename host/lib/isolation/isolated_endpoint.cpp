#include "isolated_endpoint.hpp"

#include "core/in_process_endpoint.hpp"
#include "core/validation.hpp"
#include "hotswap/swap_events.hpp"
#include "metrics/driver_metrics_service.hpp"
#include "metrics/host_metrics.hpp"
#include "metrics/metrics_snapshot.hpp"
#include "protocol.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/printable.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <sys/socket.h>
#include <thread>
#include <unordered_map>

namespace cloudhost::isolation {
namespace {

using Steady = std::chrono::steady_clock;
using detail::InstanceRef;

constexpr std::size_t max_instance_id = 1024;

// What a helper says reaches the host's log: control bytes and malformed
// UTF-8 escaped, so a driver cannot forge log lines or drive a terminal.
std::string escape_for_log(std::string_view text) {
    return escape_text(text);
}

std::string millis(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0)
        return std::to_string(d.count() / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}

// One call's mailbox: its reply, or the helper's command-runner requests.
struct Pending {
    std::atomic<bool> signalled{false};
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Message>> inbox;
    bool dead = false;
};

struct DeathNotice {
    std::function<void(const std::string &reason)> on_crash; // not called on a clean close
};

// One helper process and the thread reading its socket.
class Connection {
  public:
    Connection(std::uint64_t generation, std::string label, std::shared_ptr<spdlog::logger> logger,
               std::size_t max_frame, std::chrono::microseconds spin, DeathNotice notice)
        : generation(generation), label_(std::move(label)), logger_(std::move(logger)),
          max_frame_(max_frame), spin_(spin), notice_(std::move(notice)) {}

    ~Connection() {
        close();
        if (reader_.joinable())
            reader_.join();
    }

    void start(const std::filesystem::path &exe, const std::filesystem::path &library,
               const HelperLimits &limits) {
        process_ = std::make_unique<HelperProcess>(exe, library, limits);
        reader_ = std::thread([this] { read_loop(); });
    }

    const std::uint64_t generation;
    std::atomic<std::uint64_t> next_id{1};
    std::atomic<int> sent_level{-1};

    pid_t pid() const { return process_ ? process_->pid() : -1; }

    bool dead() const {
        std::lock_guard lock(mutex_);
        return dead_;
    }
    std::string death_reason() const {
        std::lock_guard lock(mutex_);
        return reason_;
    }
    Steady::time_point died_at() const {
        std::lock_guard lock(mutex_);
        return died_at_;
    }

    // Registers call `id`; null if the helper is already dead.
    std::shared_ptr<Pending> enter(std::uint64_t id) {
        auto p = std::make_shared<Pending>();
        std::lock_guard lock(mutex_);
        if (dead_)
            return nullptr;
        pending_.emplace(id, p);
        return p;
    }
    void leave(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        pending_.erase(id);
    }

    bool send(Writer &w) {
        const auto frame = w.frame();
        std::lock_guard lock(write_mutex_);
        return process_ && write_all(process_->fd(), frame);
    }

    // The helper misbehaved or died: kill it, reap it, fail every call in
    // flight. Only the first fault counts.
    void fault(const std::string &why) noexcept {
        std::vector<std::shared_ptr<Pending>> failed;
        std::string reason;
        bool crashed = false;
        {
            std::lock_guard lock(mutex_);
            if (dead_)
                return;
            crashed = !closing_;
            if (process_) {
                if (closing_) {
                    status_ = process_->reap(std::chrono::seconds(3));
                } else {
                    process_->kill();
                    status_ = process_->reap(std::chrono::milliseconds(0));
                }
            }
            try {
                reason_ = label_ + " (helper pid " + std::to_string(pid()) + ") " +
                          (why.empty() ? status_ : why + "; helper " + status_);
            } catch (...) {
            }
            reason = reason_;
            dead_ = true;
            died_at_ = Steady::now();
            for (auto &[id, p] : pending_)
                failed.push_back(p);
            dead_cv_.notify_all();
        }
        for (auto &p : failed) {
            std::lock_guard lock(p->mutex);
            p->dead = true;
            p->signalled.store(true);
            p->cv.notify_all();
        }
        if (crashed && notice_.on_crash)
            notice_.on_crash(reason);
    }

    // Ends the helper: EOF on its socket lets it free the set and exit;
    // one that does not within 5 s is killed.
    void close() noexcept {
        {
            std::unique_lock lock(mutex_);
            if (!process_ || dead_)
                return;
            closing_ = true;
            ::shutdown(process_->fd(), SHUT_WR);
            if (dead_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return dead_; }))
                return;
        }
        process_->kill();
    }

  private:
    void read_loop() noexcept {
        FrameReader reader(process_->fd(), max_frame_, spin_);
        std::string payload;
        std::string why;
        try {
            bool hello = false;
            while (reader.next(payload)) {
                auto message = std::make_shared<Message>(std::move(payload));
                route(message, hello);
            }
            why = "";
        } catch (const ProtocolError &e) {
            why = std::string("protocol fault: ") + e.what();
        } catch (const std::exception &e) {
            why = std::string("reader failed: ") + e.what();
        }
        fault(why);
    }

    void route(const std::shared_ptr<Message> &message, bool &hello) {
        const auto root = message->root();
        const auto kind = static_cast<Kind>(root.at(0, "kind").u64());
        if (!hello) {
            if (kind != Kind::hello)
                throw ProtocolError("first message is not a hello");
            const auto version = root.at(1, "protocol version").u64();
            if (version != protocol_version)
                throw ProtocolError("helper speaks protocol " + std::to_string(version) +
                                    ", host " + std::to_string(protocol_version));
            hello = true;
            return;
        }
        switch (kind) {
        case Kind::log: {
            const auto level = root.at(1, "log level").u64();
            const auto lvl = level >= spdlog::level::critical
                                 ? spdlog::level::critical
                                 : static_cast<spdlog::level::level_enum>(level);
            if (logger_->should_log(lvl))
                logger_->log(lvl, "{}", escape_for_log(root.at(2, "log text").str()));
            return;
        }
        case Kind::reply:
        case Kind::part:
        case Kind::run: {
            const auto id = root.at(1, "call id").u64();
            std::shared_ptr<Pending> p;
            {
                std::lock_guard lock(mutex_);
                auto it = pending_.find(id);
                if (it == pending_.end())
                    throw ProtocolError("answer to call " + std::to_string(id) +
                                        ", which is not in flight");
                p = it->second;
            }
            std::lock_guard lock(p->mutex);
            p->inbox.push_back(message);
            p->signalled.store(true, std::memory_order_release);
            p->cv.notify_one();
            return;
        }
        default:
            throw ProtocolError("unexpected message kind " +
                                std::to_string(static_cast<std::uint64_t>(kind)));
        }
    }

    std::string label_;
    std::shared_ptr<spdlog::logger> logger_;
    std::size_t max_frame_;
    std::chrono::microseconds spin_;
    DeathNotice notice_;
    std::unique_ptr<HelperProcess> process_;
    std::thread reader_;
    std::mutex write_mutex_;
    mutable std::mutex mutex_;
    std::condition_variable dead_cv_;
    std::unordered_map<std::uint64_t, std::shared_ptr<Pending>> pending_;
    bool dead_ = false;
    bool closing_ = false;
    std::string status_;
    std::string reason_;
    Steady::time_point died_at_{};
};

struct RefEntry {
    std::uint64_t generation;
    std::uint64_t helper_ref;
    std::string id;
};

} // namespace

struct IsolatedEndpoint::State {
    std::shared_ptr<DriverLibrary> library;
    IsolatedArgs args;
    IsolationOptions options;
    std::shared_ptr<spdlog::logger> logger;
    std::filesystem::path exe;
    std::string label; // "driver <name> <version>"
    std::shared_ptr<MetricsRegistry> metrics_registry;
    std::shared_ptr<void> metrics_collector; // removed when the set closes
    std::mutex metrics_mutex;                // one snapshot applied at a time
    std::string last_metrics_problem;        // logged once per distinct problem

    mutable std::mutex mutex;
    std::shared_ptr<Connection> current;
    std::uint64_t generation = 0;
    std::deque<Steady::time_point> crashes;
    bool crash_counted = false;
    Steady::time_point restart_at{};
    std::string last_crash;
    bool closing = false;

    std::mutex refs_mutex;
    std::unordered_map<InstanceRef, RefEntry> refs;
    InstanceRef next_token = 1;
    // Released helper refs not yet sent, all of helper `pending_generation`:
    // one RELEASE message carries up to release_batch of them, sent when the
    // batch is full, before the next call and when the set closes. (A
    // message per reference made dropping 10,000 listed instances 13x the
    // in-process time.)
    static constexpr std::size_t release_batch = 512;
    std::vector<std::uint64_t> pending_releases;
    std::uint64_t pending_generation = 0;
    std::mutex rebind_mutex;
    std::uint64_t rebind_generation = 0;
    std::unordered_map<std::string, std::uint64_t> rebind_table;

    void emit(SwapEventKind kind, const std::string &reason) noexcept {
        try {
            SwapEvent e;
            e.kind = kind;
            e.driver = library->info().name;
            e.version = library->info().version;
            e.library = library->path();
            e.reason = reason;
            if (kind == SwapEventKind::driver_crashed)
                detail::record_isolated_driver_crash(*metrics_registry, e.driver,
                                                     args.instance_set_id);
            else if (kind == SwapEventKind::driver_restarted)
                detail::record_isolated_driver_restart(*metrics_registry, e.driver,
                                                       args.instance_set_id);
            detail::deliver(*logger, options.on_event, e);
        } catch (...) {
        }
    }

    std::chrono::milliseconds timeout_of(Op op) const {
        const auto it = options.timeouts.per_operation.find(std::string_view(op_name(op)));
        if (it != options.timeouts.per_operation.end())
            return it->second;
        if (op == Op::metrics) // a scrape must not wait for long
            return std::min(options.timeouts.driver_call,
                            std::chrono::milliseconds(std::chrono::seconds(5)));
        return op == Op::create ? options.timeouts.create : options.timeouts.driver_call;
    }

    // Starts a helper and opens the set in it. Caller holds `mutex`.
    std::shared_ptr<Connection> start_locked() {
        DeathNotice notice{
            [this](const std::string &reason) { emit(SwapEventKind::driver_crashed, reason); }};
        auto conn = std::make_shared<Connection>(++generation, label, logger, options.max_frame,
                                                 options.spin, std::move(notice));
        current = conn;
        crash_counted = false;
        conn->start(exe, library->path(), options.limits);
        const auto &info = library->info();
        call_on(
            conn, Op::open, 10,
            [&](Writer &w) {
                w.str(library->path().string())
                    .str(info.name)
                    .str(info.version)
                    .str(info.description)
                    .u64(info.abi_min)
                    .u64(info.abi_max)
                    .str(args.config_json)
                    .str(args.instance_set_id);
                write_tags(w, args.shared_resource_tags);
                w.u64(static_cast<std::uint64_t>(logger->level()));
            },
            nullptr);
        return conn;
    }

    // The live helper, restarting a dead one unless back-off says wait.
    std::shared_ptr<Connection> connection() {
        std::lock_guard lock(mutex);
        if (closing)
            throw DriverError(label + ": the instance set is closed");
        if (current && !current->dead())
            return current;
        if (current) {
            account_crash_locked();
            const auto now = Steady::now();
            if (now < restart_at) {
                const auto wait =
                    std::chrono::duration_cast<std::chrono::milliseconds>(restart_at - now);
                throw DriverCrashedError(last_crash + "; next restart in " + millis(wait));
            }
        }
        const bool restart = current != nullptr;
        try {
            start_locked();
        } catch (const std::exception &e) {
            // The same config opened before: a failing (re)start is a crash.
            if (current)
                current->fault(std::string("start failed: ") + e.what());
            if (dynamic_cast<const DriverCrashedError *>(&e))
                throw;
            throw DriverCrashedError(label + ": restart failed: " + e.what());
        }
        if (restart)
            emit(SwapEventKind::driver_restarted,
                 "helper pid " + std::to_string(current->pid()) + " after: " + last_crash);
        return current;
    }

    void account_crash_locked() {
        if (crash_counted)
            return;
        crash_counted = true;
        const auto died = current->died_at();
        last_crash = current->death_reason();
        crashes.push_back(died);
        while (!crashes.empty() && died - crashes.front() > options.crash_loop_window)
            crashes.pop_front();
        const auto n = crashes.size();
        if (n >= options.crash_loop_crashes) {
            restart_at = died + options.max_backoff;
            emit(SwapEventKind::driver_down,
                 std::to_string(n) + " crashes within " + millis(options.crash_loop_window) +
                     "; no restart for " + millis(options.max_backoff) + "; last: " + last_crash);
            return;
        }
        auto delay = std::chrono::milliseconds(0);
        if (n >= 2) {
            delay = options.first_backoff;
            for (std::size_t i = 2; i < n && delay < options.max_backoff; ++i)
                delay *= 2;
            delay = std::min(delay, options.max_backoff);
        }
        restart_at = died + delay;
    }

    // Takes a listing's instances sent ahead of its reply ([PART, id, ...]),
    // on the caller's thread.
    using PartHandler = std::function<void(const Message &part)>;

    // One call on `conn`: sends [CALL, id, op, args...], serves command-runner
    // requests and hands parts to `on_part`, returns the reply's result or
    // throws.
    std::shared_ptr<Message> call_on(const std::shared_ptr<Connection> &conn, Op op,
                                     std::size_t nargs, const std::function<void(Writer &)> &args,
                                     CommandRunner *runner, const PartHandler *on_part = nullptr) {
        flush_releases(*conn);
        const int level = static_cast<int>(logger->level());
        if (conn->sent_level.exchange(level) != level) {
            Writer w;
            w.array(4)
                .u64(static_cast<std::uint64_t>(Kind::call))
                .u64(0)
                .u64(static_cast<std::uint64_t>(Op::set_log_level))
                .u64(static_cast<std::uint64_t>(level));
            conn->send(w);
        }
        const auto id = conn->next_id.fetch_add(1);
        auto pending = conn->enter(id);
        if (!pending)
            throw DriverCrashedError(std::string(op_name(op)) + ": " + conn->death_reason());
        struct Leave {
            Connection &c;
            std::uint64_t id;
            ~Leave() { c.leave(id); }
        } leave{*conn, id};
        {
            Writer w;
            w.array(3 + nargs)
                .u64(static_cast<std::uint64_t>(Kind::call))
                .u64(id)
                .u64(static_cast<std::uint64_t>(op));
            args(w);
            conn->send(w); // a failed write shows up as the helper's death
        }
        const auto timeout = timeout_of(op);
        const auto deadline = Steady::now() + timeout;
        for (;;) {
            // A cross-vCPU wake-up costs ~70 us here: poll briefly first.
            const auto spin_until = Steady::now() + options.spin;
            while (!pending->signalled.load(std::memory_order_acquire) &&
                   Steady::now() < spin_until) {
            }
            std::shared_ptr<Message> message;
            {
                std::unique_lock lock(pending->mutex);
                if (!pending->cv.wait_until(
                        lock, deadline, [&] { return !pending->inbox.empty() || pending->dead; })) {
                    lock.unlock();
                    if (op ==
                        Op::metrics) // served without driver code: a busy helper, not a stuck one
                        throw DriverTimeoutError(std::string(op_name(op)) + ": " + label +
                                                 " did not answer within " + millis(timeout));
                    conn->fault(std::string(op_name(op)) + " exceeded its deadline of " +
                                millis(timeout) + ", killed");
                    throw DriverTimeoutError(std::string(op_name(op)) + ": " + label +
                                             " did not answer within " + millis(timeout) +
                                             "; its helper was killed and will be restarted");
                }
                if (!pending->inbox.empty()) {
                    message = std::move(pending->inbox.front());
                    pending->inbox.pop_front();
                    if (pending->inbox.empty())
                        pending->signalled.store(false);
                }
            }
            if (!message)
                throw DriverCrashedError(std::string(op_name(op)) + ": " + conn->death_reason());
            try {
                const auto root = message->root();
                const auto kind = static_cast<Kind>(root.at(0, "kind").u64());
                if (kind == Kind::run) {
                    serve_run(*conn, id, root, runner);
                    continue;
                }
                if (kind == Kind::part) {
                    if (!on_part)
                        throw ProtocolError(std::string("instances sent ahead of a ") +
                                            op_name(op) + " reply");
                    (*on_part)(*message);
                    continue;
                }
                if (!root.at(2, "ok").boolean())
                    throw_wire_error(read_error(root, 3), op_name(op));
                root.at(3, "result"); // present
                return message;
            } catch (const ProtocolError &e) {
                conn->fault(std::string("protocol fault: ") + e.what());
                throw DriverCrashedError(std::string(op_name(op)) + ": " + conn->death_reason());
            }
        }
    }

    // verify_host_key's runner, on the caller's thread (the SSH connection
    // belongs to it).
    void serve_run(Connection &conn, std::uint64_t id, const Value &root, CommandRunner *runner) {
        const auto command = root.at(2, "command").str();
        const auto input = root.at(3, "stdin").str();
        Writer w;
        try {
            if (!runner)
                throw DriverError("verify_host_key: no command runner was given");
            const auto out = runner->run(command, input);
            w.array(6)
                .u64(static_cast<std::uint64_t>(Kind::run_reply))
                .u64(id)
                .boolean(true)
                .str(out.stdout_data)
                .str(out.stderr_data)
                .i64(out.exit_status);
        } catch (...) {
            const auto error = wire_error_from_current_exception();
            Writer e;
            e.array(7).u64(static_cast<std::uint64_t>(Kind::run_reply)).u64(id).boolean(false);
            write_error(e, error);
            conn.send(e);
            return;
        }
        conn.send(w);
    }

    std::shared_ptr<Message> call(Op op, std::size_t nargs,
                                  const std::function<void(Writer &)> &args,
                                  CommandRunner *runner = nullptr) {
        return call_on(connection(), op, nargs, args, runner);
    }

    // An instance call: resolves `token` in the live helper (re-binding by
    // id after a restart), then calls.
    std::shared_ptr<Message> instance_call(Op op, InstanceRef token, std::size_t extra,
                                           const std::function<void(Writer &)> &args,
                                           CommandRunner *runner = nullptr) {
        auto conn = connection();
        const auto ref = resolve(conn, token);
        return call_on(
            conn, op, 1 + extra,
            [&](Writer &w) {
                w.u64(ref);
                args(w);
            },
            runner);
    }

    std::uint64_t resolve(const std::shared_ptr<Connection> &conn, InstanceRef token) {
        std::string id;
        {
            std::lock_guard lock(refs_mutex);
            auto it = refs.find(token);
            if (it == refs.end())
                throw DriverError(label + ": unknown instance reference");
            if (it->second.generation == conn->generation)
                return it->second.helper_ref;
            id = it->second.id;
        }
        std::lock_guard rebind(rebind_mutex);
        if (rebind_generation != conn->generation) {
            std::unordered_map<std::string, std::uint64_t> table;
            const PartHandler into_table = [&](const Message &part) {
                each_desc(*conn, part,
                          [&](std::uint64_t ref, std::string_view iid, std::string_view,
                              const TagViews &) { table.emplace(std::string(iid), ref); });
            };
            auto reply = call_on(
                conn, Op::instances, 2,
                [](Writer &w) {
                    write_tags(w, {});
                    w.boolean(false);
                },
                nullptr, &into_table);
            into_table(*reply);
            rebind_table = std::move(table);
            rebind_generation = conn->generation;
        }
        auto it = rebind_table.find(id);
        if (it == rebind_table.end())
            throw DriverError(label + ": instance " + id +
                              " is no longer listed by the driver since its helper restarted");
        const auto ref = it->second;
        rebind_table.erase(it);
        std::lock_guard lock(refs_mutex);
        auto entry = refs.find(token);
        if (entry != refs.end())
            entry->second = {conn->generation, ref, id};
        return ref;
    }

    // [desc...] of a create/instances reply or of a part sent ahead.
    static Value desc_list(const Message &message) {
        const auto root = message.root();
        const bool part = static_cast<Kind>(root.at(0, "kind").u64()) == Kind::part;
        return root.at(part ? 2 : 3, "instances");
    }

    // Walks [desc...] of a create/instances reply or part; a bad one is a
    // protocol fault of the helper (its in-process endpoint checked ids
    // already).
    using TagViews = std::vector<std::pair<std::string_view, std::string_view>>;
    void each_desc(Connection &conn, const Message &reply,
                   const std::function<void(std::uint64_t, std::string_view, std::string_view,
                                            const TagViews &)> &fn) {
        try {
            const auto list = desc_list(reply);
            const auto n = list.size();
            TagViews tags; // reused: no allocation per instance
            for (std::size_t i = 0; i < n; ++i) {
                const auto d = list.at(i, "instance");
                const auto ref = d.at(0, "ref").u64();
                const auto id = d.at(1, "id").str();
                if (id.empty() || id.size() > max_instance_id || detail::text_problem(id))
                    throw ProtocolError("instance id empty, too long or not printable");
                const auto type = d.at(2, "provider type").str();
                read_tag_views(d.at(3, "tags"), tags);
                fn(ref, id, type, tags);
            }
        } catch (const ProtocolError &e) {
            conn.fault(std::string("protocol fault: ") + e.what());
            throw DriverCrashedError(label + ": " + conn.death_reason());
        }
    }

    void hand_over(const std::shared_ptr<Connection> &conn, const Message &reply,
                   detail::InstanceVisitor &visitor, bool exactly_one, const char *what) {
        try {
            const auto n = desc_list(reply).size();
            if (exactly_one && n != 1)
                throw ProtocolError(std::string(what) + " handed over " + std::to_string(n) +
                                    " instances instead of one");
        } catch (const ProtocolError &e) {
            conn->fault(std::string("protocol fault: ") + e.what());
            throw DriverCrashedError(label + ": " + conn->death_reason());
        }
        std::vector<InstanceRef> dropped;
        each_desc(*conn, reply,
                  [&](std::uint64_t ref, std::string_view id, std::string_view type,
                      const TagViews &tags) {
                      InstanceRef token;
                      {
                          std::lock_guard lock(refs_mutex);
                          token = next_token++;
                          refs.emplace(token, RefEntry{conn->generation, ref, std::string(id)});
                      }
                      if (!visitor.take(token, detail::InstanceDescView{id, type, tags}))
                          dropped.push_back(token);
                  });
        for (auto token : dropped)
            release(token);
    }

    // Reads a reply's result; a malformed one is the helper's fault.
    template <class Read> auto read(const Message &reply, Read &&read_result) {
        try {
            return read_result(reply.root().at(3, "result"));
        } catch (const ProtocolError &e) {
            std::shared_ptr<Connection> conn;
            {
                std::lock_guard lock(mutex);
                conn = current;
            }
            if (conn)
                conn->fault(std::string("protocol fault: ") + e.what());
            throw DriverCrashedError(label + ": protocol fault: " + e.what());
        }
    }

    void release(InstanceRef token) noexcept {
        try {
            std::vector<std::uint64_t> full;
            std::uint64_t generation = 0;
            {
                std::lock_guard lock(refs_mutex);
                auto it = refs.find(token);
                if (it == refs.end())
                    return;
                generation = it->second.generation;
                if (pending_generation != generation) { // those died with their helper
                    pending_releases.clear();
                    pending_generation = generation;
                }
                pending_releases.push_back(it->second.helper_ref);
                refs.erase(it);
                if (pending_releases.size() >= release_batch)
                    full.swap(pending_releases);
            }
            if (full.empty())
                return;
            std::shared_ptr<Connection> conn;
            {
                std::lock_guard lock(mutex);
                conn = current;
            }
            if (conn && conn->generation == generation)
                send_releases(*conn, full);
        } catch (...) {
        }
    }

    // Sends the pending releases of `conn`'s helper, if any.
    void flush_releases(Connection &conn) noexcept {
        try {
            std::vector<std::uint64_t> batch;
            {
                std::lock_guard lock(refs_mutex);
                if (pending_generation == conn.generation)
                    batch.swap(pending_releases);
            }
            if (!batch.empty())
                send_releases(conn, batch);
        } catch (...) {
        }
    }

    // [CALL, 0, RELEASE, ref...]: no reply.
    static void send_releases(Connection &conn, const std::vector<std::uint64_t> &helper_refs) {
        if (conn.dead())
            return; // that helper is gone and its references with it
        Writer w;
        w.array(3 + helper_refs.size())
            .u64(static_cast<std::uint64_t>(Kind::call))
            .u64(0)
            .u64(static_cast<std::uint64_t>(Op::release));
        for (const auto ref : helper_refs)
            w.u64(ref);
        conn.send(w);
    }

    // Copies the live helper's driver metrics into the host's registry; a
    // helper that is down (or being restarted) keeps its last values.
    void collect_metrics() noexcept {
        try {
            std::shared_ptr<Connection> conn;
            {
                std::lock_guard lock(mutex);
                if (closing || !current || current->dead())
                    return;
                conn = current;
            }
            const std::lock_guard lock(metrics_mutex);
            auto reply = call_on(
                conn, Op::metrics, 0, [](Writer &) {}, nullptr);
            const auto families =
                read(*reply, [](const Value &v) { return read_metrics_snapshot(v); });
            const detail::SnapshotScope scope{detail::driver_metric_prefix(library->info().name),
                                              library->info().name, args.instance_set_id};
            const auto problems = detail::apply_snapshot(*metrics_registry, scope, families);
            if (!problems.empty() && problems.front() != last_metrics_problem) {
                last_metrics_problem = problems.front();
                logger->warn("{}: {} driver metric(s) not taken from the helper; first: {}", label,
                             problems.size(), escape_for_log(problems.front()));
            }
        } catch (const std::exception &e) {
            logger->debug("{}: driver metrics not collected: {}", label, escape_for_log(e.what()));
        } catch (...) {
        }
    }

    void close() noexcept {
        metrics_collector.reset(); // no scrape reaches a closing set
        std::shared_ptr<Connection> conn;
        {
            std::lock_guard lock(mutex);
            closing = true;
            conn = std::move(current);
        }
        if (conn) {
            flush_releases(*conn); // the helper frees the set only once every ref is back
            conn->close();
        }
    }
};

detail::EndpointFactory isolated_endpoint_factory(const IsolationSettings &settings,
                                                  std::function<void(const SwapEvent &)> on_event) {
    IsolationOptions options;
    options.limits.address_space = settings.max_address_space;
    options.limits.open_files = settings.max_open_files;
    options.limits.user = settings.user;
    options.timeouts.driver_call = settings.driver_call;
    options.timeouts.create = settings.create;
    options.timeouts.per_operation = settings.per_operation;
    options.on_event = std::move(on_event);
    return [options](std::shared_ptr<DriverLibrary> library,
                     const detail::EndpointArgs &args) -> std::unique_ptr<detail::DriverEndpoint> {
        IsolatedArgs isolated{args.config_json, args.instance_set_id, args.shared_resource_tags,
                              args.logger, args.metrics_registry};
        return IsolatedEndpoint::open(std::move(library), isolated, options);
    };
}

detail::EndpointFactory endpoint_factory_for(const IsolationSettings &settings,
                                             std::function<void(const SwapEvent &)> on_event) {
    switch (settings.mode) {
    case IsolationMode::none:
        return nullptr;
    case IsolationMode::process:
        return isolated_endpoint_factory(settings, std::move(on_event));
    case IsolationMode::automatic:
        break;
    }
    auto isolated = isolated_endpoint_factory(settings, std::move(on_event));
    return [isolated](std::shared_ptr<DriverLibrary> library,
                      const detail::EndpointArgs &args) -> std::unique_ptr<detail::DriverEndpoint> {
        if (library->mapped())
            return detail::InProcessEndpoint::open(std::move(library), args);
        return isolated(std::move(library), args);
    };
}

IsolatedEndpoint::IsolatedEndpoint(std::shared_ptr<State> state) : state_(std::move(state)) {}

std::unique_ptr<IsolatedEndpoint> IsolatedEndpoint::open(std::shared_ptr<DriverLibrary> library,
                                                         const IsolatedArgs &args,
                                                         IsolationOptions options) {
    auto state = std::make_shared<State>();
    state->logger = args.logger ? args.logger : spdlog::default_logger();
    state->exe = options.driver_host.empty() ? default_driver_host_path() : options.driver_host;
    state->label = "driver " + library->info().name + " " + library->info().version;
    state->library = std::move(library);
    state->args = args;
    state->options = std::move(options);
    state->metrics_registry =
        args.metrics_registry ? args.metrics_registry : default_metrics_registry();
    {
        std::lock_guard lock(state->mutex);
        try {
            state->start_locked();
        } catch (...) {
            auto conn = std::move(state->current);
            state->closing = true;
            if (conn)
                conn->close();
            throw;
        }
    }
    // Weak: the registry (shared by many sets) must not keep this set alive.
    state->metrics_collector =
        detail::add_collector(state->metrics_registry, [weak = std::weak_ptr<State>(state)] {
            if (auto alive = weak.lock())
                alive->collect_metrics();
        });
    return std::unique_ptr<IsolatedEndpoint>(new IsolatedEndpoint(std::move(state)));
}

IsolatedEndpoint::~IsolatedEndpoint() {
    state_->close();
}

void IsolatedEndpoint::create(const InstanceType &type, std::string_view image_id, const Tags &tags,
                              std::string_view init_command,
                              const std::optional<std::string> &public_key,
                              detail::InstanceVisitor &visitor) {
    auto conn = state_->connection();
    auto reply = state_->call_on(
        conn, Op::create, 5,
        [&](Writer &w) {
            write_instance_type(w, type);
            w.str(image_id);
            write_tags(w, tags);
            w.str(init_command);
            if (public_key)
                w.str(*public_key);
            else
                w.nil();
        },
        nullptr);
    state_->hand_over(conn, *reply, visitor, true, "Create");
}

void IsolatedEndpoint::instances(const Tags &filter, detail::InstanceVisitor &visitor) {
    auto conn = state_->connection();
    const State::PartHandler take_part = [&](const Message &part) {
        state_->hand_over(conn, part, visitor, false, "Instances");
    };
    auto reply = state_->call_on(
        conn, Op::instances, 2,
        [&](Writer &w) {
            write_tags(w, filter);
            w.boolean(visitor.needs_tags()); // most listings need none: 8 fewer strings each
        },
        nullptr, &take_part);
    state_->hand_over(conn, *reply, visitor, false, "Instances");
}

std::string IsolatedEndpoint::instance_quota_group(const InstanceType &type) {
    auto reply = state_->call(Op::quota_group, 1, [&](Writer &w) { write_instance_type(w, type); });
    return state_->read(*reply, [](const Value &v) { return std::string(v.str()); });
}

void IsolatedEndpoint::stop() noexcept {
    try {
        state_->call(Op::stop, 0, [](Writer &) {});
    } catch (const std::exception &e) {
        state_->logger->warn("{}: Stop: {}", state_->label, e.what());
    } catch (...) {
    }
}

void IsolatedEndpoint::release(detail::InstanceRef ref) noexcept {
    state_->release(ref);
}

namespace {
void no_args(Writer &) {}
} // namespace

std::optional<std::string> IsolatedEndpoint::instance_string(detail::InstanceRef ref) {
    auto reply = state_->instance_call(Op::string, ref, 0, no_args);
    return state_->read(*reply, [](const Value &v) -> std::optional<std::string> {
        if (v.is_nil())
            return std::nullopt;
        return std::string(v.str());
    });
}

Tags IsolatedEndpoint::instance_tags(detail::InstanceRef ref) {
    auto reply = state_->instance_call(Op::tags, ref, 0, no_args);
    return state_->read(*reply, [](const Value &v) { return read_tags(v); });
}

void IsolatedEndpoint::instance_set_tags(detail::InstanceRef ref, const Tags &tags) {
    state_->instance_call(Op::set_tags, ref, 1, [&](Writer &w) { write_tags(w, tags); });
}

void IsolatedEndpoint::instance_destroy(detail::InstanceRef ref) {
    state_->instance_call(Op::destroy, ref, 0, no_args);
}

std::string IsolatedEndpoint::instance_address(detail::InstanceRef ref) {
    auto reply = state_->instance_call(Op::address, ref, 0, no_args);
    return state_->read(*reply, [](const Value &v) { return std::string(v.str()); });
}

std::string IsolatedEndpoint::instance_remote_user(detail::InstanceRef ref) {
    auto reply = state_->instance_call(Op::remote_user, ref, 0, no_args);
    return state_->read(*reply, [](const Value &v) { return std::string(v.str()); });
}

void IsolatedEndpoint::instance_verify_host_key(detail::InstanceRef ref,
                                                std::string_view public_key,
                                                CommandRunner *runner) {
    state_->instance_call(
        Op::verify_host_key, ref, 2,
        [&](Writer &w) { w.str(public_key).boolean(runner != nullptr); }, runner);
}

std::vector<InstancePrice> IsolatedEndpoint::instance_price_history(detail::InstanceRef ref,
                                                                    const InstanceType &type) {
    auto reply = state_->instance_call(Op::price_history, ref, 1,
                                       [&](Writer &w) { write_instance_type(w, type); });
    return state_->read(*reply, [](const Value &list) {
        std::vector<InstancePrice> out;
        const auto n = list.size();
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const auto p = list.at(i, "price");
            InstancePrice price;
            price.start_time = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
                std::chrono::nanoseconds(p.at(0, "start").i64())));
            price.price = p.at(1, "price").f64();
            out.push_back(price);
        }
        return out;
    });
}

pid_t IsolatedEndpoint::helper_pid() const {
    std::lock_guard lock(state_->mutex);
    return state_->current && !state_->current->dead() ? state_->current->pid() : -1;
}

std::uint64_t IsolatedEndpoint::helpers_started() const {
    std::lock_guard lock(state_->mutex);
    return state_->generation;
}

} // namespace cloudhost::isolation
