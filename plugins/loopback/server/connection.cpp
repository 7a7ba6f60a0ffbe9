#include "connection.hpp"

#include "server_log.hpp"
#include "shell_process.hpp"

#include <libssh/callbacks.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <list>
#include <memory>
#include <string>

namespace cloudhost::loopback_server {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A client that has not authenticated by then is dropped.
constexpr auto authentication_deadline = std::chrono::seconds(60);
// How long a poll round may last; bounds how late the deadline is noticed.
constexpr int poll_interval_ms = 1000;
constexpr size_t read_chunk = 64 * 1024;

class CommandChannel;

// A command's stdout or stderr pipe, copied to the channel as the client's
// window allows (flow control: nothing is buffered beyond one read).
struct OutputPipe {
    CommandChannel *owner = nullptr;
    bool is_stderr = false;
    int fd = -1;
    bool registered = false;  // in the event loop
    bool at_eof = false;      // the command closed its end
    bool window_full = false; // wait for the client to open the window
};

// One session channel and the command it runs.
class CommandChannel {
  public:
    explicit CommandChannel(ssh_channel channel) : channel(channel) {
        out.owner = err.owner = this;
        err.is_stderr = true;
    }

    bool started() const { return pid > 0; }
    bool running() const { return started() && !exited; }

    ssh_channel channel;
    ssh_channel_callbacks_struct callbacks{};
    Environment env;
    pid_t pid = -1; // also the command's process group
    bool exited = false;
    int wait_status = 0;
    OutputPipe out, err;
    int stdin_fd = -1;
    bool stdin_registered = false;
    bool stdin_broken = false; // the command closed its stdin
    std::string stdin_pending; // received from the client, not yet taken by the command
    bool client_sent_eof = false;
    bool client_closed = false;
};

class Connection {
  public:
    Connection(ssh_session session, ssh_key authorized_key);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    void run();

  private:
    // libssh callbacks (userdata = Connection or CommandChannel).
    static int on_auth_pubkey(ssh_session, const char *user, ssh_key key, char state, void *self);
    static ssh_channel on_channel_open(ssh_session, void *self);
    static int on_exec(ssh_session, ssh_channel, const char *command, void *channel);
    static int on_env(ssh_session, ssh_channel, const char *name, const char *value, void *channel);
    static int on_data(ssh_session, ssh_channel, void *data, uint32_t len, int is_stderr,
                       void *channel);
    static void on_eof(ssh_session, ssh_channel, void *channel);
    static void on_close(ssh_session, ssh_channel, void *channel);
    static int on_pty(ssh_session, ssh_channel, const char *, int, int, int, int, void *);
    static int on_shell(ssh_session, ssh_channel, void *);
    static int on_subsystem(ssh_session, ssh_channel, const char *, void *);
    static int on_output_readable(socket_t fd, int revents, void *pipe);
    static int on_stdin_writable(socket_t fd, int revents, void *channel);
    static int on_signal(socket_t fd, int revents, void *self);

    static void write_pending_stdin(CommandChannel &channel);
    void start_command(CommandChannel &channel, const std::string &command);
    // Brings the event loop's fd set and each channel's state up to date
    // after a poll round (callbacks only set flags).
    void update_channels();
    void update_output(OutputPipe &pipe, ssh_channel channel);
    void update_stdin(CommandChannel &channel);
    void send_exit_and_close(CommandChannel &channel);
    void release(CommandChannel &channel);
    void kill_command(CommandChannel &channel);
    // Kills what still runs and frees every channel (before ssh_disconnect).
    void release_all_channels();
    void reap_children();
    void close_fd(int &fd, bool &registered);

    ssh_session session_;
    ssh_key authorized_key_;
    ssh_event event_ = nullptr;
    int signal_fd_ = -1;
    bool authenticated_ = false;
    bool terminating_ = false;
    ssh_server_callbacks_struct server_callbacks_{};
    std::list<std::unique_ptr<CommandChannel>> channels_;
};

Connection::Connection(ssh_session session, ssh_key authorized_key)
    : session_(session), authorized_key_(authorized_key) {
    sigset_t signals;
    sigemptyset(&signals);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
        sigaddset(&signals, sig);
    signal_fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
}

Connection::~Connection() {
    release_all_channels();
    if (event_) {
        if (signal_fd_ >= 0)
            ssh_event_remove_fd(event_, signal_fd_);
        ssh_event_remove_session(event_, session_);
        ssh_event_free(event_);
    }
    if (signal_fd_ >= 0)
        ::close(signal_fd_);
}

void Connection::run() {
    const long kex_timeout_seconds = 30;
    ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &kex_timeout_seconds);
    server_callbacks_.userdata = this;
    server_callbacks_.auth_pubkey_function = &on_auth_pubkey;
    server_callbacks_.channel_open_request_session_function = &on_channel_open;
    ssh_callbacks_init(&server_callbacks_);
    ssh_set_server_callbacks(session_, &server_callbacks_);
    if (ssh_handle_key_exchange(session_) != SSH_OK) {
        log_line("key exchange failed: {}", ssh_get_error(session_));
        return;
    }
    ssh_set_auth_methods(session_, SSH_AUTH_METHOD_PUBLICKEY);

    event_ = ssh_event_new();
    if (!event_ || ssh_event_add_session(event_, session_) != SSH_OK || signal_fd_ < 0 ||
        ssh_event_add_fd(event_, signal_fd_, POLLIN, &on_signal, this) != SSH_OK) {
        log_line("cannot set up the connection's event loop");
        return;
    }
    const auto deadline = SteadyClock::now() + authentication_deadline;
    while (!terminating_) {
        if (ssh_event_dopoll(event_, poll_interval_ms) == SSH_ERROR)
            break;
        if (ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR))
            break;
        if (!authenticated_ && SteadyClock::now() > deadline) {
            log_line("client did not authenticate in time");
            break;
        }
        update_channels();
    }
    log_line("connection closed");
    // ssh_disconnect frees the session's channels: ours go first.
    release_all_channels();
    ssh_disconnect(session_);
}

void Connection::release_all_channels() {
    for (auto &channel : channels_)
        kill_command(*channel);
    while (!channels_.empty())
        release(*channels_.front());
}

int Connection::on_auth_pubkey(ssh_session, const char *user, ssh_key key, char state, void *self) {
    auto &connection = *static_cast<Connection *>(self);
    if (ssh_key_cmp(key, connection.authorized_key_, SSH_KEY_CMP_PUBLIC) != 0) {
        log_line("refused public key for user {}: not the authorized key", user);
        return SSH_AUTH_DENIED;
    }
    // NONE: the client asks whether this key would do, before signing.
    if (state == SSH_PUBLICKEY_STATE_NONE)
        return SSH_AUTH_SUCCESS;
    if (state != SSH_PUBLICKEY_STATE_VALID)
        return SSH_AUTH_DENIED;
    // Any user name is accepted: commands always run as the server's user.
    connection.authenticated_ = true;
    log_line("authenticated user {}", user);
    return SSH_AUTH_SUCCESS;
}

ssh_channel Connection::on_channel_open(ssh_session session, void *self) {
    auto &connection = *static_cast<Connection *>(self);
    if (!connection.authenticated_)
        return nullptr;
    ssh_channel channel = ssh_channel_new(session);
    if (!channel)
        return nullptr;
    auto command = std::make_unique<CommandChannel>(channel);
    auto &cb = command->callbacks;
    cb.userdata = command.get();
    cb.channel_exec_request_function = &on_exec;
    cb.channel_env_request_function = &on_env;
    cb.channel_data_function = &on_data;
    cb.channel_eof_function = &on_eof;
    cb.channel_close_function = &on_close;
    cb.channel_pty_request_function = &on_pty;
    cb.channel_shell_request_function = &on_shell;
    cb.channel_subsystem_request_function = &on_subsystem;
    ssh_callbacks_init(&cb);
    ssh_set_channel_callbacks(channel, &cb);
    connection.channels_.push_back(std::move(command));
    return channel;
}

int Connection::on_exec(ssh_session, ssh_channel, const char *command, void *channel) {
    auto &self = *static_cast<CommandChannel *>(channel);
    if (self.started())
        return 1; // one command per channel
    std::string text = command;
    // As Arvados's loopback driver does: commands run as the server's user
    // anyway, and callers written for real VMs prefix "sudo ".
    if (text.starts_with("sudo "))
        text.erase(0, 5);
    try {
        ShellProcess process = start_shell(text, self.env, ShellIo::pipes);
        self.pid = process.pid;
        self.stdin_fd = process.stdin_fd;
        self.out.fd = process.stdout_fd;
        self.err.fd = process.stderr_fd;
    } catch (const std::exception &e) {
        log_line("exec failed: {}", e.what());
        return 1;
    }
    log_line("exec pid {}: {}", self.pid, text);
    return 0;
}

int Connection::on_env(ssh_session, ssh_channel, const char *name, const char *value,
                       void *channel) {
    auto &self = *static_cast<CommandChannel *>(channel);
    if (!*name || std::strchr(name, '=') || self.started())
        return 1;
    self.env.push_back(std::string(name) + "=" + value);
    return 0;
}

int Connection::on_data(ssh_session, ssh_channel, void *data, uint32_t len, int is_stderr,
                        void *channel) {
    auto &self = *static_cast<CommandChannel *>(channel);
    // Stdin that arrives before exec, after the command closed its stdin, or
    // on the extended (stderr) stream has nowhere to go.
    if (is_stderr || self.stdin_fd < 0 || self.stdin_broken)
        return static_cast<int>(len);
    self.stdin_pending.append(static_cast<const char *>(data), len);
    write_pending_stdin(self);
    return static_cast<int>(len);
}

void Connection::on_eof(ssh_session, ssh_channel, void *channel) {
    static_cast<CommandChannel *>(channel)->client_sent_eof = true;
}

void Connection::on_close(ssh_session, ssh_channel, void *channel) {
    static_cast<CommandChannel *>(channel)->client_closed = true;
}

int Connection::on_pty(ssh_session, ssh_channel, const char *, int, int, int, int, void *) {
    log_line("refused pty request: only exec is served");
    return -1;
}

int Connection::on_shell(ssh_session, ssh_channel, void *) {
    log_line("refused shell request: only exec is served");
    return 1;
}

int Connection::on_subsystem(ssh_session, ssh_channel, const char *name, void *) {
    log_line("refused subsystem request {}: only exec is served", name);
    return 1;
}

int Connection::on_output_readable(socket_t fd, int, void *pipe_ptr) {
    auto &pipe = *static_cast<OutputPipe *>(pipe_ptr);
    auto &channel = *pipe.owner;
    size_t room = read_chunk;
    if (!channel.client_closed) {
        room = std::min<size_t>(room, ssh_channel_window_size(channel.channel));
        if (room == 0) {
            pipe.window_full = true;
            return 0;
        }
    }
    char buffer[read_chunk];
    const ssize_t n = ::read(fd, buffer, room);
    if (n > 0 && !channel.client_closed) {
        const uint32_t size = static_cast<uint32_t>(n);
        const int rc = pipe.is_stderr ? ssh_channel_write_stderr(channel.channel, buffer, size)
                                      : ssh_channel_write(channel.channel, buffer, size);
        if (rc == SSH_ERROR)
            channel.client_closed = true;
    } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        pipe.at_eof = true;
    }
    return 0;
}

int Connection::on_stdin_writable(socket_t, int, void *channel) {
    write_pending_stdin(*static_cast<CommandChannel *>(channel));
    return 0;
}

void Connection::write_pending_stdin(CommandChannel &channel) {
    while (!channel.stdin_pending.empty() && channel.stdin_fd >= 0) {
        const ssize_t n =
            ::write(channel.stdin_fd, channel.stdin_pending.data(), channel.stdin_pending.size());
        if (n > 0) {
            channel.stdin_pending.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else {
            // EPIPE: the command does not read its stdin (any more).
            channel.stdin_pending.clear();
            channel.stdin_broken = true;
            return;
        }
    }
}

int Connection::on_signal(socket_t fd, int, void *self) {
    auto &connection = *static_cast<Connection *>(self);
    signalfd_siginfo info{};
    while (::read(fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        if (info.ssi_signo == SIGCHLD)
            connection.reap_children();
        else
            connection.terminating_ = true;
    }
    return 0;
}

void Connection::reap_children() {
    for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (auto &channel : channels_)
            if (channel->pid == pid) {
                channel->exited = true;
                channel->wait_status = status;
            }
    }
}

void Connection::close_fd(int &fd, bool &registered) {
    if (fd < 0)
        return;
    if (registered && event_)
        ssh_event_remove_fd(event_, fd);
    registered = false;
    ::close(fd);
    fd = -1;
}

void Connection::update_output(OutputPipe &pipe, ssh_channel channel) {
    if (pipe.fd < 0)
        return;
    if (pipe.at_eof) {
        close_fd(pipe.fd, pipe.registered);
        return;
    }
    if (pipe.window_full && ssh_channel_window_size(channel) > 0)
        pipe.window_full = false;
    const bool wanted = !pipe.window_full;
    if (wanted && !pipe.registered)
        pipe.registered =
            ssh_event_add_fd(event_, pipe.fd, POLLIN, &on_output_readable, &pipe) == SSH_OK;
    else if (!wanted && pipe.registered) {
        ssh_event_remove_fd(event_, pipe.fd);
        pipe.registered = false;
    }
}

void Connection::update_stdin(CommandChannel &channel) {
    if (channel.stdin_fd < 0)
        return;
    const bool drained = channel.stdin_pending.empty();
    if (channel.stdin_broken || (drained && (channel.client_sent_eof || channel.client_closed))) {
        // The command sees EOF on its stdin.
        close_fd(channel.stdin_fd, channel.stdin_registered);
        return;
    }
    const bool wanted = !drained;
    if (wanted && !channel.stdin_registered)
        channel.stdin_registered = ssh_event_add_fd(event_, channel.stdin_fd, POLLOUT,
                                                    &on_stdin_writable, &channel) == SSH_OK;
    else if (!wanted && channel.stdin_registered) {
        ssh_event_remove_fd(event_, channel.stdin_fd);
        channel.stdin_registered = false;
    }
}

void Connection::update_channels() {
    for (auto it = channels_.begin(); it != channels_.end();) {
        CommandChannel &channel = **it++; // release() erases the current element
        if (channel.client_closed) {
            // The client gave up (e.g. its timeout): the command goes too.
            kill_command(channel);
            release(channel);
            continue;
        }
        update_stdin(channel);
        update_output(channel.out, channel.channel);
        update_output(channel.err, channel.channel);
        if (channel.started() && channel.exited && channel.out.fd < 0 && channel.err.fd < 0)
            send_exit_and_close(channel);
    }
}

void Connection::send_exit_and_close(CommandChannel &channel) {
    const int code = exit_code_of(channel.wait_status);
    ssh_channel_send_eof(channel.channel);
    ssh_channel_request_send_exit_status(channel.channel, code);
    log_line("pid {} exited with status {}", channel.pid, code);
    release(channel); // ssh_channel_free sends the close
}

void Connection::kill_command(CommandChannel &channel) {
    if (!channel.running())
        return;
    ::kill(-channel.pid, SIGKILL);
    int status = 0;
    while (waitpid(channel.pid, &status, 0) < 0 && errno == EINTR) {
    }
    channel.exited = true;
    channel.wait_status = status;
    log_line("killed pid {}: its channel was closed", channel.pid);
}

void Connection::release(CommandChannel &channel) {
    close_fd(channel.stdin_fd, channel.stdin_registered);
    close_fd(channel.out.fd, channel.out.registered);
    close_fd(channel.err.fd, channel.err.registered);
    // libssh keeps a freed channel until the client's close arrives; it
    // must not call back into memory we are about to free.
    ssh_remove_channel_callbacks(channel.channel, &channel.callbacks);
    ssh_channel_free(channel.channel);
    channels_.remove_if([&](const auto &c) { return c.get() == &channel; });
}

} // namespace

void serve_connection(ssh_bind bind, int client_fd, ssh_key authorized_key) {
    ssh_session session = ssh_new();
    if (!session) {
        ::close(client_fd);
        return;
    }
    if (ssh_bind_accept_fd(bind, session, client_fd) != SSH_OK) {
        log_line("cannot accept the connection: {}", ssh_get_error(bind));
        ssh_free(session); // closes client_fd
        return;
    }
    {
        Connection connection(session, authorized_key);
        connection.run();
    }
    ssh_free(session);
}

} // namespace cloudhost::loopback_server
