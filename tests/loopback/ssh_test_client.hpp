// A small libssh client for the loopback tests: connect, look at the host
// key, authenticate with a key, run commands (one channel each, or several
// open at once). Not the host's SSH executor: the tests check the server.
#pragma once

#include <libssh/libssh.h>

#include <map>
#include <string>

namespace loopback_test {

// An ed25519 key pair generated in memory.
class ClientKey {
  public:
    ClientKey();
    ~ClientKey();
    ClientKey(const ClientKey &) = delete;
    ClientKey &operator=(const ClientKey &) = delete;
    ssh_key get() const { return key_; }
    // "ssh-ed25519 AAAA... comment", as Create takes it.
    std::string public_line() const;

  private:
    ssh_key key_ = nullptr;
};

struct CommandOutput {
    std::string out;
    std::string err;
    int exit_status = -1;
};

using Environment = std::map<std::string, std::string>;

class SshTestClient {
  public:
    // Connects to "127.0.0.1:PORT" and completes the key exchange. Throws
    // std::runtime_error.
    explicit SshTestClient(const std::string &address);
    ~SshTestClient();
    SshTestClient(const SshTestClient &) = delete;
    SshTestClient &operator=(const SshTestClient &) = delete;

    // The server's host key, "ssh-ed25519 AAAA...".
    std::string host_key() const;
    bool authenticate(const std::string &user, const ClientKey &key);

    // Runs one command on a new channel and waits for its end. Throws
    // std::runtime_error when the channel fails.
    CommandOutput run(const std::string &command, const std::string &stdin_data = {},
                      const Environment &env = {});

    // Whether the server grants "pty-req", "shell" or "subsystem" (sftp) on
    // a fresh session channel.
    bool grants(const std::string &request);

    // A started command whose channel stays open until finish()/abandon().
    class Running {
      public:
        ~Running();
        Running(Running &&other) noexcept;
        Running(const Running &) = delete;
        Running &operator=(const Running &) = delete;
        Running &operator=(Running &&) = delete;
        // Reads to the end and closes the channel.
        CommandOutput finish();
        // Closes the channel without waiting, as a client whose timeout
        // expired does.
        void abandon();
        // Leaves the channel open: disconnecting the client then drops the
        // connection under a running command.
        void leave_open() { channel_ = nullptr; }

      private:
        friend class SshTestClient;
        explicit Running(ssh_channel channel) : channel_(channel) {}
        ssh_channel channel_;
    };
    Running start(const std::string &command, const std::string &stdin_data = {},
                  const Environment &env = {});

  private:
    ssh_session session_ = nullptr;
};

} // namespace loopback_test
