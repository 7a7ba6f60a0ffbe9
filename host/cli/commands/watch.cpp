// cloudhost watch [--json] [--duration D]: keep an InstanceSet, watch the
// driver directories, hot-swap driver versions as files change, sync on the
// config's sync interval, and print every event as one line.
#include "../commands.hpp"
#include "../json_output.hpp"

#include "cloudhost/hot_swap.hpp"
#include "cloudhost/metrics.hpp"
#include "cloudhost/printable.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

namespace cloudhost::cli {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void request_stop(int) {
    stop_requested = 1;
}

struct WatchFlags {
    bool json = false;
    std::string duration;       // "" = until SIGINT/SIGTERM
    std::string metrics_listen; // "" = no /metrics endpoint
};

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

} // namespace

Command add_watch_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand(
        "watch", "Keep an instance set, hot-swap driver versions as files change, print events");
    auto f = std::make_shared<WatchFlags>();
    sub->add_flag("--json", f->json, "One JSON object per line, with an \"event\" field");
    sub->add_option("--duration", f->duration,
                    "Stop after this long (e.g. 30s); default: until "
                    "interrupted");
    sub->add_option("--metrics-listen", f->metrics_listen,
                    "Serve Prometheus metrics at http://HOST:PORT/metrics (PORT alone: 127.0.0.1)");
    return {sub, [&context, f] {
                std::optional<std::chrono::milliseconds> duration;
                if (!f->duration.empty()) {
                    try {
                        duration = parse_duration(f->duration);
                    } catch (const ConfigError &e) {
                        throw UsageError(std::string("--duration: ") + e.what());
                    }
                }
                const auto metrics_address = metrics_listen_address(f->metrics_listen);
                const Config &config = context.config();
                EventPrinter printer(f->json);
                HotSwapOptions options;
                options.driver_name = config.driver;
                options.version_constraint = config.driver_version;
                options.on_event = [&printer](const SwapEvent &e) {
                    printer.print(swap_event_name(e.kind), {{"driver", e.driver},
                                                            {"version", e.version},
                                                            {"from_version", e.from_version},
                                                            {"file", e.file.string()},
                                                            {"reason", e.reason}});
                };
                HotSwappableInstanceSet set(context.catalog(), context.instance_set_options(),
                                            options);
                const auto metrics_server = serve_metrics(metrics_address);
                printer.print("started",
                              {{"driver", config.driver}, {"version", set.active().version}});
                set.start_watching();

                std::signal(SIGINT, request_stop);
                std::signal(SIGTERM, request_stop);
                const auto started = std::chrono::steady_clock::now();
                auto next_sync = started;
                std::optional<std::size_t> last_count;
                while (!stop_requested &&
                       (!duration || std::chrono::steady_clock::now() - started < *duration)) {
                    if (std::chrono::steady_clock::now() >= next_sync) {
                        set.sync();
                        try {
                            std::size_t count =
                                set.instance_set().instances(context.instance_set_filter()).size();
                            if (count != last_count)
                                printer.print("sync", {{"instances", std::to_string(count)},
                                                       {"version", set.active().version}});
                            last_count = count;
                        } catch (const std::exception &e) {
                            printer.print("sync_failed", {{"reason", e.what()}});
                        }
                        next_sync += config.timeouts.sync_interval;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                }
                set.stop_watching();
                printer.print("stopped", {{"version", set.active().version}});
                return int(exit_ok);
            }};
}

} // namespace cloudhost::cli
