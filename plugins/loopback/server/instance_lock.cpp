#include "instance_lock.hpp"

#include "state_files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

namespace cloudhost::loopback_server {
namespace {

namespace files = cloudhost::loopback::state_file;

int lock_fd = -1;

constexpr auto lock_wait = std::chrono::seconds(2);

} // namespace

void take_instance_lock() {
    const int fd = ::open(files::server_lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::runtime_error(std::string("cannot open ") + files::server_lock + ": " +
                                 std::strerror(errno));
    const auto deadline = std::chrono::steady_clock::now() + lock_wait;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        if ((error != EWOULDBLOCK && error != EINTR) ||
            std::chrono::steady_clock::now() > deadline) {
            ::close(fd);
            throw std::runtime_error(std::string("cannot lock ") + files::server_lock + ": " +
                                     (error == EWOULDBLOCK ? "another server runs this instance"
                                                           : std::strerror(error)));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    lock_fd = fd;
}

void close_instance_lock_in_child() noexcept {
    if (lock_fd >= 0)
        ::close(lock_fd);
    lock_fd = -1;
}

} // namespace cloudhost::loopback_server
