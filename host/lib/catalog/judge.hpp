// The verdict on one driver file's bytes (shared by scan and load, so the
// bytes loaded are judged by exactly the same rules).
#pragma once

#include "cloudhost/catalog.hpp"
#include "library_search.hpp"

#include <cstddef>
#include <span>

namespace cloudhost::detail {

// Everything except duplicates and `active`, which need the other files.
DriverFile judge_driver_bytes(const std::filesystem::path &path, std::span<const std::byte> bytes,
                              LibrarySearch &search);

// Reads the file and judges it; an unreadable file gets a rejected verdict.
DriverFile judge_driver_file(const std::filesystem::path &path, LibrarySearch &search);

} // namespace cloudhost::detail
