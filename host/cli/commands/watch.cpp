// cloudhost watch [--json] [--duration D] [--metrics-listen [HOST:]PORT]
//                 [--stop-grace D]: keep an InstanceSet, watch the driver
// directories, hot-swap driver versions as files change, sync on the
// config's sync interval, and print every event as one line.
//
// Signals: SIGINT/SIGTERM stop the watcher and drain, then exit 128+signal;
// if that takes longer than --stop-grace (a driver call that never returns),
// the process exits anyway (an isolated driver's helper dies with it); a
// second signal exits at once. SIGHUP re-reads the config file
// (config_reload.hpp). All of the set's work runs on one thread so that the
// main thread can always act on a signal.
#include "../commands.hpp"
#include "../config_reload.hpp"
#include "../interruption.hpp"
#include "../json_output.hpp"
#include "../progress.hpp"

#include "cloudhost/hot_swap.hpp"
#include "cloudhost/metrics.hpp"
#include "cloudhost/printable.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <mutex>
#include <thread>

namespace cloudhost::cli {
namespace {

struct WatchFlags {
    bool json = false;
    std::string duration;       // "" = until SIGINT/SIGTERM
    std::string metrics_listen; // "" = no /metrics endpoint
    std::string stop_grace = "10s";
};

std::chrono::milliseconds duration_flag(const char *flag, const std::string &text) {
    try {
        return parse_duration(text);
    } catch (const ConfigError &e) {
        throw UsageError(std::string(flag) + ": " + e.what());
    }
}

// --metrics-listen: nothing, or where to serve (UsageError naming the flag).
std::optional<ListenAddress> metrics_listen_address(const std::string &text) {
    if (text.empty())
        return std::nullopt;
    try {
        return parse_listen_address(text);
    } catch (const std::invalid_argument &e) {
        throw UsageError(std::string("--metrics-listen: ") + e.what());
    }
}

std::unique_ptr<MetricsServer> serve_metrics(const std::optional<ListenAddress> &address) {
    if (!address)
        return nullptr;
    return std::make_unique<MetricsServer>(default_metrics_registry(), address->host,
                                           address->port);
}

// Prints events from any thread, one whole line at a time.
class EventPrinter {
  public:
    explicit EventPrinter(bool json) : json_(json) {}

    void print(const std::string &event,
               const std::vector<std::pair<std::string, std::string>> &fields) {
        std::string line;
        if (json_) {
            rapidjson::StringBuffer buffer;
            JsonWriter w(buffer);
            w.StartObject();
            w.Key("event");
            write_string(w, event);
            for (const auto &[k, v] : fields) {
                if (v.empty())
                    continue;
                write_string(w, k);
                write_string(w, v);
            }
            w.EndObject();
            line = buffer.GetString();
        } else {
            line = event;
            for (const auto &[k, v] : fields)
                if (!v.empty())
                    line += " " + k + "=" + terminal_text(v);
        }
        std::lock_guard lock(mutex_);
        std::cout << line << std::endl;
    }

  private:
    bool json_;
    std::mutex mutex_;
};

// What the watch thread works with; the main thread only waits for it.
struct WatchRun {
    CliContext &context;
    EventPrinter &printer;
    Config config; // the running one; a reload replaces it
    std::optional<std::chrono::milliseconds> duration;
    std::optional<ListenAddress> metrics_address;
    std::atomic<bool> stop{false};
};

// SIGHUP: re-read the config file. Only reload-able keys changed: reload
// through the hot swap's path (events reloaded / reload_failed). A bad file
// or a restart-only change: one reload_failed line, the running config kept.
void reload_config(WatchRun &run, HotSwappableInstanceSet &set) {
    const std::string &file = run.context.options().config_file;
    const auto refuse = [&](const std::string &reason) {
        spdlog::warn("SIGHUP: {}", reason);
        run.printer.print(
            "reload_failed",
            {{"driver", run.config.driver}, {"version", set.active().version}, {"reason", reason}});
    };
    if (file.empty())
        return refuse("no --config file to re-read (running on the embedded default config)");
    Config next;
    try {
        next = load_config(file);
    } catch (const ConfigError &e) {
        return refuse(std::string(e.what()) + " (keeping the running config)");
    }
    const auto changed = restart_only_changes(run.config, next);
    if (!changed.empty()) {
        std::string keys;
        for (const auto &key : changed)
            keys += (keys.empty() ? "\"" : ", \"") + key + "\"";
        return refuse(file + ": " + keys + " changed; only a restart applies " +
                      (changed.size() == 1 ? "it" : "them") + " (keeping the running config)");
    }
    if (set.reload(run.context.instance_set_options_for(next)))
        run.config = std::move(next);
}

void watch(WatchRun &run) {
    CliContext &context = run.context;
    HotSwapOptions options;
    options.driver_name = run.config.driver;
    options.version_constraint = run.config.driver_version;
    options.on_event = [&printer = run.printer](const SwapEvent &e) {
        printer.print(swap_event_name(e.kind), {{"driver", e.driver},
                                                {"version", e.version},
                                                {"from_version", e.from_version},
                                                {"file", e.file.string()},
                                                {"reason", e.reason}});
    };
    HotSwappableInstanceSet set(context.catalog(), context.instance_set_options_for(run.config),
                                options);
    const auto metrics_server = serve_metrics(run.metrics_address);
    run.printer.print("started",
                      {{"driver", run.config.driver}, {"version", set.active().version}});
    set.start_watching();

    const auto started = std::chrono::steady_clock::now();
    auto next_sync = started;
    std::optional<std::size_t> last_count;
    while (!run.stop &&
           (!run.duration || std::chrono::steady_clock::now() - started < *run.duration)) {
        if (take_reload_request())
            reload_config(run, set);
        if (std::chrono::steady_clock::now() >= next_sync) {
            set.sync();
            try {
                std::size_t count =
                    set.instance_set().instances(context.instance_set_filter()).size();
                if (count != last_count)
                    run.printer.print("sync", {{"instances", std::to_string(count)},
                                               {"version", set.active().version}});
                last_count = count;
            } catch (const std::exception &e) {
                run.printer.print("sync_failed", {{"reason", e.what()}});
            }
            next_sync = std::chrono::steady_clock::now() + run.config.timeouts.sync_interval;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    set.stop_watching();
    const int signal_number = interrupting_signal();
    run.printer.print("stopped", {{"version", set.active().version},
                                  {"signal", signal_number ? signal_name(signal_number) : ""}});
}

} // namespace

Command add_watch_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand(
        "watch", "Keep an instance set, hot-swap driver versions as files change, print events");
    sub->footer("SIGHUP re-reads the config file: driver_parameters, resource_tags and\n"
                "max_cloud_ops_per_second are reloaded without a restart; a change of a key\n"
                "that needs one (driver, driver_version, driver_dirs, trust, instance_set_id,\n"
                "tag_key_prefix, isolation*, timeouts.driver_*) or a bad file is refused and\n"
                "the running config kept. SIGINT/SIGTERM stop within --stop-grace and exit\n"
                "128+signal; a second signal exits at once.");
    auto f = std::make_shared<WatchFlags>();
    sub->add_flag("--json", f->json, "One JSON object per line, with an \"event\" field");
    sub->add_option("--duration", f->duration,
                    "Stop after this long (e.g. 30s); default: until "
                    "interrupted");
    sub->add_option("--metrics-listen", f->metrics_listen,
                    "Serve Prometheus metrics at http://HOST:PORT/metrics (PORT alone: 127.0.0.1)");
    sub->add_option("--stop-grace", f->stop_grace,
                    "After SIGINT/SIGTERM, exit at the latest after this long even if a driver "
                    "call has not returned (default 10s)");
    return {sub, [&context, f] {
                std::optional<std::chrono::milliseconds> duration;
                if (!f->duration.empty())
                    duration = duration_flag("--duration", f->duration);
                const auto grace = duration_flag("--stop-grace", f->stop_grace);
                EventPrinter printer(f->json);
                WatchRun run{context,
                             printer,
                             context.config(),
                             duration,
                             metrics_listen_address(f->metrics_listen),
                             {}};

                InterruptionGuard guard(/*hangup=*/true);
                std::mutex mutex;
                std::condition_variable finished_cv;
                bool finished = false;
                std::exception_ptr failure;
                std::thread worker([&] {
                    try {
                        watch(run);
                    } catch (...) {
                        failure = std::current_exception();
                    }
                    std::lock_guard lock(mutex);
                    finished = true;
                    finished_cv.notify_all();
                });
                std::unique_lock lock(mutex);
                while (!finished && interrupting_signal() == 0)
                    finished_cv.wait_for(lock, std::chrono::milliseconds(50));
                if (!finished) {
                    run.stop = true;
                    finished_cv.wait_for(lock, grace, [&] { return finished; });
                }
                if (!finished) {
                    // A driver call that does not return cannot be cancelled
                    // in process; exiting ends it (and an isolated driver's
                    // helper, which dies with its host).
                    const int signal_number = interrupting_signal();
                    spdlog::error("watch: a driver call has not returned {} after {}; exiting "
                                  "without draining",
                                  format_seconds(std::chrono::duration<double>(grace).count()),
                                  signal_name(signal_number));
                    printer.print("stopped", {{"signal", signal_name(signal_number)},
                                              {"reason", "a driver call did not return within "
                                                         "--stop-grace"}});
                    std::cout.flush();
                    std::cerr.flush();
                    _exit(128 + signal_number);
                }
                lock.unlock();
                worker.join();
                if (failure)
                    std::rethrow_exception(failure);
                const int signal_number = interrupting_signal();
                return signal_number ? 128 + signal_number : int(exit_ok);
            }};
}

} // namespace cloudhost::cli
