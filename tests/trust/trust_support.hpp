// Helpers for the trust tests: driver directories with chosen permissions,
// ed25519 keys and signatures made by ssh-keygen, running the CLI.
#pragma once

#include "cloudhost/catalog.hpp"
#include "test_support.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace trust_test {

namespace fs = std::filesystem;
using catalog_test::TempDir;

// A TempDir (0700, under $TMPDIR or the sticky /tmp) holding a driver
// directory "drivers" (0755) and a private cache dir.
struct DriverTree {
    TempDir root;
    fs::path drivers = root / "drivers";
    fs::path cache = root / "cache";

    DriverTree();
    // Copies a catalog fixture ("fixture-1.0.0") in as `name` with `mode`.
    fs::path add(const std::string &fixture, const std::string &name,
                 fs::perms mode = fs::perms(0755));
    cloudhost::CatalogOptions options(cloudhost::TrustPolicy trust = {}) const;
};

// The verdicts by file name.
std::map<std::string, cloudhost::DriverFile> scan(const cloudhost::CatalogOptions &options);

// An ed25519 key pair made by ssh-keygen: <dir>/<name> and <name>.pub.
struct SshKeyPair {
    fs::path private_key;
    std::string public_line; // "ssh-ed25519 AAAA... comment"
};
SshKeyPair make_key(const fs::path &dir, const std::string &name);

// `ssh-keygen -Y sign -n <name_space>`: writes <file>.sig.
void sign(const fs::path &file, const SshKeyPair &key,
          const std::string &name_space = "cloudhost-driver");

struct RunResult {
    int status = -1;
    std::string out;
};
// Runs a command line through /bin/sh, capturing stdout (stderr discarded).
RunResult run(const std::string &command);
std::string quote(const std::string &s);

std::vector<std::byte> to_bytes(const std::string &s);

} // namespace trust_test
