#include "private_copy.hpp"

#include "cloudhost/catalog.hpp"
#include "cloudhost/errors.hpp"
#include "file_bytes.hpp"
#include "sha256.hpp"
#include "unique_fd.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cloudhost::detail {
namespace {

namespace fs = std::filesystem;

std::string errno_text() {
    return std::strerror(errno);
}

// Nobody but us (or root) may be able to rename entries along the path:
// each directory is owned by us or root and is not writable by others
// unless sticky (as /tmp is).
void check_not_hijackable(const fs::path &dir) {
    const uid_t me = ::geteuid();
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
        throw LoadError("driver cache dir " + dir.string() + ": " + errno_text());
    if (!S_ISDIR(st.st_mode))
        throw LoadError("driver cache dir " + dir.string() + " is not a directory");
    if (st.st_uid != me)
        throw LoadError("driver cache dir " + dir.string() + " is owned by uid " +
                        std::to_string(st.st_uid) + ", not by us (uid " + std::to_string(me) + ")");
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        throw LoadError("driver cache dir " + dir.string() + " is writable by other users");
    for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
        if (::lstat(p.c_str(), &st) != 0)
            throw LoadError("driver cache dir parent " + p.string() + ": " + errno_text());
        if (st.st_uid != me && st.st_uid != 0)
            throw LoadError("driver cache dir parent " + p.string() + " is owned by uid " +
                            std::to_string(st.st_uid));
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
            throw LoadError("driver cache dir parent " + p.string() +
                            " is writable by other users and not sticky");
        if (p == p.root_path())
            break;
    }
}

bool copy_is_intact(const fs::path &path, const std::string &sha256) {
    try {
        return sha256_hex(read_file_bytes(path)) == sha256;
    } catch (const LoadError &) {
        return false;
    }
}

void write_all(int fd, std::span<const std::byte> bytes, const fs::path &path) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw LoadError("writing private copy " + path.string() + ": " + errno_text());
        done += static_cast<size_t>(n);
    }
}

void fsync_dir(const fs::path &dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

bool same_file(const struct stat &a, const struct stat &b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int flock_retrying(int fd, int operation) {
    int rc;
    do
        rc = ::flock(fd, operation);
    while (rc != 0 && errno == EINTR);
    return rc;
}

// A filesystem without locks cannot be collected safely; the collector
// skips what it cannot lock, so an unlocked lease is still safe.
void lock_shared(int fd, const fs::path &path) {
    if (flock_retrying(fd, LOCK_SH) != 0 && errno != ENOLCK && errno != EOPNOTSUPP)
        throw LoadError("cannot lock private copy " + path.string() + ": " + errno_text());
}

// Locks the existing copy at `path` shared and checks that `path` still
// names the locked file (a collector may have deleted it before we got the
// lock). nullptr when there is none.
std::shared_ptr<const void> lease_existing(const fs::path &path) {
    // A lease is the open file description holding the lock: closing it
    // releases the lock.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return nullptr;
    auto lease = std::make_shared<const UniqueFd>(fd);
    lock_shared(fd, path);
    struct stat locked {
    }, named{};
    if (::fstat(fd, &locked) != 0 || ::stat(path.c_str(), &named) != 0 || !same_file(locked, named))
        return nullptr;
    ::futimens(fd, nullptr); // last use, for the collector's order
    return lease;
}

// Writes a temp file, locks it shared, then links it to `target` (or
// renames over a damaged `target` when `replace`): the copy is leased before
// its name exists, so no collector can remove it in between. nullptr when
// another writer's copy appeared at `target` meanwhile (lease that one).
std::shared_ptr<const void> write_leased(const fs::path &dir, const fs::path &target,
                                         std::span<const std::byte> bytes,
                                         const std::string &sha256, bool replace) {
    static std::atomic<unsigned> counter{0};
    const fs::path temp = dir / ("." + sha256 + ".tmp." + std::to_string(::getpid()) + "." +
                                 std::to_string(counter++));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        throw LoadError("cannot create private copy " + temp.string() + ": " + errno_text());
    auto lease = std::make_shared<const UniqueFd>(fd);
    try {
        write_all(fd, bytes, temp);
        if (::fsync(fd) != 0 || ::fchmod(fd, 0500) != 0)
            throw LoadError("finishing private copy " + temp.string() + ": " + errno_text());
        lock_shared(fd, temp);
    } catch (...) {
        ::unlink(temp.c_str());
        throw;
    }
    // link() never replaces: a copy that appeared meanwhile (another thread
    // or process) stays as it is, so a mapped file is never swapped.
    if (!replace && ::link(temp.c_str(), target.c_str()) == 0) {
        ::unlink(temp.c_str());
    } else if (!replace && errno == EEXIST) {
        ::unlink(temp.c_str());
        return nullptr;
    } else if (::rename(temp.c_str(), target.c_str()) != 0) {
        // (Also reached on a filesystem without hard links.)
        const std::string why = errno_text();
        ::unlink(temp.c_str());
        throw LoadError("cannot install private copy " + target.string() + ": " + why);
    }
    fsync_dir(dir);
    return lease;
}

bool is_copy_name(const std::string &name) {
    return name.size() == 64 + 3 && name.compare(64, 3, ".so") == 0 &&
           std::all_of(name.begin(), name.begin() + 64,
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

} // namespace

void ensure_private_dir(const fs::path &dir_in) {
    const fs::path dir = fs::absolute(dir_in).lexically_normal();
    // Create missing components one by one, each 0700.
    fs::path partial;
    for (const auto &part : dir) {
        partial /= part;
        if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
            throw LoadError("cannot create driver cache dir " + partial.string() + ": " +
                            errno_text());
    }
    check_not_hijackable(dir);
}

PrivateCopy write_private_copy(const fs::path &dir, std::span<const std::byte> bytes,
                               const std::string &sha256) {
    const fs::path target = dir / (sha256 + ".so");
    // Bounded: a retry follows another writer's copy appearing and then
    // being collected before we could lease it, twice in a row at most in
    // any plausible schedule.
    for (int attempt = 0; attempt < 5; ++attempt) {
        bool damaged = false;
        if (auto lease = lease_existing(target)) {
            // Under the lease nobody deletes it: these are the bytes dlopen reads.
            if (copy_is_intact(target, sha256))
                return {target, std::move(lease)};
            damaged = true; // replaced below, never trusted
        }
        if (auto lease = write_leased(dir, target, bytes, sha256, damaged))
            return {target, std::move(lease)};
    }
    throw LoadError("private copy " + target.string() +
                    " keeps disappearing before it can be locked (a concurrent collector?)");
}

size_t collect_private_copies(const fs::path &dir, size_t keep_unused) {
    struct Unused {
        struct timespec mtime;
        std::string name;
    };
    std::vector<Unused> unused;
    const auto now = std::chrono::system_clock::now();
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != ::geteuid())
            continue;
        if (name.size() > 65 && name[0] == '.' && name.find(".tmp.") == 65) {
            // A writer unlinks its temp file within milliseconds; one an hour
            // old belongs to a process that died mid-write.
            const auto age = now - std::chrono::system_clock::from_time_t(st.st_mtime);
            if (age > std::chrono::hours(1))
                ::unlink(it->path().c_str());
            continue;
        }
        if (!is_copy_name(name))
            continue;
        const UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (fd.valid() && flock_retrying(fd.get(), LOCK_EX | LOCK_NB) == 0)
            unused.push_back({st.st_mtim, name}); // the probe's lock goes with `fd`
    }
    if (unused.size() <= keep_unused)
        return 0;
    std::sort(unused.begin(), unused.end(), [](const Unused &a, const Unused &b) {
        return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec > b.mtime.tv_sec
                                                : a.mtime.tv_nsec > b.mtime.tv_nsec;
    });
    size_t removed = 0;
    for (size_t i = keep_unused; i < unused.size(); ++i) {
        const fs::path path = dir / unused[i].name;
        // Locked again: a process may have leased it since the first look.
        // The unlink happens under our exclusive lock, and a loader that was
        // waiting for its shared lock then sees the path gone and rewrites.
        const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        struct stat locked {
        }, named{};
        if (fd.valid() && flock_retrying(fd.get(), LOCK_EX | LOCK_NB) == 0 &&
            ::fstat(fd.get(), &locked) == 0 && ::lstat(path.c_str(), &named) == 0 &&
            same_file(locked, named) && ::unlink(path.c_str()) == 0)
            ++removed;
    }
    if (removed)
        spdlog::debug("driver cache {}: removed {} unused private copies", dir.string(), removed);
    return removed;
}

} // namespace cloudhost::detail

namespace cloudhost {

std::filesystem::path default_driver_cache_dir() {
    namespace fs = std::filesystem;
    // secure_getenv: an elevated process must not be steered by the caller.
    const char *runtime = secure_getenv("XDG_RUNTIME_DIR");
    if (runtime && runtime[0] == '/')
        return fs::path(runtime) / "cloudhost" / "drivers";
    // Not /tmp/cloudhost-<uid>: any other user can create that first and
    // make every load fail for this uid. A directory under the user's own
    // cache (or root's /var/cache) is one nobody else can create.
    const char *cache = secure_getenv("XDG_CACHE_HOME");
    if (cache && cache[0] == '/')
        return fs::path(cache) / "cloudhost" / "drivers";
    if (::geteuid() == 0)
        return "/var/cache/cloudhost/drivers";
    // The password database, not $HOME, which the caller controls.
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd *found = nullptr;
    std::error_code ec;
    if (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found &&
        found->pw_dir && found->pw_dir[0] == '/' && fs::is_directory(found->pw_dir, ec))
        return fs::path(found->pw_dir) / ".cache" / "cloudhost" / "drivers";
    // No home (system users such as nobody): the shared /tmp, where the
    // ownership checks still refuse a directory someone else made.
    return fs::path("/tmp") / ("cloudhost-" + std::to_string(::geteuid())) / "drivers";
}

} // namespace cloudhost
