/*
 * Compiled as strict C99 (-std=c99 -pedantic-errors -Wall -Wextra -Werror):
 * proves driver.h and driver_helpers.h are plain C99, that their include
 * guards work, and that ch_driver_info has the padding-free layout the host
 * reads byte for byte out of the ELF file. The functions below let the C++
 * test compare C's view of the layout with C++'s and exercise the helpers
 * from C.
 */
#include "cloudhost/driver.h"
#include "cloudhost/driver.h" /* twice: include guards */
#include "cloudhost/driver_helpers.h"

#include "header_c99.h"

/* C99 has no _Static_assert: a negative array size fails to compile. */
#define ABI_STATIC_ASSERT(cond, name) typedef char abi_static_assert_##name[(cond) ? 1 : -1]

ABI_STATIC_ASSERT(offsetof(ch_driver_info, magic) == 0, magic_offset);
ABI_STATIC_ASSERT(offsetof(ch_driver_info, struct_size) == 4, struct_size_offset);
ABI_STATIC_ASSERT(offsetof(ch_driver_info, abi_min) == 8, abi_min_offset);
ABI_STATIC_ASSERT(offsetof(ch_driver_info, abi_max) == 12, abi_max_offset);
ABI_STATIC_ASSERT(offsetof(ch_driver_info, name) == 16, name_offset);
ABI_STATIC_ASSERT(offsetof(ch_driver_info, version) == 16 + CH_DRIVER_NAME_MAX, version_offset);
ABI_STATIC_ASSERT(offsetof(ch_driver_info, description) ==
                      16 + CH_DRIVER_NAME_MAX + CH_DRIVER_VERSION_MAX,
                  description_offset);
/* No trailing padding either: the size is the sum of the members. */
ABI_STATIC_ASSERT(sizeof(ch_driver_info) ==
                      16 + CH_DRIVER_NAME_MAX + CH_DRIVER_VERSION_MAX + CH_DRIVER_DESCRIPTION_MAX,
                  info_size);
/* Every struct starts with its size. */
ABI_STATIC_ASSERT(offsetof(ch_error, struct_size) == 0, error_size_first);
ABI_STATIC_ASSERT(offsetof(ch_driver_v1, struct_size) == 0, table_size_first);
ABI_STATIC_ASSERT(offsetof(ch_instance_type, struct_size) == 0, type_size_first);

void abi_c99_layout(abi_c99_layout_t *out) {
    out->driver_info_size = sizeof(ch_driver_info);
    out->error_size = sizeof(ch_error);
    out->error_message_offset = offsetof(ch_error, message);
    out->instance_type_size = sizeof(ch_instance_type);
    out->instance_type_gpu_vram_offset = offsetof(ch_instance_type, gpu_vram);
    out->driver_v1_size = sizeof(ch_driver_v1);
    out->driver_v1_price_history_offset = offsetof(ch_driver_v1, instance_price_history);
    out->create_args_size = sizeof(ch_create_args);
    out->instance_set_args_size = sizeof(ch_instance_set_args);
    out->entry_reply_size = sizeof(ch_entry_reply);
}

/* ch_negotiate for a driver serving versions [1, 2] with distinct tables. */
static const int table_v1 = 1;
static const int table_v2 = 2;

int abi_c99_negotiate(uint32_t host_min, uint32_t host_max, uint32_t *chosen, int *table_tag) {
    static const void *const tables[] = {&table_v1, &table_v2};
    ch_entry_request request;
    ch_entry_reply reply;
    ch_status status;
    request.struct_size = (uint32_t)sizeof request;
    request.host_abi_min = host_min;
    request.host_abi_max = host_max;
    reply.struct_size = (uint32_t)sizeof reply;
    reply.abi_version = 0;
    reply.table = NULL;
    status = ch_negotiate(&request, &reply, 1u, 2u, tables);
    *chosen = reply.abi_version;
    *table_tag = reply.table ? *(const int *)reply.table : 0;
    return (int)status;
}

int abi_c99_error_set(uint32_t struct_size, char *message_out, size_t message_size) {
    ch_error error;
    ch_status status;
    memset(&error, 0, sizeof error);
    error.struct_size = struct_size;
    status = ch_error_set(&error, CH_ERR_QUOTA, "quota %d of %s", 3, "five");
    strncpy(message_out, error.message, message_size - 1);
    message_out[message_size - 1] = '\0';
    return (int)status * 100 + (int)error.status; /* both, to check what was written */
}

int abi_c99_str_equal(const char *data, size_t len, const char *cstr) {
    ch_str s;
    s.data = data;
    s.len = len;
    return ch_str_equal_cstr(s, cstr);
}
