// The meson build directory of the tree under test (CLOUDHOST_BUILD_ROOT,
// set by meson test): where tests find the built CLI, drivers and helpers.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace test_support {

inline std::string build_root() {
    const char *root = std::getenv("CLOUDHOST_BUILD_ROOT");
    REQUIRE_MESSAGE(root, "CLOUDHOST_BUILD_ROOT is not set (run through meson test)");
    return root;
}

} // namespace test_support
