// cloudhost C++ driver SDK (header-only).
//
// Write a driver by deriving from cloudhost::sdk::InstanceSet and
// cloudhost::sdk::Instance, throwing the typed errors below, and exporting it
// with one macro:
//
//   std::unique_ptr<cloudhost::sdk::InstanceSet>
//   make_set(const cloudhost::sdk::InstanceSetArgs &args);
//   CLOUDHOST_DRIVER("mycloud", "1.2.0", "My cloud", make_set);
//
// The SDK implements the C ABI of cloudhost/driver.h: it turns every C++
// exception into a ch_error (no exception ever crosses the ABI), copies
// results into the host's sinks, and manages instance handle references.
// Every virtual function may be called from many threads at once.
//
// Unload safety (the host dlclose()s a driver when nothing refers to it and
// when hot-swapping versions): by the time InstanceSet::stop() returns and
// the set is destroyed, join every thread the set started; do not register
// atexit handlers or thread_local objects with destructors; do not hand out
// pointers to driver code (callbacks, std::function) that the host keeps.
// Build with -fvisibility=hidden and, with g++, -fno-gnu-unique.
#ifndef CLOUDHOST_DRIVER_SDK_HPP
#define CLOUDHOST_DRIVER_SDK_HPP

#include "cloudhost/driver.h"
#include "cloudhost/driver_sdk_metrics.hpp"

#include <chrono>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cloudhost::sdk {

using Tags = std::map<std::string, std::string>;
using Clock = std::chrono::system_clock;

struct InstanceType {
    std::string name;
    std::string provider_type;
    uint32_t vcpus = 0;
    uint64_t ram = 0;
    uint64_t scratch = 0;
    uint64_t included_scratch = 0;
    uint64_t added_scratch = 0;
    double price = 0;
    bool preemptible = false;
    uint32_t gpu_device_count = 0;
    std::string gpu_stack;
    std::string gpu_driver_version;
    std::string gpu_hardware_target;
    uint64_t gpu_vram = 0;
};

struct InstancePrice {
    Clock::time_point start_time;
    double price = 0;
};

// ---- typed errors ---------------------------------------------------------

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string &message, ch_status status = CH_ERR_GENERIC,
                   uint32_t flags = 0)
        : std::runtime_error(message), status_(status), flags_(flags) {}
    ch_status status() const noexcept { return status_; }
    uint32_t flags() const noexcept { return flags_; }
    virtual Clock::time_point earliest_retry() const noexcept { return {}; }

  private:
    ch_status status_;
    uint32_t flags_;
};

// The cloud refuses calls until `earliest_retry`.
class RateLimitError : public Error {
  public:
    RateLimitError(const std::string &message, Clock::time_point earliest_retry)
        : Error(message, CH_ERR_RATE_LIMIT), earliest_retry_(earliest_retry) {}
    Clock::time_point earliest_retry() const noexcept override { return earliest_retry_; }

  private:
    Clock::time_point earliest_retry_;
};

// The account cannot hold more instances than it has now.
class QuotaError : public Error {
  public:
    explicit QuotaError(const std::string &message) : Error(message, CH_ERR_QUOTA) {}
};

enum class CapacityScope { all_types, instance_type, quota_group };

// The provider lacks capacity: do not retry at once. `also_quota` marks an
// error that is a quota error too (Arvados allows both).
class CapacityError : public Error {
  public:
    CapacityError(const std::string &message, CapacityScope scope, bool also_quota = false)
        : Error(message, CH_ERR_CAPACITY,
                (scope == CapacityScope::instance_type ? CH_ERROR_FLAG_CAPACITY_INSTANCE_TYPE
                 : scope == CapacityScope::quota_group ? CH_ERROR_FLAG_CAPACITY_QUOTA_GROUP
                                                       : 0u) |
                    (also_quota ? CH_ERROR_FLAG_QUOTA : 0u)) {}
};

// Go's ErrNotImplemented (e.g. VerifyHostKey without a provider mechanism).
class NotImplementedError : public Error {
  public:
    explicit NotImplementedError(const std::string &message = "not implemented")
        : Error(message, CH_ERR_NOT_IMPLEMENTED) {}
};

class InvalidConfigError : public Error {
  public:
    explicit InvalidConfigError(const std::string &message)
        : Error(message, CH_ERR_INVALID_CONFIG) {}
};

// ---- host services --------------------------------------------------------

// The host's structured logger. Cheap to copy; valid while the set lives.
class Logger {
  public:
    using Field = std::pair<std::string_view, std::string_view>;

    Logger() = default;
    explicit Logger(const ch_logger *logger) : logger_(logger) {}

    // False for levels the host drops: check before formatting.
    bool enabled(ch_log_level level) const noexcept {
        return logger_ && logger_->enabled && logger_->enabled(logger_->ctx, level) != 0;
    }
    void log(ch_log_level level, std::string_view message,
             std::initializer_list<Field> fields = {}) const noexcept {
        if (!enabled(level) || !logger_->log)
            return;
        ch_log_field buffer[16];
        size_t n = 0;
        for (const auto &f : fields) {
            if (n == 16)
                break;
            buffer[n++] = {{f.first.data(), f.first.size()}, {f.second.data(), f.second.size()}};
        }
        logger_->log(logger_->ctx, level, {message.data(), message.size()}, buffer, n);
    }
    void debug(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
        log(CH_LOG_DEBUG, m, f);
    }
    void info(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
        log(CH_LOG_INFO, m, f);
    }
    void warn(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
        log(CH_LOG_WARN, m, f);
    }
    void error(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
        log(CH_LOG_ERROR, m, f);
    }

  private:
    const ch_logger *logger_ = nullptr;
};

struct CommandResult {
    std::string stdout_data;
    std::string stderr_data;
    int exit_status = -1;
};

// Runs commands over the not-yet-verified SSH connection during
// VerifyHostKey. Valid only during that call.
class CommandRunner {
  public:
    explicit CommandRunner(const ch_command_runner *runner) : runner_(runner) {}

    CommandResult run(std::string_view command, std::string_view stdin_data = {}) const {
        CommandResult result;
        ch_string_sink out{&result.stdout_data, &append};
        ch_string_sink err{&result.stderr_data, &append};
        ch_error error{};
        error.struct_size = sizeof error;
        ch_status status = runner_->run(runner_->ctx, {command.data(), command.size()},
                                        {stdin_data.data(), stdin_data.size()}, &out, &err,
                                        &result.exit_status, &error);
        if (status != CH_OK)
            throw Error(error.message, status, error.flags);
        return result;
    }

  private:
    static void append(void *ctx, ch_str s) {
        static_cast<std::string *>(ctx)->append(s.data, s.len);
    }
    const ch_command_runner *runner_;
};

// ---- what a driver implements -----------------------------------------------

class Instance {
  public:
    virtual ~Instance() = default;
    virtual std::string id() const = 0;
    virtual std::string string() const { return id(); }
    virtual std::string provider_type() const = 0;
    virtual Tags tags() const = 0;
    // The same tags as an immutable snapshot. Override it when the instance
    // already keeps its tags that way: listing then hands them to the host
    // without copying the map (it matters for 100,000-instance listings).
    virtual std::shared_ptr<const Tags> tags_snapshot() const {
        return std::make_shared<const Tags>(tags());
    }
    virtual void set_tags(const Tags &tags) = 0;
    virtual void destroy() = 0;
    // "" while unknown during boot; may carry ":port".
    virtual std::string address() const = 0;
    virtual std::string remote_user() const = 0;
    // Return normally if `public_key` ("ssh-ed25519 AAAA...") is the
    // instance's host key; throw otherwise; throw NotImplementedError when
    // there is no way to tell. `runner` may be null.
    virtual void verify_host_key(const std::string &public_key, const CommandRunner *runner) {
        (void)public_key;
        (void)runner;
        throw NotImplementedError();
    }
    virtual std::vector<InstancePrice> price_history(const InstanceType &type) const {
        (void)type;
        return {};
    }
};

class InstanceSet {
  public:
    virtual ~InstanceSet() = default;
    virtual std::shared_ptr<Instance> create(const InstanceType &type, const std::string &image_id,
                                             const Tags &tags, const std::string &init_command,
                                             const std::optional<std::string> &public_key) = 0;
    // May ignore the filter (the host filters again).
    virtual std::vector<std::shared_ptr<Instance>> instances(const Tags &filter) = 0;
    virtual std::string instance_quota_group(const InstanceType &type) {
        (void)type;
        return {};
    }
    // End background work; never destroy instances.
    virtual void stop() {}
};

struct InstanceSetArgs {
    std::string config_json;
    std::string instance_set_id;
    Tags shared_resource_tags;
    Logger logger;
    Metrics metrics; // the host's metrics service (inert with an older host)
};

using Factory = std::unique_ptr<InstanceSet> (*)(const InstanceSetArgs &);

// ---- the bridge to the C ABI ------------------------------------------------

namespace detail {

inline std::string to_string(ch_str s) {
    return s.len ? std::string(s.data, s.len) : std::string();
}
inline ch_str to_ch(std::string_view s) {
    return {s.data(), s.size()};
}

inline Tags to_tags(ch_tags tags) {
    Tags out;
    for (size_t i = 0; i < tags.count; ++i)
        out.insert_or_assign(to_string(tags.items[i].key), to_string(tags.items[i].value));
    return out;
}

inline std::vector<ch_tag> to_ch_tags(const Tags &tags) {
    std::vector<ch_tag> out;
    out.reserve(tags.size());
    for (const auto &[k, v] : tags)
        out.push_back({to_ch(k), to_ch(v)});
    return out;
}

inline InstanceType to_instance_type(const ch_instance_type *t) {
    InstanceType out;
    if (!t)
        return out;
    out.name = to_string(t->name);
    out.provider_type = to_string(t->provider_type);
    out.vcpus = t->vcpus;
    out.ram = t->ram;
    out.scratch = t->scratch;
    out.included_scratch = t->included_scratch;
    out.added_scratch = t->added_scratch;
    out.price = t->price;
    out.preemptible = t->preemptible != 0;
    if (CH_HAS_MEMBER(t, ch_instance_type, gpu_vram)) {
        out.gpu_device_count = t->gpu_device_count;
        out.gpu_stack = to_string(t->gpu_stack);
        out.gpu_driver_version = to_string(t->gpu_driver_version);
        out.gpu_hardware_target = to_string(t->gpu_hardware_target);
        out.gpu_vram = t->gpu_vram;
    }
    return out;
}

inline int64_t to_unix_ns(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline void fill_error(ch_error *error, ch_status status, uint32_t flags, int64_t retry_ns,
                       const char *message) noexcept {
    if (!error || !CH_HAS_MEMBER(error, ch_error, message))
        return;
    error->status = status;
    error->flags = flags;
    error->earliest_retry_unix_ns = retry_ns;
    std::strncpy(error->message, message, sizeof error->message - 1);
    error->message[sizeof error->message - 1] = '\0';
}

// Runs `fn`, translating every exception into a ch_error (Lippincott idiom).
template <class Fn> ch_status guard(ch_error *error, Fn &&fn) noexcept {
    try {
        fn();
        return CH_OK;
    } catch (const Error &e) {
        fill_error(error, e.status(), e.flags(),
                   e.status() == CH_ERR_RATE_LIMIT ? to_unix_ns(e.earliest_retry()) : 0, e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        fill_error(error, CH_ERR_GENERIC, 0, 0, "out of memory");
    } catch (const std::exception &e) {
        fill_error(error, CH_ERR_GENERIC, 0, 0, e.what());
    } catch (...) {
        fill_error(error, CH_ERR_GENERIC, 0, 0, "unknown exception in driver");
    }
    return CH_ERR_GENERIC;
}

inline void put_string(const ch_string_sink *out, const std::string &s) {
    out->put(out->ctx, to_ch(s));
}

} // namespace detail
} // namespace cloudhost::sdk

// The driver's private definitions of the opaque handles.
struct ch_instance {
    std::shared_ptr<cloudhost::sdk::Instance> impl;
};
struct ch_instance_set {
    std::unique_ptr<cloudhost::sdk::InstanceSet> impl;
};

namespace cloudhost::sdk::detail {

inline void hand_over(const ch_instance_sink *out, std::shared_ptr<Instance> instance) {
    const std::string id = instance->id();
    const std::string provider_type = instance->provider_type();
    // Keep the map alive: `tags` points into its strings.
    const std::shared_ptr<const Tags> tag_map = instance->tags_snapshot();
    const std::vector<ch_tag> tags = to_ch_tags(*tag_map);
    ch_instance_desc desc{
        sizeof(ch_instance_desc), to_ch(id), to_ch(provider_type), {tags.data(), tags.size()}};
    // The host owns this reference until instance_release.
    out->put(out->ctx, new ch_instance{std::move(instance)}, &desc);
}

template <Factory MakeSet> struct Bridge {
    static ch_status instance_set_new(const ch_instance_set_args *args, ch_instance_set **out,
                                      ch_error *error) noexcept {
        return guard(error, [&] {
            InstanceSetArgs a;
            a.config_json = to_string(args->config_json);
            a.instance_set_id = to_string(args->instance_set_id);
            a.shared_resource_tags = to_tags(args->shared_resource_tags);
            a.logger = Logger(args->logger);
            if (CH_HAS_MEMBER(args, ch_instance_set_args, metrics))
                a.metrics = Metrics(args->metrics);
            auto set = MakeSet(a);
            if (!set)
                throw Error("driver factory returned no instance set");
            *out = new ch_instance_set{std::move(set)};
        });
    }
    static void instance_set_stop(ch_instance_set *set) noexcept {
        ch_error ignored{};
        ignored.struct_size = sizeof ignored;
        guard(&ignored, [&] { set->impl->stop(); });
    }
    static void instance_set_free(ch_instance_set *set) noexcept { delete set; }

    static ch_status create(ch_instance_set *set, const ch_create_args *args,
                            const ch_instance_sink *out, ch_error *error) noexcept {
        return guard(error, [&] {
            std::optional<std::string> key;
            if (args->public_key.len)
                key = to_string(args->public_key);
            auto instance =
                set->impl->create(to_instance_type(args->instance_type), to_string(args->image_id),
                                  to_tags(args->tags), to_string(args->init_command), key);
            if (!instance)
                throw Error("driver create returned no instance");
            hand_over(out, std::move(instance));
        });
    }
    static ch_status instances(ch_instance_set *set, ch_tags filter, const ch_instance_sink *out,
                               ch_error *error) noexcept {
        return guard(error, [&] {
            for (auto &instance : set->impl->instances(to_tags(filter)))
                if (instance)
                    hand_over(out, std::move(instance));
        });
    }
    static ch_status instance_quota_group(ch_instance_set *set, const ch_instance_type *type,
                                          const ch_string_sink *out, ch_error *error) noexcept {
        return guard(error, [&] {
            put_string(out, set->impl->instance_quota_group(to_instance_type(type)));
        });
    }
    static void instance_release(ch_instance *instance) noexcept { delete instance; }
    static ch_status instance_string(ch_instance *i, const ch_string_sink *out,
                                     ch_error *error) noexcept {
        return guard(error, [&] { put_string(out, i->impl->string()); });
    }
    static ch_status instance_tags(ch_instance *i, const ch_tags_sink *out,
                                   ch_error *error) noexcept {
        return guard(error, [&] {
            for (const auto &[k, v] : i->impl->tags())
                out->put(out->ctx, to_ch(k), to_ch(v));
        });
    }
    static ch_status instance_set_tags(ch_instance *i, ch_tags tags, ch_error *error) noexcept {
        return guard(error, [&] { i->impl->set_tags(to_tags(tags)); });
    }
    static ch_status instance_destroy(ch_instance *i, ch_error *error) noexcept {
        return guard(error, [&] { i->impl->destroy(); });
    }
    static ch_status instance_address(ch_instance *i, const ch_string_sink *out,
                                      ch_error *error) noexcept {
        return guard(error, [&] { put_string(out, i->impl->address()); });
    }
    static ch_status instance_remote_user(ch_instance *i, const ch_string_sink *out,
                                          ch_error *error) noexcept {
        return guard(error, [&] { put_string(out, i->impl->remote_user()); });
    }
    static ch_status instance_verify_host_key(ch_instance *i, ch_str key,
                                              const ch_command_runner *runner,
                                              ch_error *error) noexcept {
        return guard(error, [&] {
            if (runner) {
                CommandRunner r(runner);
                i->impl->verify_host_key(to_string(key), &r);
            } else {
                i->impl->verify_host_key(to_string(key), nullptr);
            }
        });
    }
    static ch_status instance_price_history(ch_instance *i, const ch_instance_type *type,
                                            const ch_price_sink *out, ch_error *error) noexcept {
        return guard(error, [&] {
            for (const auto &p : i->impl->price_history(to_instance_type(type)))
                out->put(out->ctx, to_unix_ns(p.start_time), p.price);
        });
    }

    static constexpr ch_driver_v1 table = {
        sizeof(ch_driver_v1),
        &instance_set_new,
        &instance_set_stop,
        &instance_set_free,
        &create,
        &instances,
        &instance_quota_group,
        &instance_release,
        &instance_string,
        &instance_tags,
        &instance_set_tags,
        &instance_destroy,
        &instance_address,
        &instance_remote_user,
        &instance_verify_host_key,
        &instance_price_history,
    };

    static ch_status entry(const ch_entry_request *request, ch_entry_reply *reply) noexcept {
        if (!request || !reply || request->struct_size < sizeof(ch_entry_request) ||
            reply->struct_size < sizeof(ch_entry_reply))
            return CH_ERR_ABI;
        if (request->host_abi_min > 1u || request->host_abi_max < 1u)
            return CH_ERR_ABI;
        reply->abi_version = 1u;
        reply->table = &table;
        return CH_OK;
    }
};

} // namespace cloudhost::sdk::detail

// Exports the driver: metadata (read by the host without loading the file)
// and the entry function. `factory` is a function
//   std::unique_ptr<cloudhost::sdk::InstanceSet>(const cloudhost::sdk::InstanceSetArgs &)
#define CLOUDHOST_DRIVER(name, version, description, factory)                                      \
    CH_DRIVER_DEFINE_INFO(name, version, 1u, 1u, description);                                     \
    CH_DRIVER_ENTRY(cloudhost_request_, cloudhost_reply_) {                                        \
        return ::cloudhost::sdk::detail::Bridge<&(factory)>::entry(cloudhost_request_,             \
                                                                   cloudhost_reply_);              \
    }

#endif // CLOUDHOST_DRIVER_SDK_HPP
