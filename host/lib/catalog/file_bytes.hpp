// Reading a whole driver file into memory, safely for a drop directory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

namespace cloudhost::detail {

// Largest driver file the catalog reads (bigger files are rejected).
inline constexpr size_t max_driver_file_size = size_t{512} << 20;

// Opens without blocking on FIFOs, accepts only regular files (symlinks are
// followed), reads until EOF. Throws LoadError with a reason that does not
// repeat the path: "not a regular file (directory)", "cannot open: ...",
// "file too large (...)".
std::vector<std::byte> read_file_bytes(const std::filesystem::path &path,
                                       size_t limit = max_driver_file_size);

// Same for an already opened descriptor (read from its current offset).
std::vector<std::byte> read_fd_bytes(int fd, size_t limit = max_driver_file_size);

// "directory", "fifo", "socket", ... for a non-regular st_mode.
const char *file_kind(unsigned mode);

} // namespace cloudhost::detail
