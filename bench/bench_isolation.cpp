// Isolated drivers (host/lib/isolation) against the same driver in process,
// side by side in one run, on the stub driver:
// (a) a trivial Instance call (RemoteUser): p50 and p99, isolated with both
//     ends spinning up to 50 us for the next message, and without spinning,
//     and against a bare socketpair round trip between two processes;
// (b) Instances() of 10,000 stub instances;
// (c) helper killed with SIGKILL -> the next call served (restart, re-open).
#include "bench_registry.hpp"

#include "core/in_process_endpoint.hpp"
#include "isolation/isolated_endpoint.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/internal/elf_metadata.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace cloudhost::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
using detail::DriverEndpoint;
using detail::InstanceRef;

std::shared_ptr<DriverLibrary> open_stub() {
    std::filesystem::path path = build_root() + "/plugins/stub/stub.so";
    return DriverLibrary::open(path, read_driver_metadata(path));
}

std::string stub_config(unsigned instances) {
    return "{\"cloud\":\"bench-iso-" + std::to_string(getpid()) + "-" +
           std::to_string(SteadyClock::now().time_since_epoch().count()) +
           "\",\"instances_for_bench\":" + std::to_string(instances) + "}";
}

const char *set_id = "zzzzz-zzzzz-zzzzzzzbenchiso";

std::unique_ptr<DriverEndpoint> in_process(const std::string &config) {
    detail::EndpointArgs args{config, set_id, {}, nullptr, nullptr};
    return detail::InProcessEndpoint::open(open_stub(), args);
}

std::unique_ptr<isolation::IsolatedEndpoint> isolated(const std::string &config,
                                                      std::chrono::microseconds spin) {
    isolation::IsolatedArgs args{config, set_id, {}, nullptr, nullptr};
    isolation::IsolationOptions options;
    options.spin = spin;
    options.limits.spin_us = static_cast<std::uint64_t>(spin.count());
    return isolation::IsolatedEndpoint::open(open_stub(), args, options);
}

struct KeepAll final : detail::InstanceVisitor {
    explicit KeepAll(bool wants_tags_in = false) : wants_tags(wants_tags_in) {}
    bool wants_tags;
    std::vector<InstanceRef> refs;
    bool take(InstanceRef ref, const detail::InstanceDescView &) noexcept override {
        refs.push_back(ref);
        return true;
    }
    bool needs_tags() const noexcept override { return wants_tags; }
    void release(DriverEndpoint &ep) {
        for (auto r : refs)
            ep.release(r);
        refs.clear();
    }
};

// Microseconds per RemoteUser call, one sample per call.
std::vector<double> trivial_calls(DriverEndpoint &ep, int calls) {
    KeepAll keep;
    InstanceType type;
    type.name = type.provider_type = "bench";
    type.vcpus = 1;
    ep.create(type, "img", {}, "", std::nullopt, keep);
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(calls));
    for (int i = 0; i < calls + 200; ++i) {
        const auto t0 = SteadyClock::now();
        ep.instance_remote_user(keep.refs.at(0));
        const auto t1 = SteadyClock::now();
        if (i >= 200) // warmed up
            us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    keep.release(ep);
    return us;
}

// The floor under any helper design: microseconds per 1-byte round trip
// between two processes over a socketpair, one thread each (two wake-ups,
// no encoding, no pool). The child only reads, writes and _exits, so forking
// this multi-threaded process is safe.
std::vector<double> socket_round_trips(int count) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::runtime_error("socketpair failed");
    const pid_t child = ::fork();
    if (child < 0)
        throw std::runtime_error("fork failed");
    if (child == 0) {
        ::close(fds[0]);
        char byte = 0;
        while (::read(fds[1], &byte, 1) == 1)
            if (::write(fds[1], &byte, 1) != 1)
                break;
        ::_exit(0);
    }
    ::close(fds[1]);
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(count));
    char byte = 'x';
    bool ok = true;
    for (int i = 0; i < count + 200 && ok; ++i) {
        const auto t0 = SteadyClock::now();
        ok = ::write(fds[0], &byte, 1) == 1 && ::read(fds[0], &byte, 1) == 1;
        const auto t1 = SteadyClock::now();
        if (i >= 200)
            us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    ::close(fds[0]); // the child reads EOF and exits
    ::waitpid(child, nullptr, 0);
    if (!ok)
        throw std::runtime_error("socket round trip failed");
    return us;
}

std::vector<Result> trivial_call() {
    constexpr int calls = 20000;
    const auto base = trivial_calls(*in_process(stub_config(0)), calls);
    const auto spin =
        trivial_calls(*isolated(stub_config(0), std::chrono::microseconds(50)), calls);
    const auto block =
        trivial_calls(*isolated(stub_config(0), std::chrono::microseconds(0)), calls);
    const auto floor = socket_round_trips(calls);
    const std::string base_name = "same call in process";
    return {
        {"isolation_trivial_call_p50_spin", median(spin), "us", base_name, median(base),
         "RemoteUser on the stub; both ends poll up to 50 us before blocking"},
        {"isolation_trivial_call_p99_spin", percentile(spin, 99), "us", base_name,
         percentile(base, 99), ""},
        {"isolation_trivial_call_p50_nospin", median(block), "us", "isolated with spinning",
         median(spin), "both ends block in recv/condition variable at once"},
        {"isolation_trivial_call_p99_nospin", percentile(block, 99), "us", "isolated with spinning",
         percentile(spin, 99), ""},
        {"isolation_trivial_call_p50_vs_floor", median(block), "us",
         "1-byte socketpair round trip between two processes", median(floor),
         "the floor any helper design pays on this machine: two cross-process wake-ups"},
    };
}

double list_ms(DriverEndpoint &ep, bool with_tags) {
    std::vector<double> ms;
    for (int r = 0; r < 5; ++r) {
        KeepAll keep(with_tags);
        const auto t0 = SteadyClock::now();
        ep.instances({}, keep);
        keep.release(ep);
        ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
        if (keep.refs.size() != 0)
            throw std::runtime_error("refs left");
    }
    return median(ms);
}

// Without tags: a plain listing (the pool's sync). With tags: a filtered
// one (the stub gives each instance 8), which must carry them across.
std::vector<Result> list_10k() {
    const auto config = stub_config(10000);
    const auto base = in_process(config);
    const auto iso = isolated(config, std::chrono::microseconds(0));
    std::vector<Result> results;
    for (const bool with_tags : {false, true}) {
        const auto base_ms = list_ms(*base, with_tags);
        const auto iso_ms = list_ms(*iso, with_tags);
        results.push_back({with_tags ? "isolation_instances_10k_tags" : "isolation_instances_10k",
                           iso_ms, "ms", "same listing in process", base_ms,
                           std::string("Instances() of 10,000 stub instances") +
                               (with_tags ? " with their 8 tags each" : ", no tags wanted") +
                               ", released after, median of 5 (no spinning: the default)"});
    }
    return results;
}

std::vector<Result> restart() {
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {
        // A fresh set each time: the first restart after a crash is
        // immediate, later ones within 60 s back off.
        auto ep = isolated(stub_config(0), std::chrono::microseconds(0));
        KeepAll keep;
        ep->instances({}, keep);
        ::kill(ep->helper_pid(), SIGKILL);
        const auto t0 = SteadyClock::now();
        for (int tries = 0; tries < 100; ++tries) {
            try {
                ep->instances({}, keep);
                break;
            } catch (const DriverCrashedError &) {
                // the helper's death seen by this call
            }
        }
        ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
        keep.release(*ep);
    }
    return {{"isolation_restart_to_first_call", median(ms), "ms", "", std::nullopt,
             "SIGKILL of the helper -> next Instances() served by a new one, median of 10"}};
}

Register trivial("isolation_trivial_call",
                 "trivial Instance call through a helper process vs in process", trivial_call);
Register listing("isolation_instances_10k", "Instances() of 10,000 stub instances, isolated",
                 list_10k);
Register restarting("isolation_restart", "helper killed -> next call served", restart);

} // namespace
} // namespace cloudhost::bench
