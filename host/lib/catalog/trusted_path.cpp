#include "trusted_path.hpp"

#include "cloudhost/errors.hpp"
#include "file_bytes.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cloudhost::detail {
namespace {

namespace fs = std::filesystem;

constexpr int max_symlinks = 40; // as the kernel's ELOOP limit

[[noreturn]] void refuse(const fs::path &path, const std::string &rule) {
    throw LoadError("permissions: " + path.string() + " " + rule);
}

std::string errno_text() {
    return std::strerror(errno);
}

// Owned by root or by us; writable only by the owner, except a sticky
// directory above the driver's own (where only owners may rename entries).
void check_rule(const fs::path &path, const struct stat &st, bool sticky_allowed) {
    const uid_t me = ::geteuid();
    if (st.st_uid != 0 && st.st_uid != me)
        refuse(path, "is owned by uid " + std::to_string(st.st_uid) +
                         " (must be owned by root or by uid " + std::to_string(me) +
                         ", which runs the host)");
    if (S_ISLNK(st.st_mode) || !(st.st_mode & (S_IWGRP | S_IWOTH)))
        return;
    if (S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && sticky_allowed)
        return;
    const char *who = (st.st_mode & S_IWOTH) ? "world-writable" : "group-writable";
    if (S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))
        refuse(path, std::string("is ") + who +
                         " (a sticky directory is accepted above the driver's directory, not "
                         "as the driver's directory)");
    refuse(path, std::string("is ") + who +
                     " (driver files and every directory above them must be writable only by "
                     "their owner)");
}

struct Dir {
    UniqueFd fd;
    fs::path path;
    struct stat st {};
};

std::deque<std::string> components(const fs::path &path) {
    std::deque<std::string> out;
    for (const auto &part : path.relative_path())
        out.push_back(part.string());
    return out;
}

enum class Want { file, directory };

struct Walked {
    std::vector<Dir> dirs; // "/" .. the directory holding the result
    UniqueFd target;       // O_PATH descriptor of the result
    struct stat st {};
    std::string name; // the result's name in dirs.back(); empty for "/"
};

// Walks `input` from "/", checking each directory and symlink as it goes.
Walked walk(const fs::path &input, Want want) {
    std::error_code ec;
    const fs::path absolute = input.is_absolute() ? input : fs::absolute(input, ec);
    if (ec)
        throw LoadError("cannot resolve " + input.string() + ": " + ec.message());
    Walked w;
    Dir root{UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)), "/", {}};
    if (!root.fd.valid() || ::fstat(root.fd.get(), &root.st) != 0)
        throw LoadError("cannot open /: " + errno_text());
    check_rule("/", root.st, true);
    w.dirs.push_back(std::move(root));

    std::deque<std::string> todo = components(absolute);
    int symlinks = 0;
    while (!todo.empty()) {
        const std::string name = todo.front();
        todo.pop_front();
        if (name.empty() || name == ".")
            continue;
        if (name == "..") {
            if (w.dirs.size() > 1)
                w.dirs.pop_back();
            continue;
        }
        const Dir &parent = w.dirs.back();
        const fs::path path = parent.path / name;
        UniqueFd fd(::openat(parent.fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat st {};
        if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
            if (todo.empty())
                throw LoadError("cannot open: " + errno_text());
            throw LoadError("cannot open " + path.string() + ": " + errno_text());
        }
        if (S_ISLNK(st.st_mode)) {
            check_rule(path, st, false);
            if (++symlinks > max_symlinks)
                throw LoadError("cannot open: too many levels of symbolic links at " +
                                path.string());
            std::string target(PATH_MAX, '\0');
            const ssize_t n = ::readlinkat(fd.get(), "", target.data(), target.size());
            if (n < 0 || static_cast<size_t>(n) >= target.size())
                throw LoadError("cannot read symlink " + path.string() + ": " + errno_text());
            target.resize(static_cast<size_t>(n));
            const fs::path link(target);
            if (link.is_absolute())
                w.dirs.resize(1);
            const auto expanded = components(link.is_absolute() ? link : fs::path("/") / link);
            todo.insert(todo.begin(), expanded.begin(), expanded.end());
            continue;
        }
        if (S_ISDIR(st.st_mode) && (!todo.empty() || want == Want::directory)) {
            check_rule(path, st, !todo.empty());
            w.dirs.push_back(Dir{std::move(fd), path, st});
            continue;
        }
        if (!todo.empty())
            throw LoadError("cannot open " + path.string() + ": not a directory");
        if (want == Want::directory)
            throw LoadError(path.string() + " is not a directory");
        w.target = std::move(fd);
        w.st = st;
        w.name = name;
    }
    return w;
}

bool is_inside(const fs::path &file, const fs::path &dir) {
    auto f = file.begin();
    for (auto d = dir.begin(); d != dir.end(); ++d, ++f) {
        if (d->empty()) // trailing separator
            continue;
        if (f == file.end() || *f != *d)
            return false;
    }
    return true;
}

} // namespace

fs::path resolve_trusted_dir(const fs::path &dir) {
    Walked w = walk(dir, Want::directory);
    return w.dirs.back().path;
}

TrustedFile open_trusted_file(const fs::path &path, const std::vector<fs::path> &trusted_dirs) {
    Walked w = walk(path, Want::file);
    if (!w.target.valid()) // the path named "/" or ended in ".."
        throw LoadError("not a regular file (directory)");
    if (!S_ISREG(w.st.st_mode))
        throw LoadError(std::string("not a regular file (") + file_kind(w.st.st_mode) + ")");
    const Dir &parent = w.dirs.back();
    const fs::path resolved = parent.path / w.name;
    // Whoever can write the driver's own directory can swap the file.
    check_rule(parent.path, parent.st, false);
    if (!trusted_dirs.empty()) {
        bool inside = false;
        for (const auto &dir : trusted_dirs)
            inside = inside || is_inside(resolved, dir);
        if (!inside)
            refuse(path, "resolves to " + resolved.string() +
                             ", outside the driver directories (symlinks are followed only "
                             "within them)");
    }

    // Reopen for reading through the checked directory; O_NOFOLLOW and the
    // inode comparison make sure it is the file just checked.
    UniqueFd fd(::openat(parent.fd.get(), w.name.c_str(),
                         O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0)
        throw LoadError("cannot open: " + errno_text());
    if (st.st_dev != w.st.st_dev || st.st_ino != w.st.st_ino)
        throw LoadError("cannot open: " + resolved.string() + " was replaced while being checked");
    check_rule(resolved, st, false);
    return TrustedFile{std::move(fd), resolved};
}

} // namespace cloudhost::detail
