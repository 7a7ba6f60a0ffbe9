// "Held" cloud calls (Arvados HoldCloudOps / ReleaseCloudOps): each held call
// blocks until it reads one byte from a FIFO, so a test releases N calls by
// writing N bytes.
#pragma once

#include <atomic>
#include <string>

namespace cloudhost::stub {

class HoldFifo {
  public:
    // Creates the FIFO when absent and opens it read-write and non-blocking
    // (read-write so that it never reports end-of-file while no test has it
    // open). Throws InvalidConfigError naming the path on failure.
    explicit HoldFifo(const std::string &path);
    ~HoldFifo();
    HoldFifo(const HoldFifo &) = delete;
    HoldFifo &operator=(const HoldFifo &) = delete;

    // Blocks until one byte is read (true) or `stopped` becomes true (false).
    // Polls in 50 ms steps so that stop() needs no wake-up channel.
    bool wait_for_release(const std::atomic<bool> &stopped) const;

  private:
    std::string path_;
    int fd_ = -1;
};

} // namespace cloudhost::stub
