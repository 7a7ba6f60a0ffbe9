#include "trust_support.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <sys/wait.h>

namespace trust_test {

DriverTree::DriverTree() {
    fs::create_directory(drivers);
    fs::permissions(drivers, fs::perms(0755)); // whatever the umask
}

fs::path DriverTree::add(const std::string &fixture, const std::string &name, fs::perms mode) {
    const fs::path target = drivers / name;
    fs::copy_file(catalog_test::fixture(fixture), target, fs::copy_options::overwrite_existing);
    fs::permissions(target, mode);
    return target;
}

cloudhost::CatalogOptions DriverTree::options(cloudhost::TrustPolicy trust) const {
    cloudhost::CatalogOptions options;
    options.dirs = {drivers};
    options.cache_dir = cache;
    options.trust = std::move(trust);
    return options;
}

std::map<std::string, cloudhost::DriverFile> scan(const cloudhost::CatalogOptions &options) {
    std::map<std::string, cloudhost::DriverFile> out;
    for (auto &file : cloudhost::Catalog(options).scan())
        out[file.path.filename().string()] = file;
    return out;
}

std::string quote(const std::string &s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

RunResult run(const std::string &command) {
    RunResult result;
    FILE *pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
    if (!pipe)
        throw std::runtime_error("popen failed: " + command);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        result.out.append(buffer, n);
    const int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

SshKeyPair make_key(const fs::path &dir, const std::string &name) {
    SshKeyPair key;
    key.private_key = dir / name;
    const auto r = run(std::string(SSH_KEYGEN) + " -q -t ed25519 -N '' -C " + quote(name) + " -f " +
                       quote(key.private_key.string()));
    if (r.status != 0)
        throw std::runtime_error("ssh-keygen could not make a key");
    std::ifstream in(key.private_key.string() + ".pub");
    std::getline(in, key.public_line);
    return key;
}

void sign(const fs::path &file, const SshKeyPair &key, const std::string &name_space) {
    fs::remove(fs::path(file.string() + ".sig"));
    const auto r = run(std::string(SSH_KEYGEN) + " -Y sign -f " + quote(key.private_key.string()) +
                       " -n " + quote(name_space) + " " + quote(file.string()));
    if (r.status != 0)
        throw std::runtime_error("ssh-keygen -Y sign failed for " + file.string());
}

std::vector<std::byte> to_bytes(const std::string &s) {
    const auto *p = reinterpret_cast<const std::byte *>(s.data());
    return std::vector<std::byte>(p, p + s.size());
}

} // namespace trust_test
