#include "cloudhost/hot_swap.hpp"

#include "core/instance_set_core.hpp"
#include "core/validation.hpp"
#include "health_check.hpp"
#include "isolation/isolated_endpoint.hpp"
#include "swap_events.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/internal/access.hpp"
#include "cloudhost/internal/driver_watcher.hpp"
#include "cloudhost/tag_rules.hpp"
#include "cloudhost/version.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace cloudhost {

namespace {

// "1.4.0" or "=1.4.0": only one version can ever match, so different bytes
// of that version do not replace the loaded ones either.
bool is_exact_pin(const std::string &constraint) {
    std::istringstream tokens(constraint);
    std::string token, extra;
    if (!(tokens >> token) || (tokens >> extra))
        return false;
    if (token.front() == '=')
        token.erase(0, 1);
    try {
        Version::parse(token);
        return true;
    } catch (const std::exception &) {
        return false;
    }
}

// The digest the catalog verified: every version here comes from it.
std::string sha_of(const DriverLibrary &library) {
    return library.sha256();
}

struct Retired {
    std::weak_ptr<detail::Binding> binding;
    std::filesystem::path library;
    std::string version;
};

} // namespace

// Hidden: members of a nested type otherwise inherit the exported class's
// visibility, and State's name detail:: types.
struct __attribute__((visibility("hidden"))) HotSwappableInstanceSet::State {
    State(const Catalog &catalog, HotSwapOptions options_in)
        : catalog(catalog.options()), options(std::move(options_in)),
          constraint(VersionConstraint::parse(options.version_constraint)),
          pinned(is_exact_pin(options.version_constraint)) {}

    Catalog catalog;
    const HotSwapOptions options;
    const VersionConstraint constraint;
    const bool pinned;

    std::mutex mutex; // one sync or swap at a time
    InstanceSet set;
    std::shared_ptr<spdlog::logger> logger;
    std::set<std::pair<std::filesystem::path, std::string>> seen; // (file, sha256 or reason)
    std::set<std::string> failed_shas; // refused bytes: not retried until they change
    std::vector<Retired> retired;
    bool warned_kept = false;
    std::unique_ptr<DriverWatcher> watcher;
    std::shared_ptr<MetricsRegistry> metrics_registry; // null: the default one
    std::string instance_set_id;
    // Versions the catalog judges to run isolated are loaded only by their
    // helper, never mapped here.
    IsolationMode isolation = IsolationMode::none;

    detail::InstanceSetCore &core() const { return *detail::core_of(set); }
    // Shared: a reference into a snapshot would dangle after the next swap.
    std::shared_ptr<const DriverLibrary> active_library() const {
        return core().snapshot()->shared_library();
    }

    SwapEvent event(SwapEventKind kind, std::string version = {}) const {
        SwapEvent e{kind, options.driver_name, std::move(version), {}, {}, {}, {}};
        return e;
    }
    void emit(const SwapEvent &e) {
        detail::record_hot_swap_event(metrics_registry ? *metrics_registry
                                                       : *default_metrics_registry(),
                                      e.driver, instance_set_id, swap_event_name(e.kind));
        detail::deliver(*logger, options.on_event, e);
    }

    // Why a candidate binding was not switched to.
    struct Refusal {
        SwapEventKind kind; // load_failed or health_check_failed
        std::string reason;
        bool conclusive = true; // false: a listing failed; may pass later
    };
    // The one path a version swap and a reload share: opens `library` with
    // `args`, health-checks it against the active binding, makes it current,
    // calls `on_switched` (the event), then drains and stops the old one.
    std::optional<Refusal>
    switch_binding(std::shared_ptr<DriverLibrary> library, const detail::BindingArgs &args,
                   const std::function<void(const std::string &from_version)> &on_switched);

    std::vector<DriverFile> scan_and_report();
    bool swap_locked(std::shared_ptr<DriverLibrary> library, const std::filesystem::path &file);
    void reap_retired();
};

std::vector<DriverFile> HotSwappableInstanceSet::State::scan_and_report() {
    auto files = catalog.scan();
    for (const auto &file : files) {
        if (file.info && file.info->name != options.driver_name)
            continue;
        const auto key = std::make_pair(file.path, file.ok ? file.sha256 : file.reason);
        if (!seen.insert(key).second)
            continue;
        auto e = event(file.ok ? SwapEventKind::found : SwapEventKind::rejected,
                       file.info ? file.info->version : "");
        e.file = file.path;
        e.reason = file.reason;
        emit(e);
    }
    // Forget files that are gone, so that their return is reported again.
    std::erase_if(seen, [&](const auto &key) {
        for (const auto &file : files)
            if (file.path == key.first)
                return false;
        return true;
    });
    return files;
}

std::optional<HotSwappableInstanceSet::State::Refusal>
HotSwappableInstanceSet::State::switch_binding(
    std::shared_ptr<DriverLibrary> library, const detail::BindingArgs &args,
    const std::function<void(const std::string &from_version)> &on_switched) {
    const std::string version = library->info().version;
    const std::filesystem::path library_path = library->path();
    auto &set_core = core();
    const auto active = set_core.snapshot();
    if (active->stopped())
        return Refusal{SwapEventKind::load_failed, "the instance set is stopped"};

    std::shared_ptr<detail::Binding> next;
    try {
        next = detail::Binding::open(std::move(library), args, set_core.options.endpoint_factory);
    } catch (const std::exception &e) {
        return Refusal{SwapEventKind::load_failed, std::string("init: ") + e.what()};
    }
    auto check = detail::check_same_instances(active, next);
    if (!check.ok) {
        next->stop();
        retired.push_back({next, library_path, version});
        return Refusal{SwapEventKind::health_check_failed, check.reason, check.conclusive};
    }

    const std::string from_version = active->library().info().version;
    const std::filesystem::path from_library = active->library().path();
    auto previous = set_core.swap_binding(std::move(next), std::move(check.candidate_list));
    on_switched(from_version);

    // In-flight calls finish on the old binding before it is stopped.
    const auto deadline = std::chrono::steady_clock::now() + options.drain_timeout;
    while (previous->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (previous->in_flight() > 0)
        logger->warn("hot swap: stopping {} {} with {} calls still in flight after {} ms",
                     options.driver_name, from_version, previous->in_flight(),
                     options.drain_timeout.count());
    previous->stop();
    retired.push_back({previous, from_library, from_version});
    return std::nullopt;
}

bool HotSwappableInstanceSet::State::swap_locked(std::shared_ptr<DriverLibrary> library,
                                                 const std::filesystem::path &file) {
    const std::string version = library->info().version;
    const std::filesystem::path library_path = library->path();
    const std::string sha = sha_of(*library);
    // `permanent`: these bytes will fail the same way again; not retried
    // until the file changes. A failed listing may be transient.
    auto refuse = [&](SwapEventKind kind, std::string reason, bool permanent = true) {
        auto e = event(kind, version);
        e.file = file;
        e.library = library_path;
        e.reason = std::move(reason);
        if (permanent)
            failed_shas.insert(sha);
        emit(e);
        return false;
    };
    if (library->info().name != options.driver_name)
        return refuse(SwapEventKind::load_failed,
                      "driver " + library->info().name + " is not " + options.driver_name);
    // The current config (the last reload's, or the one opened with).
    const detail::BindingArgs args = core().snapshot()->args();
    const auto refusal =
        switch_binding(std::move(library), args, [&](const std::string &from_version) {
            warned_kept = false;
            auto e = event(SwapEventKind::swapped, version);
            e.from_version = from_version;
            e.file = file;
            e.library = library_path;
            emit(e);
        });
    if (refusal)
        return refuse(refusal->kind, refusal->reason, refusal->conclusive);
    return true;
}

void HotSwappableInstanceSet::State::reap_retired() {
    core().release_drained(); // re-bound instance handles whose calls have finished
    const auto active_path = active_library()->path();
    // A reload retires bindings of the one library: it is reported once,
    // when the last of them is gone.
    std::set<std::filesystem::path> still_held, reported;
    for (const auto &r : retired)
        if (!r.binding.expired())
            still_held.insert(r.library);
    std::erase_if(retired, [&](const Retired &r) {
        if (!r.binding.expired())
            return false;
        if (r.library == active_path || still_held.count(r.library) ||
            !reported.insert(r.library).second)
            return true; // still (rightly) mapped, or reported already
        auto e = event(is_library_loaded(r.library) ? SwapEventKind::unload_failed
                                                    : SwapEventKind::unloaded,
                       r.version);
        e.library = r.library;
        if (e.kind == SwapEventKind::unload_failed)
            e.reason = "still mapped although nothing refers to it (GNU unique symbols, "
                       "threads or atexit handlers left by the driver, or "
                       "CLOUDHOST_KEEP_LOADED)";
        emit(e);
        return true;
    });
}

HotSwappableInstanceSet::HotSwappableInstanceSet(const Catalog &catalog,
                                                 InstanceSetOptions set_options,
                                                 HotSwapOptions options)
    : state_(std::make_unique<State>(catalog, std::move(options))) {
    auto &s = *state_;
    s.logger = set_options.logger ? set_options.logger : spdlog::default_logger();
    s.metrics_registry = set_options.metrics_registry;
    s.instance_set_id = set_options.instance_set_id;
    // Each version is loaded the way its own trust verdict says: under
    // "auto" an unvouched one is copied but never mapped here and runs in a
    // helper; "process" keeps every version out of this process.
    s.isolation = set_options.isolation.mode;
    const std::lock_guard lock(s.mutex);
    s.scan_and_report();
    auto library = s.catalog.load(s.options.driver_name, s.options.version_constraint, s.isolation);
    auto e = s.event(SwapEventKind::loaded, library->info().version);
    e.library = library->path();
    // The factory is kept by the set and opens each swapped-in version
    // where its load left it: a mapped one in process, an unmapped one in a
    // helper of its own (the old helper exits when its binding is freed).
    // The helper's events join this set's event stream.
    if (!set_options.endpoint_factory)
        set_options.endpoint_factory =
            isolation::endpoint_factory_for(set_options.isolation, s.options.on_event);
    s.set = InstanceSet::open(std::move(library), std::move(set_options));
    s.emit(e);
}

HotSwappableInstanceSet::~HotSwappableInstanceSet() {
    stop_watching();
}

InstanceSet HotSwappableInstanceSet::instance_set() const {
    return state_->set;
}

DriverInfo HotSwappableInstanceSet::active() const {
    return state_->active_library()->info();
}

bool HotSwappableInstanceSet::sync() {
    auto &s = *state_;
    const std::lock_guard lock(s.mutex);
    const auto files = s.scan_and_report();
    const std::string active_sha = sha_of(*s.active_library());
    const Version active_version = Version::parse(s.active_library()->info().version);

    bool active_file_present = false;
    for (const auto &file : files)
        active_file_present = active_file_present ||
                              (file.ok && file.info && file.info->name == s.options.driver_name &&
                               file.sha256 == active_sha);
    // Neither a version that failed to load nor a file still being written.
    const DriverFile *best = choose_driver_version(
        files, s.options.driver_name, s.constraint, [&](const DriverFile &file) {
            return !s.failed_shas.count(file.sha256) &&
                   !(s.watcher && s.watcher->being_written(file.path));
        });
    std::optional<Version> best_version;
    if (best)
        best_version = Version::parse(best->info->version);

    bool swapped = false;
    if (!best) {
        if (!active_file_present && !s.warned_kept) {
            s.warned_kept = true;
            auto e = s.event(SwapEventKind::kept, active_version.str());
            e.library = s.active_library()->path();
            e.reason = "the active version's file is gone and no other allowed version is "
                       "available; keeping the loaded one";
            s.emit(e);
        }
    } else if (best->sha256 != active_sha &&
               !(s.pinned && *best_version == active_version && active_file_present)) {
        std::shared_ptr<DriverLibrary> library;
        try {
            // Exactly the chosen version, even if the directory moved on.
            library = s.catalog.load(s.options.driver_name, "=" + best_version->str(), s.isolation);
        } catch (const std::exception &e) {
            auto event = s.event(SwapEventKind::load_failed, best_version->str());
            event.file = best->path;
            event.reason = e.what();
            s.failed_shas.insert(best->sha256);
            s.emit(event);
        }
        if (library) {
            auto e = s.event(SwapEventKind::loaded, library->info().version);
            e.file = best->path;
            e.library = library->path();
            s.emit(e);
            swapped = s.swap_locked(std::move(library), best->path);
        }
    }
    s.reap_retired();
    return swapped;
}

bool HotSwappableInstanceSet::swap_to(std::shared_ptr<DriverLibrary> library) {
    if (!library)
        throw std::invalid_argument("HotSwappableInstanceSet::swap_to: no library");
    auto &s = *state_;
    const std::lock_guard lock(s.mutex);
    const bool swapped = s.swap_locked(std::move(library), {});
    s.reap_retired();
    return swapped;
}

bool HotSwappableInstanceSet::reload(InstanceSetOptions set_options) {
    auto &s = *state_;
    const std::lock_guard lock(s.mutex);
    const auto active = s.core().snapshot();
    const std::string version = active->library().info().version;
    auto refuse = [&](std::string reason) {
        auto e = s.event(SwapEventKind::reload_failed, version);
        e.library = active->library().path();
        e.reason = std::move(reason);
        s.emit(e);
        s.reap_retired();
        return false;
    };
    try {
        validate_instance_set_id(set_options.instance_set_id);
        detail::validate_config_json(set_options.config_json);
        validate_tags(set_options.shared_resource_tags, "SharedResourceTags");
    } catch (const std::exception &e) {
        return refuse(e.what());
    }
    const auto &current = active->args();
    if (set_options.instance_set_id != current.instance_set_id)
        return refuse("config: InstanceSetID " + set_options.instance_set_id +
                      " differs from the running " + current.instance_set_id +
                      "; it changes only with a restart (instances tagged with the old one "
                      "would be orphaned)");

    const detail::BindingArgs args{std::move(set_options.config_json), current.instance_set_id,
                                   std::move(set_options.shared_resource_tags), current.logger,
                                   current.metrics_registry};
    const auto refusal = s.switch_binding(active->shared_library(), args, [&](const std::string &) {
        s.core().limiter.set_rate(set_options.max_cloud_ops_per_second);
        auto e = s.event(SwapEventKind::reloaded, version);
        e.library = active->library().path();
        s.emit(e);
    });
    if (refusal)
        return refuse(refusal->kind == SwapEventKind::health_check_failed
                          ? "health check: " + refusal->reason
                          : refusal->reason);
    s.reap_retired();
    return true;
}

void HotSwappableInstanceSet::start_watching() {
    auto &s = *state_;
    auto watcher = std::make_unique<DriverWatcher>(s.catalog.options().dirs, [this] { sync(); });
    const std::lock_guard lock(s.mutex);
    if (!s.watcher)
        s.watcher = std::move(watcher);
}

void HotSwappableInstanceSet::stop_watching() {
    std::unique_ptr<DriverWatcher> watcher;
    {
        const std::lock_guard lock(state_->mutex);
        watcher = std::move(state_->watcher);
    }
    // Joined outside the lock: its thread may be waiting for it in sync().
    watcher.reset();
}

} // namespace cloudhost
