// (a) a trivial Instance call through the host's C++ wrapper and the C ABI,
//     against a direct C++ virtual call in the same run;
// (b) Instances() of 100,000 stub instances with 8 tags each through the
//     wrappers: time and host heap bytes per instance.
#include "allocation_counter.hpp"
#include "bench_registry.hpp"
#include "trivial_instance.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/driver_sdk.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"

#include <unistd.h>

#include <chrono>

namespace cloudhost::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::shared_ptr<DriverLibrary> open_stub() {
    std::filesystem::path path = build_root() + "/plugins/stub/stub.so";
    return DriverLibrary::open(path, read_driver_metadata(path));
}

InstanceSet open_stub_set(const std::string &extra_config) {
    InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-zzzzzzzzzzbench";
    options.config_json = "{\"cloud\":\"bench-" + std::to_string(getpid()) + "-" +
                          std::to_string(SteadyClock::now().time_since_epoch().count()) + "\"" +
                          extra_config + "}";
    return InstanceSet::open(open_stub(), options);
}

// Opaque to the optimiser, so the virtual call is not devirtualised.
sdk::Instance *volatile opaque_instance = nullptr;

template <class Fn> double ns_per_call(Fn &&fn, int calls) {
    std::vector<double> runs;
    for (int r = 0; r < 7; ++r) {
        auto t0 = SteadyClock::now();
        for (int i = 0; i < calls; ++i)
            fn();
        runs.push_back(std::chrono::duration<double, std::nano>(SteadyClock::now() - t0).count() /
                       calls);
    }
    return median(runs);
}

std::vector<Result> trivial_instance_call() {
    std::filesystem::path path = build_root() + "/bench/bench_driver.so";
    InstanceSetOptions options;
    options.instance_set_id = "zzzzz-zzzzz-zzzzzzzzzzbench";
    InstanceSet set =
        InstanceSet::open(DriverLibrary::open(path, read_driver_metadata(path)), options);
    InstanceType type;
    type.name = type.provider_type = "bench";
    Instance inst = set.create(type, "", {}, "", std::nullopt);
    TrivialInstance local("local");
    opaque_instance = &local;

    volatile std::size_t sink = 0;
    const int calls = 1'000'000;
    double wrapped = ns_per_call([&] { sink = sink + inst.remote_user().size(); }, calls);
    sdk::Instance *direct_target = opaque_instance;
    double direct = ns_per_call([&] { sink = sink + direct_target->remote_user().size(); }, calls);
    inst.destroy();

    Result r;
    r.name = "instance_call_remote_user";
    r.value = wrapped;
    r.unit = "ns/call";
    r.baseline = "direct C++ virtual call (same instance class)";
    r.baseline_value = direct;
    r.note = "target <= 2x baseline + 10 ns = " + std::to_string(2 * direct + 10) + " ns";
    return {r};
}

std::vector<Result> list_100k_instances() {
    const int n = 100'000;
    InstanceSet set = open_stub_set(",\"instances_for_bench\":" + std::to_string(n));
    std::vector<double> times;
    double bytes_per_instance = 0;
    for (int r = 0; r < 5; ++r) {
        int64_t before = live_heap_bytes();
        auto t0 = SteadyClock::now();
        std::vector<Instance> listed = set.instances({});
        times.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
        int64_t after = live_heap_bytes();
        if (listed.size() != static_cast<std::size_t>(n))
            throw std::runtime_error("listed " + std::to_string(listed.size()) +
                                     " instances, want " + std::to_string(n));
        bytes_per_instance = static_cast<double>(after - before) / n;
    }
    Result time;
    time.name = "instances_100k_list";
    time.value = median(times);
    time.unit = "ms";
    time.note = "median of 5; target < 100 ms";
    Result memory;
    memory.name = "instances_100k_bytes_per_instance";
    memory.value = bytes_per_instance;
    memory.unit = "bytes";
    memory.note = "live heap held by the returned handles, incl. the driver's 16-byte handle; "
                  "tags are not copied; target < 200";
    return {time, memory};
}

Register a("instance_call", "trivial Instance call via wrapper + C ABI vs direct virtual call",
           trivial_instance_call);
Register b("instances_100k", "Instances() of 100,000 stub instances with 8 tags each",
           list_100k_instances);

} // namespace
} // namespace cloudhost::bench
