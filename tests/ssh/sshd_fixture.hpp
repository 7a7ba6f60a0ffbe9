// A real OpenSSH server on 127.0.0.1 for the SSH tests: own temp directory,
// generated host key, a free port, and a client key it accepts for the
// current user. Stopped and removed by the destructor.
#pragma once

#include "temp_dir.hpp"

#include "cloudhost/ssh_key.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace cloudhost::test {

class SshdServer {
  public:
    SshdServer();
    ~SshdServer();
    SshdServer(const SshdServer &) = delete;
    SshdServer &operator=(const SshdServer &) = delete;

    const std::filesystem::path &dir() const { return temp_.path(); }
    unsigned port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string &user() const { return user_; }
    const SshKey &client_key() const { return client_key_; }
    // The server's current host key, "ssh-ed25519 AAAA...".
    std::string host_public_key() const;

    // Stops the listener and every per-connection sshd process, so clients see
    // their connections drop; then starts again on the same port, with a
    // new host key if asked.
    void restart(bool new_host_key);
    // Kills the per-connection sshd processes only; the listener stays up.
    void kill_connections();

  private:
    void generate_host_key();
    void write_config();
    bool start(); // false when the port was taken
    void stop();

    TempDir temp_;
    std::string user_;
    SshKey client_key_;
    unsigned port_ = 0;
    pid_t pid_ = -1;
};

// Runs argv[0] with the arguments, waits, returns its exit status.
int run_process(const std::vector<std::string> &argv);

} // namespace cloudhost::test
