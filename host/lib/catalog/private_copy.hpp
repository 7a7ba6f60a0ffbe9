// The host-owned, content-addressed copies drivers are loaded from: a new
// path per content, never overwritten while mapped (toolchain notes §7).
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace cloudhost::detail {

// Creates `dir` (and missing parents) with mode 0700 and checks that it is
// a directory owned by us that nobody else can write to. Throws LoadError.
void ensure_private_dir(const std::filesystem::path &dir);

// Writes `bytes` (whose SHA-256 is `sha256`) to <dir>/<sha256>.so: temp
// file, fsync, mode 0500, rename without replacing. An existing copy is
// re-hashed and reused when intact, replaced otherwise. Returns the path.
// Safe to call concurrently (also from several processes).
std::filesystem::path write_private_copy(const std::filesystem::path &dir,
                                         std::span<const std::byte> bytes,
                                         const std::string &sha256);

} // namespace cloudhost::detail
