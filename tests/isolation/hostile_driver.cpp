// hostile: a test driver, written against the raw C ABI, that misbehaves on
// request. An in-memory cloud; a call misbehaves when its argument says so:
//   config {"abort_in_new": true}                      abort() in instance_set_new
//   config {"log_after_free": true}                    a thread logs on after free
//   Instances filter {"fault": F}, F one of:
//     segv      write through a null pointer
//     throw     a C++ exception straight out of the C ABI function
//     stack     unbounded recursion (stack overflow)
//     flood     200k log records as fast as possible
//     garbage   bad UTF-8, a 2 MiB id, a wrong struct_size through the sinks
//     sleep     sleeps for 10 s, then answers normally
//     fail_late hands over 3,000 instances with 8 tags each, then fails
//     live      fails with "live handles: N" (handed over, not yet released)
//   Create with tag {"fault": "loop"}: never returns.
// Anything else behaves. Only tests/isolation loads it, in a helper process.
#include "cloudhost/driver.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

CH_DRIVER_DEFINE_INFO("hostile", "1.0.0", 1, 1, "misbehaves on request (tests/isolation)");

namespace {

std::string str(ch_str s) {
    return s.len ? std::string(s.data, s.len) : std::string();
}
ch_str ch(const std::string &s) {
    return {s.data(), s.size()};
}

struct Vm {
    std::string id;
    std::string type;
    std::map<std::string, std::string> tags;
};

struct Set {
    const ch_logger *logger;
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<Vm>> vms;
    int serial = 0;
    std::atomic<bool> stop{false};
};

struct Handle {
    std::shared_ptr<Vm> vm;
    Set *set;
};

// Handles handed over and not released: what a leak would leave.
std::atomic<long> live_handles{0};

void fill(ch_error *e, ch_status s, const char *msg) {
    e->status = s;
    std::strncpy(e->message, msg, sizeof e->message - 1);
}

void log(const ch_logger *l, int level, const std::string &m) {
    if (l && l->log)
        l->log(l->ctx, level, ch(m), nullptr, 0);
}

void put(const ch_instance_sink *out, Set *set, const std::shared_ptr<Vm> &vm) {
    std::vector<ch_tag> tags;
    for (const auto &[k, v] : vm->tags)
        tags.push_back({ch(k), ch(v)});
    ch_instance_desc d{sizeof d, ch(vm->id), ch(vm->type), {tags.data(), tags.size()}};
    live_handles.fetch_add(1);
    out->put(out->ctx, reinterpret_cast<ch_instance *>(new Handle{vm, set}), &d);
}

// Unbounded on purpose; the pointer keeps the compiler from proving it.
int (*volatile recurse_ptr)(int);
int recurse(int depth) {
    volatile char pad[4096];
    pad[0] = static_cast<char>(depth);
    return recurse_ptr(depth + 1) + pad[0];
}

ch_status set_new(const ch_instance_set_args *args, ch_instance_set **out, ch_error *) {
    const auto config = str(args->config_json);
    if (config.find("\"abort_in_new\": true") != std::string::npos)
        std::abort();
    auto *set = new Set{args->logger, {}, {}, 0, {}};
    if (config.find("\"log_after_free\": true") != std::string::npos) {
        const ch_logger *logger = args->logger;
        std::thread([logger] {
            for (int i = 0; i < 100000; ++i) { // about 100 s; the process ends first
                log(logger, CH_LOG_INFO, "still logging after free");
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }).detach();
    }
    *out = reinterpret_cast<ch_instance_set *>(set);
    return CH_OK;
}

void set_stop(ch_instance_set *s) {
    reinterpret_cast<Set *>(s)->stop = true;
}
void set_free(ch_instance_set *s) {
    delete reinterpret_cast<Set *>(s);
}

ch_status create(ch_instance_set *s, const ch_create_args *args, const ch_instance_sink *out,
                 ch_error *) {
    auto *set = reinterpret_cast<Set *>(s);
    auto vm = std::make_shared<Vm>();
    for (size_t i = 0; i < args->tags.count; ++i)
        vm->tags[str(args->tags.items[i].key)] = str(args->tags.items[i].value);
    if (vm->tags["fault"] == "loop")
        for (;;) // deliberately endless: the host's deadline must end it
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    vm->type = str(args->instance_type->provider_type);
    {
        std::lock_guard lock(set->mutex);
        vm->id = "h-" + std::to_string(++set->serial);
        set->vms[vm->id] = vm;
    }
    put(out, set, vm);
    return CH_OK;
}

ch_status instances(ch_instance_set *s, ch_tags filter, const ch_instance_sink *out,
                    ch_error *error) {
    auto *set = reinterpret_cast<Set *>(s);
    std::string fault;
    for (size_t i = 0; i < filter.count; ++i)
        if (str(filter.items[i].key) == "fault")
            fault = str(filter.items[i].value);
    if (fault == "segv") {
        volatile int *nowhere = nullptr;
        *nowhere = 1;
    } else if (fault == "throw") {
        throw std::runtime_error("thrown across the C ABI");
    } else if (fault == "stack") {
        recurse_ptr = recurse;
        return recurse(0) ? CH_OK : CH_ERR_GENERIC;
    } else if (fault == "flood") {
        for (int i = 0; i < 200000; ++i)
            log(set->logger, CH_LOG_INFO, "flood record " + std::to_string(i));
    } else if (fault == "garbage") {
        const std::string bad_utf8 = "bad\xff\xfe\x80utf8";
        const std::string huge(2u << 20, 'x');
        ch_instance_desc wrong{3, ch(bad_utf8), ch(bad_utf8), {nullptr, 0}};
        out->put(out->ctx, nullptr, &wrong);
        ch_instance_desc big{sizeof big, ch(huge), ch(bad_utf8), {nullptr, 0}};
        auto vm = std::make_shared<Vm>(Vm{huge, "t", {}});
        live_handles.fetch_add(1);
        out->put(out->ctx, reinterpret_cast<ch_instance *>(new Handle{vm, set}), &big);
        log(set->logger, CH_LOG_WARN, bad_utf8 + "\x1b[31m" + huge);
        fill(error, CH_ERR_GENERIC, "garbage handed over");
        return CH_ERR_GENERIC;
    } else if (fault == "sleep") {
        std::this_thread::sleep_for(std::chrono::seconds(10));
    } else if (fault == "fail_late") {
        for (int i = 0; i < 3000; ++i) {
            auto vm = std::make_shared<Vm>();
            vm->id = "late-" + std::to_string(i);
            vm->type = "small";
            for (int t = 0; t < 8; ++t)
                vm->tags["tag-key-" + std::to_string(t)] = "a tag value " + std::to_string(i);
            put(out, set, vm);
        }
        fill(error, CH_ERR_GENERIC, "failed after handing over 3000 instances");
        return CH_ERR_GENERIC;
    } else if (fault == "live") {
        fill(error, CH_ERR_GENERIC,
             ("live handles: " + std::to_string(live_handles.load())).c_str());
        return CH_ERR_GENERIC;
    }
    std::lock_guard lock(set->mutex);
    for (const auto &[id, vm] : set->vms)
        put(out, set, vm);
    return CH_OK;
}

void release(ch_instance *i) {
    live_handles.fetch_sub(1);
    delete reinterpret_cast<Handle *>(i);
}

ch_status tags(ch_instance *i, const ch_tags_sink *out, ch_error *) {
    auto *h = reinterpret_cast<Handle *>(i);
    std::lock_guard lock(h->set->mutex);
    for (const auto &[k, v] : h->vm->tags)
        out->put(out->ctx, ch(k), ch(v));
    return CH_OK;
}

ch_status set_tags(ch_instance *i, ch_tags t, ch_error *) {
    auto *h = reinterpret_cast<Handle *>(i);
    std::lock_guard lock(h->set->mutex);
    h->vm->tags.clear();
    for (size_t k = 0; k < t.count; ++k)
        h->vm->tags[str(t.items[k].key)] = str(t.items[k].value);
    return CH_OK;
}

ch_status destroy(ch_instance *i, ch_error *) {
    auto *h = reinterpret_cast<Handle *>(i);
    std::lock_guard lock(h->set->mutex);
    h->set->vms.erase(h->vm->id);
    return CH_OK;
}

ch_status address(ch_instance *, const ch_string_sink *out, ch_error *) {
    out->put(out->ctx, ch(std::string("127.0.0.1")));
    return CH_OK;
}

ch_status remote_user(ch_instance *, const ch_string_sink *out, ch_error *) {
    out->put(out->ctx, ch(std::string("root")));
    return CH_OK;
}

// Runs "echo" through the host's command runner: the answer must come back.
ch_status verify(ch_instance *, ch_str key, const ch_command_runner *runner, ch_error *error) {
    if (!runner) {
        fill(error, CH_ERR_NOT_IMPLEMENTED, "no runner");
        return CH_ERR_NOT_IMPLEMENTED;
    }
    std::string got;
    ch_string_sink sink{
        &got, [](void *ctx, ch_str v) { static_cast<std::string *>(ctx)->append(v.data, v.len); }};
    ch_string_sink ignore{nullptr, [](void *, ch_str) {}};
    int exit_status = -1;
    const auto status = runner->run(runner->ctx, ch(std::string("cat-host-key")), key, &sink,
                                    &ignore, &exit_status, error);
    if (status != CH_OK)
        return status;
    if (exit_status != 0 || got != str(key)) {
        fill(error, CH_ERR_GENERIC, "host key mismatch");
        return CH_ERR_GENERIC;
    }
    return CH_OK;
}

const ch_driver_v1 table = {
    sizeof(ch_driver_v1),
    set_new,
    set_stop,
    set_free,
    create,
    instances,
    nullptr,
    release,
    nullptr,
    tags,
    set_tags,
    destroy,
    address,
    remote_user,
    verify,
    nullptr,
};

} // namespace

CH_DRIVER_ENTRY(request, reply) {
    if (request->host_abi_min > 1 || request->host_abi_max < 1)
        return CH_ERR_ABI;
    reply->abi_version = 1;
    reply->table = &table;
    return CH_OK;
}
