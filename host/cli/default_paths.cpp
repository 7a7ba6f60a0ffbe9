#include "default_paths.hpp"

#include <string_view>
#include <system_error>

namespace cloudhost::cli {
namespace {

std::vector<std::filesystem::path> split_dirs(std::string_view list) {
    std::vector<std::filesystem::path> dirs;
    while (!list.empty()) {
        auto colon = list.find(':');
        auto part = list.substr(0, colon);
        if (!part.empty())
            dirs.emplace_back(part);
        if (colon == std::string_view::npos)
            break;
        list.remove_prefix(colon + 1);
    }
    return dirs;
}

// The uninstalled binary lives in the build tree: compare with the path meson
// built it at (the installed copy lives elsewhere).
bool running_from_build_tree() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return !ec && self.parent_path() == std::filesystem::path(CLOUDHOST_BUILD_CLI_DIR);
}

} // namespace

std::vector<std::filesystem::path> default_driver_dirs() {
    if (running_from_build_tree())
        return split_dirs(CLOUDHOST_BUILD_DRIVER_DIRS);
    return {CLOUDHOST_INSTALLED_DRIVER_DIR, CLOUDHOST_SYSCONF_DRIVER_DIR};
}

} // namespace cloudhost::cli
