#include "cloudhost/catalog.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/version.hpp"
#include "file_bytes.hpp"
#include "judge.hpp"
#include "library_search.hpp"
#include "private_copy.hpp"
#include "sha256.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

namespace cloudhost {
namespace {

namespace fs = std::filesystem;

bool has_so_suffix(const fs::path &name) {
    const std::string &s = name.native();
    return s.size() > 3 && s.compare(s.size() - 3, 3, ".so") == 0;
}

DriverFile rejected(const fs::path &path, std::string reason) {
    DriverFile file;
    file.path = path;
    file.reason = std::move(reason);
    return file;
}

// Appends the verdicts for one directory, files sorted by name.
void scan_dir(const fs::path &dir, detail::LibrarySearch &search, const TrustPolicy &policy,
              const std::vector<fs::path> &trusted_dirs, std::vector<DriverFile> &out) {
    std::error_code ec;
    const auto status = fs::status(dir, ec);
    if (status.type() == fs::file_type::not_found) {
        spdlog::debug("driver dir {} does not exist; skipped", dir.string());
        return;
    }
    if (ec) {
        out.push_back(rejected(dir, "cannot access driver directory: " + ec.message()));
        return;
    }
    if (!fs::is_directory(status)) {
        out.push_back(rejected(dir, "driver directory is not a directory"));
        return;
    }
    std::vector<fs::path> names;
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
        if (has_so_suffix(it->path().filename()))
            names.push_back(it->path().filename());
    }
    if (ec) {
        out.push_back(rejected(dir, "cannot list driver directory: " + ec.message()));
        return;
    }
    std::sort(names.begin(), names.end());
    for (const auto &name : names)
        out.push_back(detail::judge_driver_file(dir / name, search, policy, trusted_dirs));
}

// The later of two ok files with the same name and version is rejected.
void reject_duplicates(std::vector<DriverFile> &files) {
    std::map<std::pair<std::string, std::string>, const DriverFile *> first;
    for (auto &file : files) {
        if (!file.ok)
            continue;
        auto [it, inserted] = first.emplace(std::pair(file.info->name, file.info->version), &file);
        if (!inserted) {
            file.ok = false;
            file.reason = "duplicate of " + it->second->path.string() + " (" + file.info->name +
                          " " + file.info->version + ")";
        }
    }
}

// Marks the file load(name) would pick, for every name.
void mark_active(std::vector<DriverFile> &files) {
    std::set<std::string> names;
    for (const auto &file : files)
        if (file.ok)
            names.insert(file.info->name);
    for (const auto &name : names)
        if (const DriverFile *chosen = choose_driver_version(files, name))
            files[static_cast<size_t>(chosen - files.data())].active = true;
}

} // namespace

const DriverFile *choose_driver_version(const std::vector<DriverFile> &files,
                                        const std::string &name,
                                        const VersionConstraint &constraint,
                                        const std::function<bool(const DriverFile &)> &eligible) {
    const DriverFile *chosen = nullptr;
    std::optional<Version> chosen_version;
    for (const auto &file : files) {
        if (!file.ok || !file.info || file.info->name != name)
            continue;
        std::optional<Version> version;
        try {
            version = Version::parse(file.info->version);
        } catch (const std::invalid_argument &) {
            continue; // the reader refuses these; a hand-made DriverFile may not
        }
        if (!constraint.matches(*version) || (chosen_version && *version <= *chosen_version))
            continue;
        if (eligible && !eligible(file))
            continue;
        chosen = &file;
        chosen_version = version;
    }
    return chosen;
}

Catalog::Catalog(CatalogOptions options) : options_(std::move(options)) {}

std::vector<DriverFile> Catalog::scan() const {
    auto search = detail::LibrarySearch::from_system(); // ld.so.conf read once per scan
    const auto trusted_dirs = detail::trusted_dirs_of(options_.dirs, options_.trust);
    std::vector<DriverFile> files;
    std::set<fs::path> seen_dirs; // a dir listed twice must not duplicate itself
    for (const auto &dir : options_.dirs) {
        std::error_code ec;
        const fs::path key = fs::weakly_canonical(dir, ec);
        if (!seen_dirs.insert(ec ? dir : key).second)
            continue;
        scan_dir(dir, search, options_.trust, trusted_dirs, files);
    }
    reject_duplicates(files);
    mark_active(files);
    return files;
}

DriverFile Catalog::inspect(const fs::path &file) const {
    auto search = detail::LibrarySearch::from_system();
    std::error_code ec;
    const fs::path absolute = fs::absolute(file, ec);
    const auto trusted_dirs = detail::trusted_dirs_of({absolute.parent_path()}, options_.trust);
    return detail::judge_driver_file(file, search, options_.trust, trusted_dirs);
}

std::shared_ptr<DriverLibrary> Catalog::load(const std::string &name,
                                             const std::string &version_constraint,
                                             IsolationMode isolation) const {
    VersionConstraint constraint;
    try {
        constraint = VersionConstraint::parse(version_constraint);
    } catch (const std::invalid_argument &e) {
        throw InvalidConfigError("driver " + name + ": " + e.what());
    }

    const std::vector<DriverFile> files = scan();
    const DriverFile *chosen = choose_driver_version(files, name, constraint);
    std::string available, rejections;
    std::string unread; // refused before their metadata could be read
    for (const auto &file : files) {
        if (!file.info && file.trust.rfind("permissions: ", 0) == 0)
            unread += (unread.empty() ? "" : "; ") + file.path.string() + ": " + file.reason;
        if (!file.info || file.info->name != name) {
            continue;
        }
        if (!file.ok) {
            rejections +=
                (rejections.empty() ? "" : "; ") + file.path.string() + ": " + file.reason;
            continue;
        }
        available += (available.empty() ? "" : ", ") + file.info->version;
    }
    if (!chosen && available.empty())
        throw LoadError("no driver named " + name +
                        (rejections.empty() ? "" : " (rejected: " + rejections + ")") +
                        (unread.empty() ? "" : " (refused unread: " + unread + ")"));
    if (!chosen)
        throw LoadError("no version of " + name + " satisfies " + constraint.str() +
                        " (available: " + available + ")");

    // Read once; judge, verify, hash and copy exactly these bytes.
    detail::DriverBytes driver;
    try {
        driver = detail::read_driver(chosen->path, options_.trust,
                                     detail::trusted_dirs_of(options_.dirs, options_.trust));
    } catch (const LoadError &e) {
        throw LoadError(chosen->path.string() + ": " + e.what());
    }
    auto search = detail::LibrarySearch::from_system();
    const DriverFile verdict =
        detail::judge_driver_bytes(chosen->path, driver, search, options_.trust);
    if (!verdict.ok)
        throw LoadError(chosen->path.string() + ": " + verdict.reason);
    if (verdict.info->name != name || verdict.info->version != chosen->info->version)
        throw LoadError(chosen->path.string() + ": changed while loading (now " +
                        verdict.info->name + " " + verdict.info->version + ")");

    detail::PrivateCopy copy;
    {
        std::lock_guard lock(cache_mutex_);
        detail::ensure_private_dir(options_.cache_dir);
        copy = detail::write_private_copy(options_.cache_dir, driver.bytes, verdict.sha256);
        detail::collect_private_copies(options_.cache_dir, options_.cache_keep_unused);
    }
    std::shared_ptr<DriverLibrary> library;
    if (resolve_isolation(isolation, verdict) == IsolationMode::process) {
        spdlog::debug("driver {} {} prepared for a helper process at {} (copy of {})", name,
                      verdict.info->version, copy.path.string(), chosen->path.string());
        library = DriverLibrary::unmapped(copy.path, *verdict.info, verdict.sha256);
    } else {
        spdlog::debug("loading driver {} {} from {} (copy of {})", name, verdict.info->version,
                      copy.path.string(), chosen->path.string());
        library = DriverLibrary::open(copy.path, *verdict.info, verdict.sha256);
    }
    // The copy stays on disk while this library may be opened by its path
    // (a helper process loads it by path after this returns).
    library->keep_while_mapped(std::move(copy.lease));
    return library;
}

} // namespace cloudhost
