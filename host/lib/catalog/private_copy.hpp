// The host-owned, content-addressed copies drivers are loaded from: a new
// path per content, never overwritten while mapped (dlopen of a path that
// is already mapped returns the old mapping, so new bytes need a new path).
//
// The cache stays bounded: a process holds a shared flock(2) on each copy
// it loaded for as long as its DriverLibrary lives (the lease), and the
// collector deletes only copies it can lock exclusively, keeping the most
// recently used of those. flock locks belong to the open file, so another
// process's lease protects a copy just as ours does.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace cloudhost::detail {

// Creates `dir` (and missing parents) with mode 0700 and checks that it is
// a directory owned by us that nobody else can write to. Throws LoadError.
void ensure_private_dir(const std::filesystem::path &dir);

struct PrivateCopy {
    std::filesystem::path path;
    // Holds the shared lock on `path` until released: keep it for as long as
    // the copy may be opened by path (the DriverLibrary's lifetime).
    std::shared_ptr<const void> lease;
};

// Writes `bytes` (whose SHA-256 is `sha256`) to <dir>/<sha256>.so: temp
// file, fsync, mode 0500, link without replacing. An existing copy is
// re-hashed and reused when intact, replaced otherwise. Returns the path
// with its lease taken (and the copy's mtime set to now: its last use).
// Safe to call concurrently (also from several processes), and against a
// concurrent collector: a copy deleted before its lease was taken is written
// again.
PrivateCopy write_private_copy(const std::filesystem::path &dir, std::span<const std::byte> bytes,
                               const std::string &sha256);

// Deletes the copies in `dir` that no process holds a lease on, except the
// `keep_unused` most recently used, and temp files of writers that died
// more than an hour ago. Never deletes a leased copy. Returns how many
// copies it deleted; errors leave files in place (the cache is an
// optimisation, never a reason to fail a load).
size_t collect_private_copies(const std::filesystem::path &dir, size_t keep_unused);

} // namespace cloudhost::detail
