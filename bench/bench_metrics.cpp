// Metrics: one counter increment and one histogram observation (target
// <= 50 ns uncontended), the same from 8 threads on one series, and what
// the host's per-call metrics add to the trivial Instance call (<= 10%).
#include "bench_registry.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "cloudhost/metrics.hpp"
#include "metrics/host_metrics.hpp"

#include <atomic>
#include <chrono>
#include <thread>

namespace cloudhost::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

template <class Fn> double ns_per_op(Fn &&fn, int ops) {
    std::vector<double> runs;
    for (int r = 0; r < 7; ++r) {
        const auto t0 = SteadyClock::now();
        for (int i = 0; i < ops; ++i)
            fn(i);
        runs.push_back(std::chrono::duration<double, std::nano>(SteadyClock::now() - t0).count() /
                       ops);
    }
    return median(runs);
}

// Wall time per operation of each of `threads` threads doing `ops` each.
template <class Fn> double contended_ns_per_op(Fn &&fn, int threads, int ops) {
    std::vector<double> runs;
    for (int r = 0; r < 5; ++r) {
        std::atomic<int> ready{0};
        std::vector<std::thread> pool;
        const auto t0 = SteadyClock::now();
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                ready.fetch_add(1);
                while (ready.load() < threads) {
                }
                for (int i = 0; i < ops; ++i)
                    fn(i);
            });
        for (auto &t : pool)
            t.join();
        runs.push_back(std::chrono::duration<double, std::nano>(SteadyClock::now() - t0).count() /
                       ops);
    }
    return median(runs);
}

std::atomic<uint64_t> plain_counter{0};

std::vector<Result> metric_updates() {
    MetricsRegistry registry;
    const CounterSeries counter =
        registry.counter("bench_total", "Bench.", {"driver", "operation"}).labels({"a", "b"});
    const HistogramSeries histogram =
        registry.histogram("bench_seconds", "Bench.", {"driver", "operation"}).labels({"a", "b"});
    const int ops = 2'000'000;
    const double plain =
        ns_per_op([](int) { plain_counter.fetch_add(1, std::memory_order_relaxed); }, ops);
    // Values spread over the default buckets (1 ms .. 100 s).
    static const double values[] = {0.001, 0.02, 0.3, 1.5, 7, 45, 100, 0.08};
    Result inc{"metrics_counter_inc",
               ns_per_op([&](int) { counter.inc(); }, ops),
               "ns/op",
               "relaxed fetch_add on a std::atomic<uint64_t>",
               plain,
               "one thread; target <= 50 ns"};
    Result observe{"metrics_histogram_observe",
                   ns_per_op([&](int i) { histogram.observe(values[i & 7]); }, ops),
                   "ns/op",
                   "relaxed fetch_add on a std::atomic<uint64_t>",
                   plain,
                   "one thread, 16 default buckets; target <= 50 ns"};
    const int threads = 8, per_thread = 250'000;
    const double plain8 = contended_ns_per_op(
        [](int) { plain_counter.fetch_add(1, std::memory_order_relaxed); }, threads, per_thread);
    Result inc8{"metrics_counter_inc_8_threads",
                contended_ns_per_op([&](int) { counter.inc(); }, threads, per_thread),
                "ns/op per thread",
                "relaxed fetch_add on one std::atomic<uint64_t>, 8 threads",
                plain8,
                "8 threads on one series (wall time / ops of one thread); report"};
    Result observe8{
        "metrics_histogram_observe_8_threads",
        contended_ns_per_op([&](int i) { histogram.observe(values[i & 7]); }, threads, per_thread),
        "ns/op per thread",
        "relaxed fetch_add on one std::atomic<uint64_t>, 8 threads",
        plain8,
        "8 threads on one series; report"};
    return {inc, observe, inc8, observe8};
}

// The host records each counted driver call (Create, Instances, Destroy,
// SetTags) with OperationMetrics::record_call: one counter increment and one
// histogram observation. Side by side: the trivial call alone, and the
// trivial call plus that record.
std::vector<Result> instance_call_overhead() {
    std::filesystem::path path = build_root() + "/bench/bench_driver.so";
    InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-zzzzzzzzzzbench";
    InstanceSet set =
        InstanceSet::open(DriverLibrary::open(path, read_driver_metadata(path)), options);
    InstanceType type;
    type.name = type.provider_type = "bench";
    Instance inst = set.create(type, "", {}, "", std::nullopt);
    MetricsRegistry registry;
    detail::OperationMetrics metrics(registry, "bench", "1.0.0", options.instance_set_id);
    volatile std::size_t sink = 0;
    const int calls = 1'000'000;
    const double plain = ns_per_op([&](int) { sink = sink + inst.remote_user().size(); }, calls);
    const double with_metrics = ns_per_op(
        [&](int i) {
            sink = sink + inst.remote_user().size();
            metrics.record_call(Operation::set_tags, detail::Outcome::ok,
                                std::chrono::nanoseconds(1000 + (i & 1023)));
        },
        calls);
    inst.destroy();
    return {{"instance_call_with_metrics", with_metrics, "ns/call",
             "the same trivial call without metrics", plain,
             "remote_user() + record_call (counter + histogram); target ratio <= 1.10"}};
}

Register a("metrics", "counter increment and histogram observation, 1 and 8 threads",
           metric_updates);
Register b("metrics_call_overhead", "trivial Instance call with and without the call's metrics",
           instance_call_overhead);

} // namespace
} // namespace cloudhost::bench
