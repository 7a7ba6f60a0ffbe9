#include "protocol.hpp"

#include "core/abi_errors.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/errors.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

namespace cloudhost::isolation {

const char *op_name(Op op) noexcept {
    switch (op) {
    case Op::open:
        return "InstanceSet open";
    case Op::create:
        return "Create";
    case Op::instances:
        return "Instances";
    case Op::quota_group:
        return "InstanceQuotaGroup";
    case Op::stop:
        return "Stop";
    case Op::release:
        return "release";
    case Op::string:
        return "String";
    case Op::tags:
        return "Tags";
    case Op::set_tags:
        return "SetTags";
    case Op::destroy:
        return "Destroy";
    case Op::address:
        return "Address";
    case Op::remote_user:
        return "RemoteUser";
    case Op::verify_host_key:
        return "VerifyHostKey";
    case Op::price_history:
        return "PriceHistory";
    case Op::set_log_level:
        return "set log level";
    case Op::metrics:
        return "Metrics";
    }
    return "unknown operation";
}

WireError wire_error_from_current_exception() noexcept {
    WireError out;
    try {
        try {
            throw;
        } catch (const RateLimitError &e) {
            out.status = CH_ERR_RATE_LIMIT;
            out.retry_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               e.earliest_retry().time_since_epoch())
                               .count();
            out.message = e.what();
        } catch (const CapacityError &e) {
            out.status = CH_ERR_CAPACITY;
            if (e.is_quota_error())
                out.flags |= CH_ERROR_FLAG_QUOTA;
            if (e.scope() == CapacityError::Scope::instance_type)
                out.flags |= CH_ERROR_FLAG_CAPACITY_INSTANCE_TYPE;
            if (e.scope() == CapacityError::Scope::quota_group)
                out.flags |= CH_ERROR_FLAG_CAPACITY_QUOTA_GROUP;
            out.message = e.what();
        } catch (const QuotaError &e) {
            out.status = CH_ERR_QUOTA;
            out.message = e.what();
        } catch (const NotImplementedError &e) {
            out.status = CH_ERR_NOT_IMPLEMENTED;
            out.message = e.what();
        } catch (const InvalidConfigError &e) {
            out.status = CH_ERR_INVALID_CONFIG;
            out.message = e.what();
        } catch (const DriverError &e) {
            out.status = CH_ERR_GENERIC;
            if (e.is_quota_error())
                out.flags |= CH_ERROR_FLAG_QUOTA;
            out.message = e.what();
        } catch (const std::exception &e) {
            out.message = e.what();
        } catch (...) {
            out.message = "unknown exception";
        }
    } catch (...) { // copying the message failed
        out.message.clear();
    }
    return out;
}

void throw_wire_error(const WireError &error, std::string_view operation) {
    // One mapping from status + fields to exceptions: abi_errors.cpp's.
    ch_error e{};
    e.struct_size = sizeof e;
    e.status = static_cast<std::int32_t>(error.status);
    e.earliest_retry_unix_ns = error.retry_ns;
    e.flags = static_cast<std::uint32_t>(error.flags);
    const auto n = std::min(error.message.size(), sizeof e.message - 1);
    std::memcpy(e.message, error.message.data(), n);
    const auto status = error.status >= 0 && error.status <= CH_ERR_ABI
                            ? static_cast<ch_status>(error.status)
                            : CH_ERR_GENERIC;
    detail::throw_driver_error(status == CH_OK ? CH_ERR_GENERIC : status, e, operation);
}

void write_error(Writer &w, const WireError &error) {
    w.i64(error.status).i64(error.retry_ns).u64(error.flags).str(error.message);
}

WireError read_error(const Value &message, std::size_t first) {
    WireError e;
    e.status = message.at(first, "error status").i64();
    e.retry_ns = message.at(first + 1, "error earliest_retry").i64();
    e.flags = message.at(first + 2, "error flags").u64();
    e.message = message.at(first + 3, "error message").str();
    return e;
}

void write_tags(Writer &w, const Tags &tags) {
    w.map(tags.size());
    for (const auto &[k, v] : tags)
        w.str(k).str(v);
}

Tags read_tags(const Value &v) {
    Tags tags;
    const auto n = v.map_size();
    for (std::size_t i = 0; i < n; ++i) {
        auto [it, fresh] = tags.emplace(v.key(i), v.value(i, "tag value").str());
        if (!fresh)
            throw ProtocolError("tags: duplicate key");
    }
    return tags;
}

void read_tag_views(const Value &v,
                    std::vector<std::pair<std::string_view, std::string_view>> &out) {
    out.clear();
    const auto n = v.map_size();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        out.emplace_back(v.key(i), v.value(i, "tag value").str());
}

void write_instance_type(Writer &w, const InstanceType &t) {
    w.array(15)
        .str(t.name)
        .str(t.provider_type)
        .u64(t.vcpus)
        .u64(t.ram)
        .u64(t.scratch)
        .u64(t.included_scratch)
        .u64(t.added_scratch)
        .f64(t.price)
        .boolean(t.preemptible)
        .str(t.gpu_stack)
        .str(t.gpu_driver_version)
        .str(t.gpu_hardware_target)
        .u64(t.gpu_device_count)
        .u64(t.gpu_vram)
        .nil(); // reserved
}

InstanceType read_instance_type(const Value &v) {
    InstanceType t;
    t.name = v.at(0, "type name").str();
    t.provider_type = v.at(1, "type provider_type").str();
    const auto vcpus = v.at(2, "type vcpus").u64();
    if (vcpus > UINT32_MAX)
        throw ProtocolError("type vcpus: out of range");
    t.vcpus = static_cast<std::uint32_t>(vcpus);
    t.ram = v.at(3, "type ram").u64();
    t.scratch = v.at(4, "type scratch").u64();
    t.included_scratch = v.at(5, "type included_scratch").u64();
    t.added_scratch = v.at(6, "type added_scratch").u64();
    t.price = v.at(7, "type price").f64();
    t.preemptible = v.at(8, "type preemptible").boolean();
    t.gpu_stack = v.at(9, "type gpu_stack").str();
    t.gpu_driver_version = v.at(10, "type gpu_driver_version").str();
    t.gpu_hardware_target = v.at(11, "type gpu_hardware_target").str();
    const auto gpus = v.at(12, "type gpu_device_count").u64();
    if (gpus > UINT32_MAX)
        throw ProtocolError("type gpu_device_count: out of range");
    t.gpu_device_count = static_cast<std::uint32_t>(gpus);
    t.gpu_vram = v.at(13, "type gpu_vram").u64();
    return t;
}

void write_metrics_snapshot(Writer &w, const std::vector<detail::FamilySnapshot> &families) {
    w.array(families.size());
    for (const auto &family : families) {
        w.array(6)
            .u64(static_cast<std::uint64_t>(family.kind))
            .str(family.name)
            .str(family.help)
            .array(family.label_names.size());
        for (const auto &name : family.label_names)
            w.str(name);
        w.array(family.bounds.size());
        for (const double bound : family.bounds)
            w.f64(bound);
        w.array(family.series.size());
        for (const auto &series : family.series) {
            w.array(3).array(series.label_values.size());
            for (const auto &value : series.label_values)
                w.str(value);
            w.f64(series.value).array(series.buckets.size());
            for (const auto count : series.buckets)
                w.u64(count);
        }
    }
}

std::vector<detail::FamilySnapshot> read_metrics_snapshot(const Value &v) {
    // Sizes are bounded by the frame limit; names and values are checked by
    // apply_snapshot against the registry's rules.
    std::vector<detail::FamilySnapshot> families;
    const auto n = v.size();
    for (std::size_t i = 0; i < n; ++i) {
        const auto f = v.at(i, "metric family");
        detail::FamilySnapshot family;
        const auto kind = f.at(0, "metric kind").u64();
        if (kind > static_cast<std::uint64_t>(MetricKind::histogram))
            throw ProtocolError("metric kind: out of range");
        family.kind = static_cast<MetricKind>(kind);
        family.name = f.at(1, "metric name").str();
        family.help = f.at(2, "metric help").str();
        const auto labels = f.at(3, "metric label names");
        for (std::size_t j = 0; j < labels.size(); ++j)
            family.label_names.emplace_back(labels.at(j, "metric label name").str());
        const auto bounds = f.at(4, "metric buckets");
        for (std::size_t j = 0; j < bounds.size(); ++j)
            family.bounds.push_back(bounds.at(j, "metric bucket").f64());
        const auto series_list = f.at(5, "metric series");
        for (std::size_t j = 0; j < series_list.size(); ++j) {
            const auto s = series_list.at(j, "metric series");
            detail::SeriesSnapshot series;
            const auto values = s.at(0, "series label values");
            for (std::size_t k = 0; k < values.size(); ++k)
                series.label_values.emplace_back(values.at(k, "series label value").str());
            series.value = s.at(1, "series value").f64();
            const auto buckets = s.at(2, "series buckets");
            for (std::size_t k = 0; k < buckets.size(); ++k)
                series.buckets.push_back(buckets.at(k, "series bucket").u64());
            family.series.push_back(std::move(series));
        }
        families.push_back(std::move(family));
    }
    return families;
}

} // namespace cloudhost::isolation
