/* Functions compiled as strict C99 in header_c99.c, called by the C++ test. */
#ifndef ABI_TEST_HEADER_C99_H
#define ABI_TEST_HEADER_C99_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct abi_c99_layout_t {
    size_t driver_info_size;
    size_t error_size;
    size_t error_message_offset;
    size_t instance_type_size;
    size_t instance_type_gpu_vram_offset;
    size_t driver_v1_size;
    size_t driver_v1_price_history_offset;
    size_t create_args_size;
    size_t instance_set_args_size;
    size_t entry_reply_size;
} abi_c99_layout_t;

/* C's sizes and offsets of the ABI structs. */
void abi_c99_layout(abi_c99_layout_t *out);
/* ch_negotiate against a driver serving [1, 2]; returns the ch_status. */
int abi_c99_negotiate(uint32_t host_min, uint32_t host_max, uint32_t *chosen, int *table_tag);
/* ch_error_set(CH_ERR_QUOTA, ...) on an error of `struct_size` bytes;
 * returns status * 100 + the status written into the error. */
int abi_c99_error_set(uint32_t struct_size, char *message_out, size_t message_size);
int abi_c99_str_equal(const char *data, size_t len, const char *cstr);

#ifdef __cplusplus
}
#endif

#endif
