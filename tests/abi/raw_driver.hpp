// Test helpers for driving a driver's raw C function table (no host
// wrappers): sinks that copy into std containers, a capturing logger, and an
// RAII instance set.
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/driver_library.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace abi_test {

using Tags = std::map<std::string, std::string>;

inline std::string to_string(ch_str s) {
    return s.len ? std::string(s.data, s.len) : std::string();
}
inline ch_str to_ch(const std::string &s) {
    return {s.data(), s.size()};
}

// build/plugins/<name>/<name>.so of the build under test.
inline std::filesystem::path built_driver(const std::string &name) {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE_MESSAGE(root != nullptr, "CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    return std::filesystem::path(root) / "plugins" / name / (name + ".so");
}

inline std::shared_ptr<cloudhost::DriverLibrary> open_driver(const std::string &name) {
    cloudhost::DriverInfo info;
    info.name = name;
    info.version = "1.0.0";
    info.abi_min = 1;
    info.abi_max = 1;
    return cloudhost::DriverLibrary::open(built_driver(name), info);
}

struct CallError {
    ch_error e{};
    CallError() { e.struct_size = sizeof e; }
    std::string message() const { return e.message; }
};

// A ch_tags view over a std::map; valid while this object lives.
class TagsArg {
  public:
    explicit TagsArg(const Tags &tags) : tags_(tags) {
        for (const auto &[k, v] : tags_)
            items_.push_back({to_ch(k), to_ch(v)});
    }
    ch_tags get() const { return {items_.data(), items_.size()}; }

  private:
    Tags tags_;
    std::vector<ch_tag> items_;
};

// A ch_instance_type with its strings kept alive.
class TypeArg {
  public:
    TypeArg(std::string provider_type, double price, bool preemptible = false)
        : name_("type-" + provider_type), provider_type_(std::move(provider_type)) {
        type_.struct_size = sizeof type_;
        type_.name = to_ch(name_);
        type_.provider_type = to_ch(provider_type_);
        type_.vcpus = 2;
        type_.ram = 4ull << 30;
        type_.price = price;
        type_.preemptible = preemptible ? 1 : 0;
    }
    const ch_instance_type *get() const { return &type_; }

  private:
    std::string name_;
    std::string provider_type_;
    ch_instance_type type_{};
};

// What a ch_instance_sink received: the handle (one reference) and a copy
// of the description.
struct HandedOver {
    ch_instance *handle = nullptr;
    std::string id;
    std::string provider_type;
    Tags tags;
};

struct InstanceCollector {
    std::vector<HandedOver> items;
    ch_instance_sink sink{this, &put};

    static void put(void *ctx, ch_instance *instance, const ch_instance_desc *desc) {
        HandedOver h;
        h.handle = instance;
        h.id = to_string(desc->id);
        h.provider_type = to_string(desc->provider_type);
        for (size_t i = 0; i < desc->tags.count; ++i)
            h.tags[to_string(desc->tags.items[i].key)] = to_string(desc->tags.items[i].value);
        static_cast<InstanceCollector *>(ctx)->items.push_back(std::move(h));
    }
};

struct StringCollector {
    std::string value;
    int calls = 0;
    ch_string_sink sink{this, &put};
    static void put(void *ctx, ch_str s) {
        auto *self = static_cast<StringCollector *>(ctx);
        self->value = to_string(s);
        ++self->calls;
    }
};

struct TagsCollector {
    Tags tags;
    ch_tags_sink sink{this, &put};
    static void put(void *ctx, ch_str k, ch_str v) {
        static_cast<TagsCollector *>(ctx)->tags[to_string(k)] = to_string(v);
    }
};

struct PriceCollector {
    std::vector<std::pair<int64_t, double>> points;
    ch_price_sink sink{this, &put};
    static void put(void *ctx, int64_t start_ns, double price) {
        static_cast<PriceCollector *>(ctx)->points.emplace_back(start_ns, price);
    }
};

// A host logger that records everything at or above `min_level` and
// counts how often the driver asked `enabled`.
class CapturingLogger {
  public:
    struct Record {
        int level;
        std::string message;
        Tags fields;
    };

    explicit CapturingLogger(int min_level = CH_LOG_TRACE) : min_level_(min_level) {
        logger_.struct_size = sizeof logger_;
        logger_.ctx = this;
        logger_.enabled = &enabled;
        logger_.log = &log;
    }
    CapturingLogger(const CapturingLogger &) = delete;
    CapturingLogger &operator=(const CapturingLogger &) = delete;

    const ch_logger *get() const { return &logger_; }

    std::vector<Record> records() const {
        std::lock_guard lock(mutex_);
        return records_;
    }
    // Records with this message whose field `key` equals `value`.
    std::size_t count(const std::string &message, const std::string &key,
                      const std::string &value) const {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto &r : records_)
            if (r.message == message && r.fields.count(key) && r.fields.at(key) == value)
                ++n;
        return n;
    }
    int dropped_level_logs() const {
        std::lock_guard lock(mutex_);
        return dropped_level_logs_;
    }

  private:
    static int enabled(void *ctx, int level) {
        return level >= static_cast<CapturingLogger *>(ctx)->min_level_ ? 1 : 0;
    }
    static void log(void *ctx, int level, ch_str message, const ch_log_field *fields,
                    size_t count) {
        auto *self = static_cast<CapturingLogger *>(ctx);
        Record r{level, to_string(message), {}};
        for (size_t i = 0; i < count; ++i)
            r.fields[to_string(fields[i].key)] = to_string(fields[i].value);
        std::lock_guard lock(self->mutex_);
        if (level < self->min_level_)
            ++self->dropped_level_logs_; // the driver logged without asking
        self->records_.push_back(std::move(r));
    }

    int min_level_;
    ch_logger logger_{};
    mutable std::mutex mutex_;
    std::vector<Record> records_;
    int dropped_level_logs_ = 0;
};

// An instance set made through the raw table; stopped and freed on scope
// exit. Release every handle first (the ABI's rule 4).
class RawSet {
  public:
    RawSet(const ch_driver_v1 &table, const std::string &config, const ch_logger *logger,
           const std::string &set_id = "zzzzz-zzzzz-abcdefghijklmno")
        : table_(table), config_(config), set_id_(set_id) {
        ch_instance_set_args args{};
        args.struct_size = sizeof args;
        args.config_json = to_ch(config_);
        args.instance_set_id = to_ch(set_id_);
        args.logger = logger;
        status_ = table_.instance_set_new(&args, &set_, &error_.e);
    }
    ~RawSet() {
        if (set_) {
            if (table_.instance_set_stop)
                table_.instance_set_stop(set_);
            table_.instance_set_free(set_);
        }
    }
    RawSet(const RawSet &) = delete;
    RawSet &operator=(const RawSet &) = delete;

    ch_status status() const { return status_; }
    const CallError &error() const { return error_; }
    ch_instance_set *get() const { return set_; }

    // Create; on success the handle is appended to `out`.
    ch_status create(const TypeArg &type, const Tags &tags, InstanceCollector &out,
                     CallError &error) const {
        TagsArg tag_arg(tags);
        const std::string image = "image-1";
        ch_create_args args{};
        args.struct_size = sizeof args;
        args.instance_type = type.get();
        args.image_id = to_ch(image);
        args.tags = tag_arg.get();
        return table_.create(set_, &args, &out.sink, &error.e);
    }
    ch_status instances(const Tags &filter, InstanceCollector &out, CallError &error) const {
        TagsArg filter_arg(filter);
        return table_.instances(set_, filter_arg.get(), &out.sink, &error.e);
    }

  private:
    const ch_driver_v1 &table_;
    std::string config_;
    std::string set_id_;
    ch_instance_set *set_ = nullptr;
    ch_status status_ = CH_ERR_GENERIC;
    CallError error_;
};

inline void release_all(const ch_driver_v1 &table, InstanceCollector &collected) {
    for (auto &h : collected.items)
        table.instance_release(h.handle);
    collected.items.clear();
}

} // namespace abi_test
