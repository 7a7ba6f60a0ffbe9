/*
 * Small C99 helpers for drivers written in C. Header-only, no allocation.
 */
#ifndef CLOUDHOST_DRIVER_HELPERS_H
#define CLOUDHOST_DRIVER_HELPERS_H

#include "cloudhost/driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline ch_str ch_str_from_cstr(const char *s) {
    ch_str out;
    out.data = s;
    out.len = s ? strlen(s) : 0;
    return out;
}

static inline int ch_str_equal_cstr(ch_str a, const char *b) {
    size_t n = strlen(b);
    return a.len == n && (n == 0 || memcmp(a.data, b, n) == 0);
}

/* Fills `error` (within its struct_size) and returns `status`. */
static inline ch_status ch_error_set(ch_error *error, ch_status status, const char *format, ...) {
    if (error && CH_HAS_MEMBER(error, ch_error, message)) {
        va_list ap;
        error->status = (int32_t)status;
        error->flags = 0;
        error->earliest_retry_unix_ns = 0;
        va_start(ap, format);
        vsnprintf(error->message, sizeof error->message, format, ap);
        va_end(ap);
    }
    return status;
}

/* Implements the entry negotiation for a driver serving [min, max] with one
 * table per version. `tables[v - min]` is the table for version v. */
static inline ch_status ch_negotiate(const ch_entry_request *request, ch_entry_reply *reply,
                                     uint32_t min, uint32_t max, const void *const *tables) {
    uint32_t lo, hi;
    if (!request || !reply || request->struct_size < sizeof(ch_entry_request) ||
        reply->struct_size < sizeof(ch_entry_reply))
        return CH_ERR_ABI;
    lo = request->host_abi_min > min ? request->host_abi_min : min;
    hi = request->host_abi_max < max ? request->host_abi_max : max;
    if (lo > hi)
        return CH_ERR_ABI;
    reply->abi_version = hi;
    reply->table = tables[hi - min];
    return CH_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* CLOUDHOST_DRIVER_HELPERS_H */
