#include "cloudhost/driver.h"
#include "cloudhost/errors.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

using catalog_test::fixture;
using catalog_test::read_bytes;
using cloudhost::LoadError;

namespace {

using Bytes = std::vector<std::byte>;

// The reason inspect_driver_elf gives, or "" when it accepts the bytes.
std::string reason_for(const Bytes &bytes) {
    try {
        cloudhost::inspect_driver_elf(std::span<const std::byte>(bytes));
    } catch (const LoadError &e) {
        return e.what();
    }
    return "";
}

template <typename T> void poke(Bytes &bytes, size_t offset, T value) {
    REQUIRE(offset + sizeof value <= bytes.size());
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Offset of the ch_driver_info object inside the file.
size_t info_offset(const Bytes &bytes) {
    const uint32_t header[2] = {CH_DRIVER_INFO_MAGIC, sizeof(ch_driver_info)};
    const auto *first = reinterpret_cast<const std::byte *>(header);
    const auto it = std::search(bytes.begin(), bytes.end(), first, first + sizeof header);
    REQUIRE(it != bytes.end());
    return static_cast<size_t>(it - bytes.begin());
}

void poke_string(Bytes &bytes, size_t offset, const std::string &text, size_t capacity) {
    REQUIRE(text.size() <= capacity);
    std::memset(bytes.data() + offset, 0, capacity);
    std::memcpy(bytes.data() + offset, text.data(), text.size());
}

} // namespace

TEST_CASE("metadata of a good driver is read from the file") {
    const auto elf = cloudhost::inspect_driver_elf(fixture("fixture-1.1.0"));
    CHECK(elf.info.name == "fixture");
    CHECK(elf.info.version == "1.1.0");
    CHECK(elf.info.description == "catalog test fixture");
    CHECK(elf.info.abi_min == 1);
    CHECK(elf.info.abi_max == 1);
    CHECK(elf.entry_defined);
    CHECK(std::find(elf.needed.begin(), elf.needed.end(), "libc.so.6") != elf.needed.end());
    CHECK(cloudhost::read_driver_metadata(fixture("fixture-1.0.0")).version == "1.0.0");
}

TEST_CASE("dependencies and their search paths are listed") {
    const auto elf = cloudhost::inspect_driver_elf(fixture("entry-from-dep"));
    CHECK_FALSE(elf.entry_defined);
    CHECK(std::find(elf.needed.begin(), elf.needed.end(), "libchfixture_entry.so") !=
          elf.needed.end());
    CHECK(elf.runpath.size() + elf.rpath.size() > 0); // meson's build-tree rpath
    CHECK_THROWS_WITH_AS(
        cloudhost::read_driver_metadata(fixture("entry-from-dep")),
        doctest::Contains("entry point cloudhost_driver_entry not defined by the driver"),
        LoadError);
}

TEST_CASE("files that are not drivers get precise reasons") {
    const Bytes good = read_bytes(fixture("fixture-1.0.0"));
    CHECK(reason_for({}) == "empty file");
    const std::string text = "this is not a shared object\n";
    CHECK(reason_for(Bytes(reinterpret_cast<const std::byte *>(text.data()),
                           reinterpret_cast<const std::byte *>(text.data() + text.size()))) ==
          "not an ELF file");
    CHECK(reason_for(Bytes(good.begin(), good.begin() + 100)) ==
          "truncated ELF: section headers extend past end of file");
    CHECK(reason_for(Bytes(good.begin(), good.begin() + 40)) ==
          "truncated ELF: ELF header extends past end of file");

    Bytes arm = good;
    poke<uint16_t>(arm, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
    CHECK(reason_for(arm) == "ELF for machine AArch64, host is x86-64");

    Bytes elf32 = good;
    elf32[EI_CLASS] = std::byte{ELFCLASS32};
    CHECK(reason_for(elf32).find("32-bit ELF (ELFCLASS32)") == 0);

    Bytes big_endian = good;
    big_endian[EI_DATA] = std::byte{ELFDATA2MSB};
    CHECK(reason_for(big_endian) == "big-endian ELF (ELFDATA2MSB), host is little-endian");

    Bytes executable = good;
    poke<uint16_t>(executable, offsetof(Elf64_Ehdr, e_type), ET_EXEC);
    CHECK(reason_for(executable).find("not a shared object (ET_DYN)") != std::string::npos);

    Bytes no_sections = good;
    poke<uint64_t>(no_sections, offsetof(Elf64_Ehdr, e_shoff), 0);
    CHECK(reason_for(no_sections).find("no section headers") == 0);

    Bytes huge_count = good;
    poke<uint16_t>(huge_count, offsetof(Elf64_Ehdr, e_shnum), 0xffff);
    CHECK(reason_for(huge_count) == "truncated ELF: section headers extend past end of file");

    CHECK(reason_for(read_bytes(fixture("no-metadata"))) ==
          "no cloudhost_driver_info symbol: not a cloudhost driver");
}

TEST_CASE("bad metadata contents are named") {
    const Bytes good = read_bytes(fixture("fixture-1.0.0"));
    const size_t at = info_offset(good);
    const size_t name_at = at + offsetof(ch_driver_info, name);
    const size_t version_at = at + offsetof(ch_driver_info, version);

    Bytes bad_magic = good;
    poke<uint32_t>(bad_magic, at, 0x12345678);
    CHECK(reason_for(bad_magic).find("metadata magic 0x12345678") == 0);

    Bytes small = good;
    poke<uint32_t>(small, at + offsetof(ch_driver_info, struct_size), 8);
    CHECK(reason_for(small).find("metadata struct_size 8 is smaller") == 0);

    Bytes bad_name = good;
    poke_string(bad_name, name_at, "Bad Name", CH_DRIVER_NAME_MAX);
    CHECK(reason_for(bad_name) == "metadata name \"Bad Name\" has characters outside [a-z0-9_-]");

    Bytes empty_name = good;
    poke_string(empty_name, name_at, "", CH_DRIVER_NAME_MAX);
    CHECK(reason_for(empty_name) == "metadata name is empty");

    Bytes unterminated = good;
    std::memset(unterminated.data() + name_at, 'a', CH_DRIVER_NAME_MAX);
    CHECK(reason_for(unterminated) == "metadata name is not NUL-terminated within 64 bytes");

    Bytes bad_version = good;
    poke_string(bad_version, version_at, "1.0", CH_DRIVER_VERSION_MAX);
    CHECK(reason_for(bad_version).find("metadata invalid version \"1.0\"") == 0);

    Bytes bad_abi = good;
    poke<uint32_t>(bad_abi, at + offsetof(ch_driver_info, abi_min), 3);
    CHECK(reason_for(bad_abi) == "metadata ABI range 3..1 is invalid");
}

TEST_CASE("no input crashes the reader: every truncation and random corruption") {
    const Bytes good = read_bytes(fixture("fixture-1.0.0"));
    for (size_t length = 0; length < good.size(); length += 7) {
        const Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length));
        CHECK_FALSE(reason_for(cut).empty()); // a cut file never passes
    }
    std::mt19937 random(12345);
    std::uniform_int_distribution<size_t> position(0, good.size() - 1);
    std::uniform_int_distribution<int> value(0, 255);
    size_t accepted = 0;
    for (int round = 0; round < 3000; ++round) {
        Bytes mutated = good;
        for (int flips = 0; flips < 1 + round % 8; ++flips)
            mutated[position(random)] = static_cast<std::byte>(value(random));
        // Headers are where the offsets live: corrupt them more often.
        if (round % 2 == 0)
            mutated[position(random) % 64] = static_cast<std::byte>(value(random));
        if (reason_for(mutated).empty())
            ++accepted;
    }
    CHECK(accepted < 3000); // some corruptions must be caught
}
