// Where the CLI looks for drivers when nothing says otherwise.
#pragma once

#include <filesystem>
#include <vector>

namespace cloudhost::cli {

// Run from the build tree: the built driver directories. Installed: the
// installed drivers directory, then the system drop-in directory
// (<sysconfdir>/cloudhost/drivers.d).
std::vector<std::filesystem::path> default_driver_dirs();

} // namespace cloudhost::cli
