#include "private_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cloudhost::loopback {
namespace {

namespace fs = std::filesystem;

std::string uid_rule(uid_t owner, bool root_allowed) {
    return "is owned by uid " + std::to_string(owner) + " (must be owned by " +
           (root_allowed ? "root or " : "") + "uid " + std::to_string(::geteuid()) +
           ", which runs the loopback driver)";
}

// `own` is the directory itself (ours, never group/other writable, not even
// sticky); otherwise an ancestor.
std::optional<std::string> directory_problem(const fs::path &path, bool own) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0)
        return path.string() + ": " + std::strerror(errno);
    if (!S_ISDIR(st.st_mode))
        return path.string() + " is not a directory" +
               (S_ISLNK(st.st_mode) ? " (a symlink: an instance directory must be a real one)"
                                    : "");
    const uid_t me = ::geteuid();
    if (own ? st.st_uid != me : (st.st_uid != 0 && st.st_uid != me))
        return path.string() + " " + uid_rule(st.st_uid, !own);
    if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
        return std::nullopt;
    if (!own && (st.st_mode & S_ISVTX))
        return std::nullopt;
    const std::string who = (st.st_mode & S_IWOTH) ? "world-writable" : "group-writable";
    return path.string() + " is " + who +
           (own ? " (loopback state must be writable only by its owner)"
                : " (every directory above the loopback state directory must be writable only "
                  "by its owner, or sticky)");
}

// Every directory above `path`; a symlink among them is judged by the
// directory holding it and, through the resolved path, by where it leads.
std::optional<std::string> ancestors_problem(const fs::path &path) {
    for (fs::path above = path.parent_path(); !above.empty(); above = above.parent_path()) {
        struct stat st {};
        if (::lstat(above.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
            continue;
        if (auto problem = directory_problem(above, false))
            return problem;
        if (above == above.root_path())
            break;
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> state_dir_problem(const fs::path &state_dir) {
    std::error_code ec;
    const fs::path lexical = fs::absolute(state_dir, ec).lexically_normal();
    const fs::path resolved = ec ? fs::path() : fs::canonical(lexical, ec);
    if (ec)
        return state_dir.string() + ": " + ec.message();
    if (auto problem = directory_problem(resolved, true))
        return problem;
    if (auto problem = ancestors_problem(resolved))
        return problem;
    return ancestors_problem(lexical);
}

std::optional<std::string> instance_dir_problem(const fs::path &instance_dir) {
    return directory_problem(instance_dir, true);
}

} // namespace cloudhost::loopback
