// The permission policy for driver files (sudo's rule for its plugins):
// the file and every directory on its path are owned by root or by
// the user running the host and are writable only by their owner. A sticky
// world-writable ancestor (/tmp) is accepted, but not as the driver's own
// directory. Paths are resolved here, one component at a time through
// O_PATH descriptors, so the checks apply to exactly what is opened, and a
// symlink is followed only after the directory holding it passed the rule.
#pragma once

#include "unique_fd.hpp"

#include <filesystem>
#include <vector>

namespace cloudhost::detail {

struct TrustedFile {
    UniqueFd fd;                    // opened O_RDONLY, already checked with fstat
    std::filesystem::path resolved; // the path with every symlink resolved
};

// Resolves `dir` (which must be a directory meeting the rule) to its
// symlink-free absolute path. Throws LoadError naming the offending path.
std::filesystem::path resolve_trusted_dir(const std::filesystem::path &dir);

// Opens the regular file `path` after checking every component. When
// `trusted_dirs` (resolved, see resolve_trusted_dir) is not empty, the
// resolved file must lie inside one of them: a symlink may not lead out of
// the driver directories. Throws LoadError whose message starts with
// "permissions: " and names the path and the rule broken, or "not a
// regular file (fifo)", "cannot open: ..." as read_file_bytes does.
TrustedFile open_trusted_file(const std::filesystem::path &path,
                              const std::vector<std::filesystem::path> &trusted_dirs);

} // namespace cloudhost::detail
