#include "in_process_endpoint.hpp"

#include "abi_convert.hpp"
#include "abi_errors.hpp"
#include "command_runner_bridge.hpp"
#include "validation.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/internal/access.hpp"

#include <spdlog/spdlog.h>

#include <cxxabi.h>

#include <chrono>
#include <exception>
#include <string>
#include <utility>

namespace cloudhost::detail {
namespace {

// What a driver threw, as one bounded, printable line.
std::string describe_current_exception() {
    try {
        throw;
    } catch (const std::exception &e) {
        return driver_text(e.what());
    } catch (...) {
        const std::type_info *type = abi::__cxa_current_exception_type();
        if (!type)
            return "an unknown exception";
        int status = 0;
        char *demangled = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
        std::string name = demangled && status == 0 ? demangled : type->name();
        std::free(demangled);
        return "an object of type " + driver_text(name);
    }
}

// Calls a driver function; a C++ exception it throws across the C ABI (a
// raw C++ driver without the SDK's guard) becomes a DriverError.
template <class Fn> auto guarded(std::string_view operation, Fn &&fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (abi::__forced_unwind &) {
        throw; // thread cancellation must keep unwinding
    } catch (...) {
        throw DriverError(std::string(operation) +
                          ": driver threw across the C ABI: " + describe_current_exception());
    }
}

ch_instance *handle_of(InstanceRef ref) noexcept {
    return reinterpret_cast<ch_instance *>(ref);
}
InstanceRef ref_of(ch_instance *handle) noexcept {
    return reinterpret_cast<InstanceRef>(handle);
}

[[noreturn]] void not_provided(std::string_view operation) {
    throw NotImplementedError(std::string(operation) + ": not provided by the driver");
}

// A ch_str the driver handed back: NULL data only with length 0, at most
// `max` bytes. The problem, or nullptr.
const char *string_problem(ch_str s, std::size_t max) noexcept {
    if (!s.data && s.len)
        return "a NULL string with a non-zero length";
    if (s.len > max)
        return "a string longer than the host accepts";
    return nullptr;
}

std::string too_long(std::string_view operation, const char *problem, std::size_t max) {
    return std::string(operation) + ": driver handed back " + problem + " (at most " +
           std::to_string(max) + " bytes)";
}

// Copies the one string a driver call answers (rule 2), bounded. Writes
// into the caller's string so the wrapper returns it without a move.
struct StringOut {
    std::string &value;
    const char *problem = nullptr;
    explicit StringOut(std::string &target) noexcept : value(target) {}
    ch_string_sink sink() noexcept { return {this, &put}; }
    static void put(void *ctx, ch_str s) noexcept {
        auto *self = static_cast<StringOut *>(ctx);
        if ((self->problem = string_problem(s, max_driver_string_bytes)))
            return;
        try {
            self->value.assign(s.data, s.len);
        } catch (...) {
            self->problem = "a string the host ran out of memory copying";
        }
    }
};

struct TagsOut {
    Tags value;
    const char *problem = nullptr;
    ch_tags_sink sink() noexcept { return {this, &put}; }
    static void put(void *ctx, ch_str key, ch_str value) noexcept {
        auto *self = static_cast<TagsOut *>(ctx);
        if (self->problem)
            return;
        if (self->value.size() >= max_driver_tags) {
            self->problem = "more tags than the host accepts";
            return;
        }
        if ((self->problem = string_problem(key, max_driver_tag_bytes)) ||
            (self->problem = string_problem(value, max_driver_tag_bytes)))
            return;
        try {
            self->value.insert_or_assign(std::string(to_view(key)), std::string(to_view(value)));
        } catch (...) {
            self->problem = "tags the host ran out of memory copying";
        }
    }
};

struct PricesOut {
    std::vector<InstancePrice> prices;
    const char *problem = nullptr;
    ch_price_sink sink() noexcept { return {this, &put}; }
    static void put(void *ctx, int64_t start_ns, double price) noexcept {
        auto *self = static_cast<PricesOut *>(ctx);
        if (self->problem)
            return;
        if (self->prices.size() >= max_driver_price_points) {
            self->problem = "more price points than the host accepts";
            return;
        }
        try {
            self->prices.push_back({Clock::time_point(std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::nanoseconds(start_ns))),
                                    price});
        } catch (...) {
            self->problem = "a price history the host ran out of memory copying";
        }
    }
};

} // namespace

// One create or instances call in progress: the sink's context. Checks each
// instance the driver hands over, hands the valid ones to the visitor and
// keeps every reference that must be given back until the driver's function
// has returned (driver.h: no driver call from inside a callback).
struct InProcessEndpoint::Listing {
    using TagViews = std::vector<std::pair<std::string_view, std::string_view>>;

    Listing(InProcessEndpoint &endpoint_in, InstanceVisitor &visitor_in, bool exactly_one_in)
        : endpoint(endpoint_in), visitor(visitor_in), wants_tags(visitor_in.needs_tags()),
          exactly_one(exactly_one_in) {}

    InProcessEndpoint &endpoint;
    InstanceVisitor &visitor;
    const bool wants_tags;
    const bool exactly_one; // create: hold the instance until the call returned
    TagViews tags;          // reused for every instance: no allocation per instance
    std::vector<InstanceRef> dropped;
    std::size_t handed_over = 0; // non-NULL handles, valid or not
    std::size_t invalid = 0;
    std::string first_problem;
    std::string checked_provider_type; // the last one that passed, to skip re-checks
    bool out_of_memory = false;
    // create: the instance, copied until the driver's call has returned.
    std::optional<InstanceRef> held;
    std::string held_id, held_provider_type;
    std::vector<std::pair<std::string, std::string>> held_tags;

    static void put(void *ctx, ch_instance *handle, const ch_instance_desc *desc) noexcept {
        static_cast<Listing *>(ctx)->accept(handle, desc);
    }

    void drop(InstanceRef ref) noexcept {
        try {
            dropped.push_back(ref);
        } catch (...) {
            // Releasing here would call the driver from inside its own
            // callback: leak the reference instead, and say so.
            out_of_memory = true;
            endpoint.logger_.logger().error(
                "out of memory while handing an instance back; its reference is leaked driver={}",
                endpoint.driver_name());
        }
    }

    void reject(InstanceRef ref, std::string problem) noexcept {
        ++invalid;
        if (first_problem.empty()) {
            try {
                first_problem = std::move(problem);
            } catch (...) {
            }
        }
        drop(ref);
    }

    // The problem with `desc`, or nothing; fills the views.
    std::optional<std::string> read(const ch_instance_desc *desc, std::string_view &id,
                                    std::string_view &provider_type, ch_tags &c_tags) {
        if (!desc || desc->struct_size < offsetof(ch_instance_desc, provider_type) + sizeof(ch_str))
            return std::string("no instance description (rule: id and provider type required)");
        if (!desc->id.data && desc->id.len)
            return "a NULL instance id with length " + std::to_string(desc->id.len);
        id = to_view(desc->id);
        if (auto problem = instance_id_problem(id))
            return problem;
        if (const char *problem = string_problem(desc->provider_type, max_driver_string_bytes))
            return "instance \"" + printable(id) + "\": provider type is " + problem;
        provider_type = to_view(desc->provider_type);
        if (provider_type != checked_provider_type) {
            if (auto problem = text_problem(provider_type))
                return "instance \"" + printable(id) + "\": provider type \"" +
                       printable(provider_type) + "\" " + *problem;
            checked_provider_type.assign(provider_type);
        }
        c_tags = CH_HAS_MEMBER(desc, ch_instance_desc, tags) ? desc->tags : ch_tags{};
        if (c_tags.count > max_driver_tags)
            return "instance \"" + printable(id) + "\": " + std::to_string(c_tags.count) +
                   " tags (at most " + std::to_string(max_driver_tags) + ")";
        if (c_tags.count && !c_tags.items)
            return "instance \"" + printable(id) + "\": NULL tags with a non-zero count";
        for (std::size_t i = 0; i < c_tags.count; ++i)
            for (const ch_str s : {c_tags.items[i].key, c_tags.items[i].value})
                if (const char *problem = string_problem(s, max_driver_tag_bytes))
                    return "instance \"" + printable(id) + "\": a tag key or value is " + problem +
                           " (at most " + std::to_string(max_driver_tag_bytes) + " bytes)";
        return std::nullopt;
    }

    void accept(ch_instance *handle, const ch_instance_desc *desc) noexcept {
        if (!handle)
            return; // nothing was handed over; nothing to give back
        ++handed_over;
        const InstanceRef ref = ref_of(handle);
        try {
            std::string_view id, provider_type;
            ch_tags c_tags{};
            if (auto problem = read(desc, id, provider_type, c_tags))
                return reject(ref, std::move(*problem));
            if (exactly_one)
                return hold(ref, id, provider_type, c_tags);
            tags.clear();
            if (wants_tags)
                for (std::size_t i = 0; i < c_tags.count; ++i)
                    tags.emplace_back(to_view(c_tags.items[i].key), to_view(c_tags.items[i].value));
            if (!visitor.take(ref, InstanceDescView{id, provider_type, tags}))
                drop(ref);
        } catch (...) {
            out_of_memory = true;
            drop(ref);
        }
    }

    void hold(InstanceRef ref, std::string_view id, std::string_view provider_type,
              const ch_tags &c_tags) {
        if (held)
            return drop(ref); // counted in handed_over; create fails
        held = ref;
        held_id.assign(id);
        held_provider_type.assign(provider_type);
        if (wants_tags)
            for (std::size_t i = 0; i < c_tags.count; ++i)
                held_tags.emplace_back(to_view(c_tags.items[i].key),
                                       to_view(c_tags.items[i].value));
    }
};

thread_local InProcessEndpoint::Listing *InProcessEndpoint::active_listing_ = nullptr;

InProcessEndpoint::InProcessEndpoint(std::shared_ptr<DriverLibrary> library,
                                     std::shared_ptr<spdlog::logger> logger)
    : library_(std::move(library)), table_(driver_table(*library_)),
      logger_(std::move(logger), library_->info().name, library_) {}

std::unique_ptr<DriverEndpoint> InProcessEndpoint::open(std::shared_ptr<DriverLibrary> library,
                                                        const EndpointArgs &args) {
    if (!library->mapped())
        throw LoadError(library->path().string() + ": driver " + library->info().name + " " +
                        library->info().version +
                        " was prepared for a helper process and is not loaded in this one; open "
                        "it with isolation \"process\" (or \"auto\")");
    std::unique_ptr<InProcessEndpoint> endpoint(
        new InProcessEndpoint(std::move(library), args.logger));
    const TagsView shared_tags(args.shared_resource_tags);
    ch_instance_set_args c_args{};
    c_args.struct_size = sizeof c_args;
    c_args.config_json = to_ch_str(args.config_json);
    c_args.instance_set_id = to_ch_str(args.instance_set_id);
    c_args.shared_resource_tags = shared_tags.get();
    c_args.logger = endpoint->logger_.c_logger();
    endpoint->metrics_ = std::make_unique<DriverMetricsService>(
        args.metrics_registry, endpoint->library_->info().name, args.instance_set_id);
    c_args.metrics = endpoint->metrics_->c_metrics();
    ErrorRecord error;
    ch_instance_set *set = nullptr;
    const ch_status status = guarded("instance_set_new", [&] {
        return endpoint->table_.instance_set_new(&c_args, &set, error.get());
    });
    check(status, error.c, "instance_set_new");
    if (!set)
        throw DriverError("instance_set_new: driver reported success without an instance set");
    endpoint->set_ = set;
    return endpoint;
}

InProcessEndpoint::~InProcessEndpoint() {
    if (!set_)
        return;
    stop();
    try {
        table_.instance_set_free(set_);
    } catch (...) {
        swallowed("instance_set_free");
    }
}

void InProcessEndpoint::swallowed(std::string_view operation) noexcept {
    library_->misbehaviour()->exceptions_swallowed.fetch_add(1);
    try {
        logger_.logger().error("{}: driver threw across the C ABI: {}; ignored driver={}",
                               operation, describe_current_exception(), driver_name());
    } catch (...) {
    }
}

void InProcessEndpoint::stop() noexcept {
    if (!set_ || stopped_.exchange(true) || !table_.instance_set_stop)
        return;
    try {
        table_.instance_set_stop(set_);
    } catch (...) {
        swallowed("instance_set_stop");
    }
}

void InProcessEndpoint::release(InstanceRef ref) noexcept {
    if (active_listing_ && &active_listing_->endpoint == this)
        return active_listing_->drop(ref);
    release_now(ref);
}

void InProcessEndpoint::release_now(InstanceRef ref) noexcept {
    try {
        table_.instance_release(handle_of(ref));
    } catch (...) {
        swallowed("instance_release");
    }
}

template <class Call>
void InProcessEndpoint::list(std::string_view operation, bool exactly_one, InstanceVisitor &visitor,
                             Call &&call) {
    Listing listing(*this, visitor, exactly_one);
    // Declared before the scope below, so it runs after the driver's call
    // has returned, even when that call threw.
    struct ReleaseDropped {
        InProcessEndpoint &self;
        Listing &listing;
        ~ReleaseDropped() {
            for (const InstanceRef ref : listing.dropped)
                self.release_now(ref);
            if (listing.held)
                self.release_now(*listing.held);
        }
    } release_dropped{*this, listing};
    ErrorRecord error;
    ch_status status;
    {
        struct Active {
            Listing *previous;
            explicit Active(Listing &l) noexcept : previous(std::exchange(active_listing_, &l)) {}
            ~Active() { active_listing_ = previous; }
        } active(listing);
        const ch_instance_sink sink{&listing, &Listing::put};
        status = guarded(operation, [&] { return call(&sink, error.get()); });
    }
    if (listing.invalid > 0)
        logger_.logger().warn("{}: dropped {} of {} instances the driver handed over: {} "
                              "driver={}",
                              operation, listing.invalid, listing.handed_over,
                              listing.first_problem, driver_name());
    check(status, error.c, operation);
    if (listing.out_of_memory)
        throw DriverError(std::string(operation) + ": out of memory while copying instances");
    if (!exactly_one)
        return;
    if (listing.handed_over != 1 || !listing.held)
        throw DriverError(std::string(operation) + ": driver reported success after handing over " +
                          std::to_string(listing.handed_over) + " instances (" +
                          std::to_string(listing.invalid) +
                          " with an invalid description); rule: create hands over exactly one "
                          "valid instance");
    Listing::TagViews tags;
    tags.reserve(listing.held_tags.size());
    for (const auto &[key, value] : listing.held_tags)
        tags.emplace_back(key, value);
    const InstanceRef ref = *std::exchange(listing.held, std::nullopt);
    if (!visitor.take(ref, InstanceDescView{listing.held_id, listing.held_provider_type, tags}))
        listing.dropped.push_back(ref);
}

void InProcessEndpoint::create(const InstanceType &type, std::string_view image_id,
                               const Tags &tags, std::string_view init_command,
                               const std::optional<std::string> &public_key,
                               InstanceVisitor &visitor) {
    const TagsView c_tags(tags);
    const InstanceTypeView c_type(type);
    ch_create_args args{};
    args.struct_size = sizeof args;
    args.instance_type = c_type.get();
    args.image_id = to_ch_str(image_id);
    args.tags = c_tags.get();
    args.init_command = to_ch_str(init_command);
    args.public_key = public_key ? to_ch_str(*public_key) : ch_str{};
    list("create", true, visitor, [&](const ch_instance_sink *sink, ch_error *error) {
        return table_.create(set_, &args, sink, error);
    });
}

void InProcessEndpoint::instances(const Tags &filter, InstanceVisitor &visitor) {
    const TagsView c_filter(filter);
    list("instances", false, visitor, [&](const ch_instance_sink *sink, ch_error *error) {
        return table_.instances(set_, c_filter.get(), sink, error);
    });
}

std::string InProcessEndpoint::instance_quota_group(const InstanceType &type) {
    std::string group;
    const auto fn = table_.instance_quota_group;
    if (!fn)
        return group;
    const InstanceTypeView c_type(type);
    StringOut out(group);
    const ch_string_sink sink = out.sink();
    ErrorRecord error;
    check(
        guarded("instance_quota_group", [&] { return fn(set_, c_type.get(), &sink, error.get()); }),
        error.c, "instance_quota_group");
    if (out.problem)
        throw DriverError(too_long("instance_quota_group", out.problem, max_driver_string_bytes));
    return group;
}

namespace {

template <class Fn>
void call_for_string(Fn fn, std::string_view operation, InstanceRef ref, std::string &value) {
    StringOut out(value);
    const ch_string_sink sink = out.sink();
    ErrorRecord error;
    check(guarded(operation, [&] { return fn(handle_of(ref), &sink, error.get()); }), error.c,
          operation);
    if (out.problem)
        throw DriverError(too_long(operation, out.problem, max_driver_string_bytes));
}

} // namespace

std::optional<std::string> InProcessEndpoint::instance_string(InstanceRef ref) {
    const auto fn = table_.instance_string;
    if (!fn)
        return std::nullopt;
    std::optional<std::string> value(std::in_place);
    call_for_string(fn, "instance_string", ref, *value);
    return value;
}

Tags InProcessEndpoint::instance_tags(InstanceRef ref) {
    const auto fn = table_.instance_tags;
    if (!fn)
        not_provided("instance_tags");
    TagsOut out;
    const ch_tags_sink sink = out.sink();
    ErrorRecord error;
    check(guarded("instance_tags", [&] { return fn(handle_of(ref), &sink, error.get()); }), error.c,
          "instance_tags");
    if (out.problem)
        throw DriverError(std::string("instance_tags: driver handed back ") + out.problem +
                          " (at most " + std::to_string(max_driver_tags) + " tags of " +
                          std::to_string(max_driver_tag_bytes) + " bytes)");
    return std::move(out.value);
}

void InProcessEndpoint::instance_set_tags(InstanceRef ref, const Tags &tags) {
    const auto fn = table_.instance_set_tags;
    if (!fn)
        not_provided("instance_set_tags");
    const TagsView c_tags(tags);
    ErrorRecord error;
    check(guarded("set_tags", [&] { return fn(handle_of(ref), c_tags.get(), error.get()); }),
          error.c, "set_tags");
}

void InProcessEndpoint::instance_destroy(InstanceRef ref) {
    const auto fn = table_.instance_destroy;
    if (!fn)
        not_provided("instance_destroy");
    ErrorRecord error;
    check(guarded("destroy", [&] { return fn(handle_of(ref), error.get()); }), error.c, "destroy");
}

std::string InProcessEndpoint::instance_address(InstanceRef ref) {
    const auto fn = table_.instance_address;
    if (!fn)
        not_provided("instance_address");
    std::string value;
    call_for_string(fn, "instance_address", ref, value);
    return value;
}

std::string InProcessEndpoint::instance_remote_user(InstanceRef ref) {
    const auto fn = table_.instance_remote_user;
    if (!fn)
        not_provided("instance_remote_user");
    std::string value;
    call_for_string(fn, "instance_remote_user", ref, value);
    return value;
}

void InProcessEndpoint::instance_verify_host_key(InstanceRef ref, std::string_view public_key,
                                                 CommandRunner *runner) {
    const auto fn = table_.instance_verify_host_key;
    if (!fn)
        throw NotImplementedError("verify_host_key: the driver has no way to verify host keys");
    std::optional<CommandRunnerBridge> bridge;
    if (runner)
        bridge.emplace(*runner);
    ErrorRecord error;
    check(guarded("verify_host_key",
                  [&] {
                      return fn(handle_of(ref), to_ch_str(public_key),
                                bridge ? bridge->get() : nullptr, error.get());
                  }),
          error.c, "verify_host_key");
}

std::vector<InstancePrice> InProcessEndpoint::instance_price_history(InstanceRef ref,
                                                                     const InstanceType &type) {
    const auto fn = table_.instance_price_history;
    if (!fn)
        return {};
    PricesOut out;
    const ch_price_sink sink = out.sink();
    const InstanceTypeView c_type(type);
    ErrorRecord error;
    check(guarded("instance_price_history",
                  [&] { return fn(handle_of(ref), c_type.get(), &sink, error.get()); }),
          error.c, "instance_price_history");
    if (out.problem)
        throw DriverError(std::string("instance_price_history: driver handed back ") + out.problem +
                          " (at most " + std::to_string(max_driver_price_points) + " points)");
    return std::move(out.prices);
}

} // namespace cloudhost::detail
