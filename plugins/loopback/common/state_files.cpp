#include "state_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace cloudhost::loopback {
namespace {

std::system_error file_error(int error, const std::string &what,
                             const std::filesystem::path &path) {
    return std::system_error(error, std::generic_category(), what + " " + path.string());
}

// Unique among the threads of this process; the pid separates processes.
std::string temporary_name_for(const std::filesystem::path &path) {
    static std::atomic<unsigned long> counter{0};
    return path.string() + ".tmp." + std::to_string(getpid()) + "." +
           std::to_string(counter.fetch_add(1));
}

} // namespace

bool is_instance_id(std::string_view name) {
    if (name.size() != instance_id_prefix.size() + 12 || !name.starts_with(instance_id_prefix))
        return false;
    for (char c : name.substr(instance_id_prefix.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

void write_file_atomically(const std::filesystem::path &path, std::string_view content,
                           mode_t mode) {
    const std::string temporary = temporary_name_for(path);
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        throw file_error(errno, "cannot create", temporary);
    size_t written = 0;
    while (written < content.size()) {
        const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            ::unlink(temporary.c_str());
            throw file_error(error, "cannot write", temporary);
        }
        written += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw file_error(error, "cannot write", path);
    }
}

std::optional<std::string> read_file_if_exists(const std::filesystem::path &path,
                                               size_t max_bytes) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return std::nullopt;
        throw file_error(errno, "cannot open", path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int error = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        ::close(fd);
        throw file_error(error, "not a regular file:", path);
    }
    std::string content;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            throw file_error(error, "cannot read", path);
        }
        if (n == 0)
            break;
        // /proc files report size 0, so the limit is counted, not stat()ed.
        if (content.size() + static_cast<size_t>(n) > max_bytes) {
            ::close(fd);
            throw std::runtime_error(path.string() + ": larger than the limit of " +
                                     std::to_string(max_bytes) + " bytes");
        }
        content.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return content;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

} // namespace cloudhost::loopback
