// The ABI header as seen from C (header_c99.c, strict C99) and from C++.
#include "header_c99.h"

#include "cloudhost/driver.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

TEST_CASE("C and C++ agree on every ABI struct layout") {
    abi_c99_layout_t c{};
    abi_c99_layout(&c);
    CHECK(c.driver_info_size == sizeof(ch_driver_info));
    CHECK(c.driver_info_size == 272);
    CHECK(c.error_size == sizeof(ch_error));
    CHECK(c.error_message_offset == offsetof(ch_error, message));
    CHECK(c.instance_type_size == sizeof(ch_instance_type));
    CHECK(c.instance_type_gpu_vram_offset == offsetof(ch_instance_type, gpu_vram));
    CHECK(c.driver_v1_size == sizeof(ch_driver_v1));
    CHECK(c.driver_v1_price_history_offset == offsetof(ch_driver_v1, instance_price_history));
    CHECK(c.create_args_size == sizeof(ch_create_args));
    CHECK(c.instance_set_args_size == sizeof(ch_instance_set_args));
    CHECK(c.entry_reply_size == sizeof(ch_entry_reply));
}

TEST_CASE("ch_negotiate picks the highest common version or refuses") {
    uint32_t chosen = 0;
    int table = 0;
    CHECK(abi_c99_negotiate(1, 1, &chosen, &table) == CH_OK);
    CHECK(chosen == 1);
    CHECK(table == 1);
    CHECK(abi_c99_negotiate(1, 5, &chosen, &table) == CH_OK);
    CHECK(chosen == 2);
    CHECK(table == 2);
    CHECK(abi_c99_negotiate(2, 3, &chosen, &table) == CH_OK);
    CHECK(chosen == 2);
    chosen = 0;
    CHECK(abi_c99_negotiate(3, 4, &chosen, &table) == CH_ERR_ABI);
    CHECK(chosen == 0);
}

TEST_CASE("ch_error_set fills the error only when the host's struct is large enough") {
    char message[64];
    CHECK(abi_c99_error_set(sizeof(ch_error), message, sizeof message) ==
          CH_ERR_QUOTA * 100 + CH_ERR_QUOTA);
    CHECK(std::string(message) == "quota 3 of five");
    // An older, smaller ch_error: nothing written, the status still returned.
    CHECK(abi_c99_error_set(offsetof(ch_error, message), message, sizeof message) ==
          CH_ERR_QUOTA * 100 + 0);
    CHECK(std::string(message).empty());
}

TEST_CASE("ch_str_equal_cstr compares by length, not NUL") {
    const char text[] = "abcdef";
    CHECK(abi_c99_str_equal(text, 3, "abc") == 1);
    CHECK(abi_c99_str_equal(text, 6, "abc") == 0);
    CHECK(abi_c99_str_equal(text, 0, "") == 1);
    CHECK(abi_c99_str_equal(nullptr, 0, "") == 1);
}
