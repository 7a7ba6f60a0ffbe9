#include "private_copy.hpp"

#include "cloudhost/catalog.hpp"
#include "cloudhost/errors.hpp"
#include "file_bytes.hpp"
#include "sha256.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <pwd.h>
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

fs::path write_private_copy(const fs::path &dir, std::span<const std::byte> bytes,
                            const std::string &sha256) {
    const fs::path target = dir / (sha256 + ".so");
    if (::access(target.c_str(), F_OK) == 0 && copy_is_intact(target, sha256))
        return target;

    static std::atomic<unsigned> counter{0};
    const fs::path temp = dir / ("." + sha256 + ".tmp." + std::to_string(::getpid()) + "." +
                                 std::to_string(counter++));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        throw LoadError("cannot create private copy " + temp.string() + ": " + errno_text());
    try {
        write_all(fd, bytes, temp);
        if (::fsync(fd) != 0 || ::fchmod(fd, 0500) != 0)
            throw LoadError("finishing private copy " + temp.string() + ": " + errno_text());
    } catch (...) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    ::close(fd);

    // link() never replaces: a copy that appeared meanwhile (another thread
    // or process) stays as it is, so a mapped file is never swapped.
    if (::link(temp.c_str(), target.c_str()) != 0) {
        const int err = errno;
        if (err == EEXIST && copy_is_intact(target, sha256)) {
            ::unlink(temp.c_str());
            return target;
        }
        // A damaged copy, or a filesystem without hard links: replace.
        if (::rename(temp.c_str(), target.c_str()) != 0) {
            const std::string why = errno_text();
            ::unlink(temp.c_str());
            throw LoadError("cannot install private copy " + target.string() + ": " + why);
        }
    } else {
        ::unlink(temp.c_str());
    }
    fsync_dir(dir);
    if (!copy_is_intact(target, sha256))
        throw LoadError("private copy " + target.string() + " does not hash to " + sha256);
    return target;
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
