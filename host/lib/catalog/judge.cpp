#include "judge.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/errors.hpp"
#include "file_bytes.hpp"
#include "sha256.hpp"
#include "trusted_path.hpp"

#include <spdlog/spdlog.h>

namespace cloudhost::detail {
namespace {

namespace fs = std::filesystem;

// A signature file is a few hundred bytes; anything big is not one.
constexpr size_t max_signature_size = 64 * 1024;

std::string abi_range(uint32_t min, uint32_t max) {
    return std::to_string(min) + ".." + std::to_string(max);
}

// $ORIGIN is the directory of the file as ld.so would see it: symlinks resolved.
fs::path origin_of(const fs::path &path) {
    std::error_code ec;
    auto real = fs::weakly_canonical(path, ec);
    return (ec ? fs::absolute(path, ec) : real).parent_path();
}

std::optional<std::string> read_signature(const fs::path &driver) {
    fs::path sig = driver;
    sig += ".sig";
    std::error_code ec;
    if (fs::symlink_status(sig, ec).type() == fs::file_type::not_found)
        return std::nullopt;
    try {
        const auto bytes = read_file_bytes(sig, max_signature_size);
        return std::string(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    } catch (const LoadError &e) {
        throw LoadError("signature " + sig.string() + ": " + e.what());
    }
}

} // namespace

DriverBytes read_driver(const fs::path &path, const TrustPolicy &policy,
                        const std::vector<fs::path> &trusted_dirs) {
    DriverBytes driver;
    if (policy.permissions == PermissionMode::strict)
        driver.bytes = read_fd_bytes(open_trusted_file(path, trusted_dirs).fd.get());
    else
        driver.bytes = read_file_bytes(path);
    if (policy.mode == TrustMode::signature)
        driver.signature = read_signature(path);
    return driver;
}

std::vector<fs::path> trusted_dirs_of(const std::vector<fs::path> &dirs,
                                      const TrustPolicy &policy) {
    std::vector<fs::path> out;
    if (policy.permissions != PermissionMode::strict)
        return out;
    for (const auto &dir : dirs) {
        std::error_code ec;
        if (!fs::exists(dir, ec))
            continue;
        try {
            out.push_back(resolve_trusted_dir(dir));
        } catch (const LoadError &) {
            out.push_back(fs::absolute(dir, ec).lexically_normal());
        }
    }
    return out;
}

DriverFile judge_driver_bytes(const fs::path &path, const DriverBytes &driver,
                              LibrarySearch &search, const TrustPolicy &policy) {
    DriverFile file;
    file.path = path;
    file.sha256 = sha256_hex(driver.bytes);
    const TrustVerdict trust = judge_trust(policy, driver.bytes, file.sha256,
                                           driver.signature ? &*driver.signature : nullptr);
    file.trusted = trust.trusted;
    file.trust = trust.trusted ? trust.text : "untrusted: " + trust.text;
    DriverElf elf;
    try {
        elf = inspect_driver_elf(driver.bytes);
    } catch (const LoadError &e) {
        file.reason = e.what();
        return file;
    }
    file.info = elf.info;
    const DriverInfo &info = elf.info;
    if (!elf.entry_defined) {
        file.reason = "entry point " CH_DRIVER_ENTRY_SYMBOL " not defined by the driver";
    } else if (info.abi_max < CH_ABI_VERSION_MIN || info.abi_min > CH_ABI_VERSION_CURRENT) {
        file.reason = "ABI versions " + abi_range(info.abi_min, info.abi_max) +
                      " not supported (host speaks " +
                      abi_range(CH_ABI_VERSION_MIN, CH_ABI_VERSION_CURRENT) + ")";
    } else if (auto problem = search.dependency_problem(elf, origin_of(path))) {
        file.reason = *problem;
    } else if (!trust.trusted) {
        file.reason = file.trust;
    } else {
        file.ok = true;
    }
    return file;
}

DriverFile judge_driver_file(const fs::path &path, LibrarySearch &search, const TrustPolicy &policy,
                             const std::vector<fs::path> &trusted_dirs) {
    DriverFile file;
    try {
        file = judge_driver_bytes(path, read_driver(path, policy, trusted_dirs), search, policy);
    } catch (const LoadError &e) {
        file.path = path;
        file.reason = e.what();
        if (file.reason.rfind("permissions: ", 0) == 0 || file.reason.rfind("signature ", 0) == 0)
            file.trust = file.reason;
    }
    if (!file.trust.empty() && !file.trusted)
        spdlog::warn("driver file {} refused: {}", path.string(), file.trust);
    return file;
}

} // namespace cloudhost::detail
