#include "file_bytes.hpp"

#include "cloudhost/errors.hpp"
#include "unique_fd.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cloudhost::detail {

const char *file_kind(unsigned mode) {
    if (S_ISDIR(mode))
        return "directory";
    if (S_ISFIFO(mode))
        return "fifo";
    if (S_ISSOCK(mode))
        return "socket";
    if (S_ISCHR(mode))
        return "character device";
    if (S_ISBLK(mode))
        return "block device";
    return "special file";
}

namespace {

std::string errno_text(int err) {
    return std::strerror(err);
}

} // namespace

std::vector<std::byte> read_file_bytes(const std::filesystem::path &path, size_t limit) {
    // O_NONBLOCK: opening a FIFO that someone named *.so must not hang the scan.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid())
        throw LoadError("cannot open: " + errno_text(errno));
    return read_fd_bytes(fd.get(), limit);
}

std::vector<std::byte> read_fd_bytes(int fd, size_t limit) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        throw LoadError("cannot stat: " + errno_text(errno));
    if (!S_ISREG(st.st_mode))
        throw LoadError(std::string("not a regular file (") + file_kind(st.st_mode) + ")");
    if (st.st_size < 0 || static_cast<unsigned long long>(st.st_size) > limit)
        throw LoadError("file too large (" + std::to_string(st.st_size) + " bytes, limit " +
                        std::to_string(limit) + ")");

    std::vector<std::byte> bytes(static_cast<size_t>(st.st_size));
    size_t filled = 0;
    // The file may grow or shrink while we read: read until EOF, within limit.
    for (;;) {
        if (filled == bytes.size()) {
            if (bytes.size() >= limit) {
                std::byte probe;
                const ssize_t n = ::read(fd, &probe, 1);
                if (n > 0)
                    throw LoadError("file too large (over " + std::to_string(limit) + " bytes)");
                if (n == 0)
                    break;
                if (errno == EINTR)
                    continue;
                throw LoadError("cannot read: " + errno_text(errno));
            }
            bytes.resize(std::min(limit, std::max<size_t>(bytes.size() * 2, 4096)));
        }
        const ssize_t n = ::read(fd, bytes.data() + filled, bytes.size() - filled);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw LoadError("cannot read: " + errno_text(errno));
        }
        if (n == 0)
            break;
        filled += static_cast<size_t>(n);
    }
    bytes.resize(filled);
    return bytes;
}

} // namespace cloudhost::detail
