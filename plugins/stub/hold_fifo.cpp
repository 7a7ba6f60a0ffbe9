#include "hold_fifo.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cloudhost::stub {
namespace {

constexpr int poll_step_ms = 50;

[[noreturn]] void fail(const std::string &path, const std::string &what) {
    throw sdk::InvalidConfigError("stub config: \"hold_fifo\" " + path + ": " + what);
}

} // namespace

HoldFifo::HoldFifo(const std::string &path) : path_(path) {
    if (::mkfifo(path.c_str(), 0600) != 0 && errno != EEXIST)
        fail(path, std::string("cannot create FIFO: ") + std::strerror(errno));
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        fail(path, std::strerror(errno));
    if (!S_ISFIFO(st.st_mode))
        fail(path, "exists and is not a FIFO");
    fd_ = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0)
        fail(path, std::string("cannot open: ") + std::strerror(errno));
}

HoldFifo::~HoldFifo() {
    if (fd_ >= 0)
        ::close(fd_);
}

bool HoldFifo::wait_for_release(const std::atomic<bool> &stopped) const {
    while (!stopped.load()) {
        pollfd pfd{fd_, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, poll_step_ms);
        if (ready < 0 && errno != EINTR)
            throw sdk::Error("stub: polling hold FIFO " + path_ + ": " + std::strerror(errno));
        if (ready <= 0)
            continue;
        char byte = 0;
        // Several held calls poll the same FIFO: only one of them gets each
        // byte, the others see EAGAIN and keep waiting.
        const ssize_t n = ::read(fd_, &byte, 1);
        if (n == 1)
            return true;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            throw sdk::Error("stub: reading hold FIFO " + path_ + ": " + std::strerror(errno));
    }
    return false;
}

} // namespace cloudhost::stub
