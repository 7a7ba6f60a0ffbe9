// Views of host values as the borrowed structs of the C ABI (driver.h rule 1:
// the driver only borrows them for the duration of one call).
#pragma once

#include "cloudhost/driver.h"
#include "cloudhost/types.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace cloudhost::detail {

inline ch_str to_ch_str(std::string_view s) noexcept {
    return {s.data(), s.size()};
}
inline std::string_view to_view(ch_str s) noexcept {
    return s.len ? std::string_view(s.data, s.len) : std::string_view();
}

// Borrowed ch_tags over a Tags map; the map must outlive the view.
class TagsView {
  public:
    explicit TagsView(const Tags &tags) {
        items_.reserve(tags.size());
        for (const auto &[key, value] : tags)
            items_.push_back({to_ch_str(key), to_ch_str(value)});
    }
    ch_tags get() const noexcept { return {items_.data(), items_.size()}; }

  private:
    std::vector<ch_tag> items_;
};

// Borrowed ch_instance_type over an InstanceType. Arvados defaults the
// provider type to the name; the host does the same at the boundary.
class InstanceTypeView {
  public:
    explicit InstanceTypeView(const InstanceType &type) noexcept {
        c_.struct_size = sizeof c_;
        c_.vcpus = type.vcpus;
        c_.name = to_ch_str(type.name);
        c_.provider_type = to_ch_str(type.provider_type.empty() ? type.name : type.provider_type);
        c_.ram = type.ram;
        c_.scratch = type.scratch;
        c_.included_scratch = type.included_scratch;
        c_.added_scratch = type.added_scratch;
        c_.price = type.price;
        c_.preemptible = type.preemptible ? 1u : 0u;
        c_.gpu_device_count = type.gpu_device_count;
        c_.gpu_stack = to_ch_str(type.gpu_stack);
        c_.gpu_driver_version = to_ch_str(type.gpu_driver_version);
        c_.gpu_hardware_target = to_ch_str(type.gpu_hardware_target);
        c_.gpu_vram = type.gpu_vram;
    }
    const ch_instance_type *get() const noexcept { return &c_; }

  private:
    ch_instance_type c_{};
};

// A host-allocated ch_error (rule 3). Only the header and the first message
// byte are cleared: zeroing the whole 1 KiB record would dominate cheap calls.
struct ErrorRecord {
    ch_error c;
    ErrorRecord() noexcept {
        c.struct_size = sizeof c;
        c.status = CH_OK;
        c.earliest_retry_unix_ns = 0;
        c.flags = 0;
        c.reserved = 0;
        c.message[0] = '\0';
    }
    ch_error *get() noexcept { return &c; }
};

// Sinks that copy what the driver hands back (rule 2). Callbacks are
// noexcept: an exception must never unwind through driver frames.
// Writes into the caller's string, so a wrapper can return it without a
// move (NRVO): the cheapest Instance calls are measured against a virtual call.
struct StringResult {
    std::string &value;
    bool failed = false;
    explicit StringResult(std::string &target) noexcept : value(target) {}
    ch_string_sink sink() noexcept { return {this, &put}; }
    static void put(void *ctx, ch_str s) noexcept {
        auto *self = static_cast<StringResult *>(ctx);
        try {
            self->value.assign(s.data, s.len);
        } catch (...) {
            self->failed = true;
        }
    }
};

struct TagsResult {
    Tags value;
    bool failed = false;
    ch_tags_sink sink() noexcept { return {this, &put}; }
    static void put(void *ctx, ch_str key, ch_str value) noexcept {
        auto *self = static_cast<TagsResult *>(ctx);
        try {
            self->value.insert_or_assign(std::string(to_view(key)), std::string(to_view(value)));
        } catch (...) {
            self->failed = true;
        }
    }
};

} // namespace cloudhost::detail
