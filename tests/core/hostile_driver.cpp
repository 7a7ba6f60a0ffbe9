// A raw C++ driver (no SDK guard) that breaks the host's trust on purpose,
// chosen by words in its config JSON:
//   "list:ok,dup,empty,ctrl,long,nullid,nodesc,utf8"  what instances hands over
//        also malformed structures: short (struct_size 8), nullptype (a NULL
//        provider type with a length), nulltags (NULL items, count 2),
//        manytags (count 2^30 over one real tag), nulltagkey
//   "create:one|none|two|badid"                        what create hands over
//   "throw:<slot>" with "kind:int" (else std::runtime_error)
//   "logthread"  a thread that logs until its set is freed, then waits for a
//                later set with "release_logthreads" and logs 50 more records
//                (the host closes a set's logger only after instance_set_free
//                returned: records in between are not "after free" to it)
// It holds an error-checking mutex across every sink->put; instance_release
// takes the same mutex, so a release from inside put is seen (EDEADLK) and
// counted. instance_quota_group answers "reentered=R released=N handed=H".
#include "cloudhost/driver.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace {

struct Set {
    std::string config;
    pthread_mutex_t lock;
    const ch_logger *logger = nullptr;
    std::atomic<bool> freed{false};
};

struct Inst {
    Set *set;
};

std::atomic<int> reentered{0}, released{0}, handed{0};
std::atomic<int> logthread_releases{0};

bool has(const Set *set, const std::string &word) {
    return set && set->config.find(word) != std::string::npos;
}

bool spawns_logthread(const Set *set) {
    return has(set, "logthread\"") || has(set, "logthread,");
}

void maybe_throw(const Set *set, const char *slot) {
    if (!has(set, std::string("throw:") + slot + "\""))
        return;
    if (has(set, "kind:int"))
        throw 42;
    throw std::runtime_error(std::string("hostile ") + slot);
}

ch_str str(const std::string &s) {
    return {s.data(), s.size()};
}
ch_str str(const char *s) {
    return {s, std::strlen(s)};
}

// Holds the set's lock across put, as example.c does.
// How a handed-over description is broken (the "list:" words after "nullid").
enum class Malformed {
    none,
    null_id,
    no_desc,
    short_struct,
    null_provider_type,
    null_tags,
    many_tags,
    null_tag_key
};

void put_locked(Set *set, const ch_instance_sink *out, const std::string &id,
                Malformed kind = Malformed::none) {
    auto *inst = new Inst{set};
    ++handed;
    const char *parity = handed % 2 ? "odd" : "even";
    const ch_tag tag{str("parity"), str(parity)};
    ch_instance_desc desc{};
    desc.struct_size = sizeof desc;
    desc.id = str(id);
    desc.provider_type = str("t1");
    desc.tags = {&tag, 1};
    static const ch_tag null_key{{nullptr, 4}, str("v")};
    switch (kind) {
    case Malformed::null_id:
        desc.id = {nullptr, 5};
        break;
    case Malformed::short_struct:
        desc.struct_size = 8; // not even the id
        break;
    case Malformed::null_provider_type:
        desc.provider_type = {nullptr, 3};
        break;
    case Malformed::null_tags:
        desc.tags = {nullptr, 2};
        break;
    case Malformed::many_tags:
        desc.tags = {&tag, size_t{1} << 30}; // reading past one would crash
        break;
    case Malformed::null_tag_key:
        desc.tags = {&null_key, 1};
        break;
    default:
        break;
    }
    pthread_mutex_lock(&set->lock);
    out->put(out->ctx, reinterpret_cast<ch_instance *>(inst),
             kind == Malformed::no_desc ? nullptr : &desc);
    pthread_mutex_unlock(&set->lock);
}

ch_status set_new(const ch_instance_set_args *args, ch_instance_set **out, ch_error *) {
    auto *set = new Set;
    set->config.assign(args->config_json.data, args->config_json.len);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&set->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    set->logger = args->logger;
    if (has(set, "throw:instance_set_new\"")) {
        const bool as_int = has(set, "kind:int");
        pthread_mutex_destroy(&set->lock);
        delete set;
        if (as_int)
            throw 42;
        throw std::runtime_error("hostile instance_set_new");
    }
    if (has(set, "release_logthreads"))
        ++logthread_releases;
    if (spawns_logthread(set)) {
        // Deliberately never joined: keeps logging after instance_set_free.
        const ch_logger logger = *set->logger;
        const ch_logger *stored = set->logger;
        std::atomic<bool> *freed = &set->freed;
        const int releases_at_start = logthread_releases.load();
        std::thread([logger, stored, freed, releases_at_start] {
            const ch_str msg{"tick", 4};
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while ((!freed->load() || logthread_releases.load() == releases_at_start) &&
                   std::chrono::steady_clock::now() < give_up) {
                stored->log(logger.ctx, CH_LOG_INFO, msg, nullptr, 0);
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
            for (int after = 0; after < 50; ++after)
                stored->log(logger.ctx, CH_LOG_INFO, msg, nullptr, 0);
        }).detach();
    }
    *out = reinterpret_cast<ch_instance_set *>(set);
    return CH_OK;
}

Set *of(ch_instance_set *s) {
    return reinterpret_cast<Set *>(s);
}
Inst *of(ch_instance *i) {
    return reinterpret_cast<Inst *>(i);
}

void set_stop(ch_instance_set *s) {
    maybe_throw(of(s), "instance_set_stop");
}

void set_free(ch_instance_set *s) {
    Set *set = of(s);
    const bool keep = spawns_logthread(set); // the thread still reads `freed`
    set->freed = true;
    const bool do_throw = has(set, "throw:instance_set_free\"");
    const bool as_int = has(set, "kind:int");
    if (!keep) {
        pthread_mutex_destroy(&set->lock);
        delete set;
    }
    if (do_throw) {
        if (as_int)
            throw 42;
        throw std::runtime_error("hostile instance_set_free");
    }
}

ch_status create(ch_instance_set *s, const ch_create_args *, const ch_instance_sink *out,
                 ch_error *) {
    Set *set = of(s);
    maybe_throw(set, "create");
    const int n = has(set, "create:none") ? 0 : has(set, "create:two") ? 2 : 1;
    for (int i = 0; i < n; ++i)
        put_locked(set, out, has(set, "create:badid") ? "" : "i-created-" + std::to_string(i));
    return CH_OK;
}

ch_status instances(ch_instance_set *s, ch_tags, const ch_instance_sink *out, ch_error *) {
    Set *set = of(s);
    maybe_throw(set, "instances");
    const auto at = set->config.find("list:");
    if (at == std::string::npos)
        return CH_OK;
    const std::string list = set->config.substr(at + 5, set->config.find('"', at) - at - 5);
    std::string previous = "i-0";
    int n = 0;
    for (std::size_t pos = 0; pos <= list.size();) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        const std::string word = list.substr(pos, comma - pos);
        pos = comma + 1;
        std::string id = "i-" + std::to_string(++n);
        static const std::pair<const char *, Malformed> malformed[] = {
            {"nullid", Malformed::null_id},          {"nodesc", Malformed::no_desc},
            {"short", Malformed::short_struct},      {"nullptype", Malformed::null_provider_type},
            {"nulltags", Malformed::null_tags},      {"manytags", Malformed::many_tags},
            {"nulltagkey", Malformed::null_tag_key},
        };
        Malformed kind = Malformed::none;
        for (const auto &[name, how] : malformed)
            if (word == name)
                kind = how;
        if (word == "dup")
            id = previous;
        else if (word == "empty")
            id.clear();
        else if (word == "ctrl")
            id = "bad\x01id";
        else if (word == "long")
            id.assign(300, 'a');
        else if (word == "utf8")
            id = "bad\xff";
        put_locked(set, out, id, kind);
        previous = id;
    }
    return CH_OK;
}

ch_status quota_group(ch_instance_set *s, const ch_instance_type *, const ch_string_sink *out,
                      ch_error *) {
    maybe_throw(of(s), "instance_quota_group");
    const std::string answer = "reentered=" + std::to_string(reentered.load()) +
                               " released=" + std::to_string(released.load()) +
                               " handed=" + std::to_string(handed.load());
    out->put(out->ctx, str(answer));
    return CH_OK;
}

void release(ch_instance *i) {
    Inst *inst = of(i);
    Set *set = inst->set;
    if (pthread_mutex_lock(&set->lock) == EDEADLK) {
        ++reentered; // called from inside our own put
    } else {
        pthread_mutex_unlock(&set->lock);
    }
    ++released;
    const bool do_throw = has(set, "throw:instance_release\"");
    const bool as_int = has(set, "kind:int");
    delete inst;
    if (do_throw) {
        if (as_int)
            throw 42;
        throw std::runtime_error("hostile instance_release");
    }
}

ch_status answer(ch_instance *i, const char *slot, const ch_string_sink *out) {
    maybe_throw(of(i)->set, slot);
    if (out)
        out->put(out->ctx, str("x"));
    return CH_OK;
}

ch_status string_(ch_instance *i, const ch_string_sink *out, ch_error *) {
    return answer(i, "instance_string", out);
}
ch_status tags(ch_instance *i, const ch_tags_sink *, ch_error *) {
    return answer(i, "instance_tags", nullptr);
}
ch_status set_tags(ch_instance *i, ch_tags, ch_error *) {
    return answer(i, "instance_set_tags", nullptr);
}
ch_status destroy(ch_instance *i, ch_error *) {
    return answer(i, "instance_destroy", nullptr);
}
ch_status address(ch_instance *i, const ch_string_sink *out, ch_error *) {
    return answer(i, "instance_address", out);
}
ch_status remote_user(ch_instance *i, const ch_string_sink *out, ch_error *) {
    return answer(i, "instance_remote_user", out);
}
ch_status verify(ch_instance *i, ch_str, const ch_command_runner *, ch_error *) {
    return answer(i, "instance_verify_host_key", nullptr);
}
ch_status prices(ch_instance *i, const ch_instance_type *, const ch_price_sink *, ch_error *) {
    return answer(i, "instance_price_history", nullptr);
}

const ch_driver_v1 table = {sizeof(ch_driver_v1),
                            set_new,
                            set_stop,
                            set_free,
                            create,
                            instances,
                            quota_group,
                            release,
                            string_,
                            tags,
                            set_tags,
                            destroy,
                            address,
                            remote_user,
                            verify,
                            prices};

} // namespace

CH_DRIVER_DEFINE_INFO("hostile", "1.0.0", 1, 1, "Breaks the rules on purpose (tests)");

CH_DRIVER_ENTRY(request, reply) {
    (void)request;
    reply->abi_version = 1;
#ifdef HOSTILE_NULL_TABLE
    reply->table = nullptr;
    (void)table; // the same sources, built to answer no table
#else
    reply->table = &table;
#endif
    return CH_OK;
}
