// The verdict on one driver file's bytes (shared by scan and load, so the
// bytes loaded are judged by exactly the same rules).
#pragma once

#include "cloudhost/catalog.hpp"
#include "library_search.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cloudhost::detail {

// One driver file read once under the permission policy, with the text of
// its FILE.sig when the trust policy asks for signatures.
struct DriverBytes {
    std::vector<std::byte> bytes;
    std::optional<std::string> signature;
};

// Throws LoadError: "permissions: ...", "not a regular file (fifo)", ...
// `trusted_dirs` are the resolved driver directories (resolve_trusted_dir).
DriverBytes read_driver(const std::filesystem::path &path, const TrustPolicy &policy,
                        const std::vector<std::filesystem::path> &trusted_dirs);

// The driver directories as open_trusted_file compares them: resolved when
// they meet the permission rule, else as given (their files then fail it).
std::vector<std::filesystem::path> trusted_dirs_of(const std::vector<std::filesystem::path> &dirs,
                                                   const TrustPolicy &policy);

// Everything except duplicates and `active`, which need the other files.
DriverFile judge_driver_bytes(const std::filesystem::path &path, const DriverBytes &driver,
                              LibrarySearch &search, const TrustPolicy &policy);

// Reads the file and judges it; an unreadable or refused file gets a
// rejected verdict.
DriverFile judge_driver_file(const std::filesystem::path &path, LibrarySearch &search,
                             const TrustPolicy &policy,
                             const std::vector<std::filesystem::path> &trusted_dirs);

} // namespace cloudhost::detail
