#include "judge.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/errors.hpp"
#include "file_bytes.hpp"
#include "sha256.hpp"

namespace cloudhost::detail {
namespace {

std::string abi_range(uint32_t min, uint32_t max) {
    return std::to_string(min) + ".." + std::to_string(max);
}

// $ORIGIN is the directory of the file as ld.so would see it: symlinks resolved.
std::filesystem::path origin_of(const std::filesystem::path &path) {
    std::error_code ec;
    auto real = std::filesystem::weakly_canonical(path, ec);
    return (ec ? std::filesystem::absolute(path, ec) : real).parent_path();
}

} // namespace

DriverFile judge_driver_bytes(const std::filesystem::path &path, std::span<const std::byte> bytes,
                              LibrarySearch &search) {
    DriverFile file;
    file.path = path;
    file.sha256 = sha256_hex(bytes);
    DriverElf elf;
    try {
        elf = inspect_driver_elf(bytes);
    } catch (const LoadError &e) {
        file.reason = e.what();
        return file;
    }
    file.info = elf.info;
    const DriverInfo &info = elf.info;
    if (!elf.entry_defined) {
        file.reason = "entry point " CH_DRIVER_ENTRY_SYMBOL " not defined by the driver";
    } else if (info.abi_max < CH_ABI_VERSION_MIN || info.abi_min > CH_ABI_VERSION_CURRENT) {
        file.reason = "ABI versions " + abi_range(info.abi_min, info.abi_max) +
                      " not supported (host speaks " +
                      abi_range(CH_ABI_VERSION_MIN, CH_ABI_VERSION_CURRENT) + ")";
    } else if (auto missing = search.first_missing(elf, origin_of(path))) {
        file.reason = "missing dependency " + *missing;
    } else {
        file.ok = true;
    }
    return file;
}

DriverFile judge_driver_file(const std::filesystem::path &path, LibrarySearch &search) {
    try {
        const auto bytes = read_file_bytes(path);
        return judge_driver_bytes(path, bytes, search);
    } catch (const LoadError &e) {
        DriverFile file;
        file.path = path;
        file.reason = e.what();
        return file;
    }
}

} // namespace cloudhost::detail
