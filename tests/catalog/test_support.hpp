// Helpers shared by the catalog tests: temporary dirs and fixture files.
#pragma once

#include "temp_dir.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace catalog_test {

// A fresh temporary directory removed with its contents (tests/support).
using TempDir = cloudhost::test::TempDir;

// A fixture built by tests/catalog/fixtures/meson.build, e.g. "fixture-1.0.0".
std::filesystem::path fixture(const std::string &stem);

std::vector<std::byte> read_bytes(const std::filesystem::path &path);
void write_bytes(const std::filesystem::path &path, const std::vector<std::byte> &bytes);
void write_text(const std::filesystem::path &path, const std::string &text);

// SHA-256 hex of a file, computed independently of the catalog.
std::string file_sha256(const std::filesystem::path &path);

} // namespace catalog_test
