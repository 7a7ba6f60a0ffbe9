// Reading a driver's metadata straight from its ELF file, without dlopen and
// so without running any of its code.
//
// The reader accepts ELF64 little-endian shared objects for the host's
// machine, finds the defined `cloudhost_driver_info` object through the
// section headers and .dynsym, and copies the ch_driver_info bytes out of the
// file. Every read is bounds-checked against the given bytes: hostile input
// yields a LoadError, never a crash or a large allocation.
#pragma once

#include "cloudhost/driver_info.hpp"

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace cloudhost {

// Everything the host learns about a driver file without loading it.
struct DriverElf {
    DriverInfo info;
    // cloudhost_driver_entry is a defined function in the file's own .dynsym
    // (not merely referenced and resolved from a dependency).
    bool entry_defined = false;
    std::vector<std::string> needed;  // DT_NEEDED, in file order
    std::vector<std::string> rpath;   // DT_RPATH, split at ':'
    std::vector<std::string> runpath; // DT_RUNPATH, split at ':'
};

// Parses the file. Throws LoadError whose message is the precise reason,
// e.g. "not an ELF file", "ELF for machine AArch64, host is x86-64",
// "truncated ELF: section headers extend past end of file",
// "no cloudhost_driver_info symbol: not a cloudhost driver". Does not check
// entry_defined (the caller decides how to report it).
DriverElf inspect_driver_elf(std::span<const std::byte> file_bytes);
// Reads the file into memory first; the LoadError message then starts with
// the path.
DriverElf inspect_driver_elf(const std::filesystem::path &path);

// inspect_driver_elf() plus the requirement that the entry point is defined
// by the file ("entry point cloudhost_driver_entry not defined by the
// driver").
DriverInfo read_driver_metadata(std::span<const std::byte> file_bytes);
DriverInfo read_driver_metadata(const std::filesystem::path &path);

} // namespace cloudhost
