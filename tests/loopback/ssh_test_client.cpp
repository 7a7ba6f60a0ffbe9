#include "ssh_test_client.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace loopback_test {
namespace {

// Bound on how long any one command may take in a test.
constexpr auto command_deadline = std::chrono::seconds(120);

std::runtime_error failure(ssh_session session, const std::string &what) {
    return std::runtime_error(what + ": " + ssh_get_error(session));
}

std::string public_key_line(ssh_key key) {
    char *base64 = nullptr;
    if (ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK)
        throw std::runtime_error("cannot export a public key");
    std::string line = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + base64;
    ssh_string_free_char(base64);
    return line;
}

} // namespace

ClientKey::ClientKey() {
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key_) != SSH_OK)
        throw std::runtime_error("cannot generate an ed25519 key");
}

ClientKey::~ClientKey() {
    ssh_key_free(key_);
}

std::string ClientKey::public_line() const {
    return public_key_line(key_) + " loopback-test";
}

SshTestClient::SshTestClient(const std::string &address) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos)
        throw std::runtime_error("address without a port: " + address);
    const std::string host = address.substr(0, colon);
    const unsigned port = static_cast<unsigned>(std::stoul(address.substr(colon + 1)));
    session_ = ssh_new();
    if (!session_)
        throw std::runtime_error("ssh_new failed");
    const int no = 0, yes = 1;
    const long timeout_seconds = 30;
    ssh_options_set(session_, SSH_OPTIONS_HOST, host.c_str());
    ssh_options_set(session_, SSH_OPTIONS_PORT, &port);
    ssh_options_set(session_, SSH_OPTIONS_PROCESS_CONFIG, &no);
    ssh_options_set(session_, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
    ssh_options_set(session_, SSH_OPTIONS_HOSTKEYS, "ssh-ed25519");
    ssh_options_set(session_, SSH_OPTIONS_NODELAY, &yes);
    ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &timeout_seconds);
    if (ssh_connect(session_) != SSH_OK) {
        const auto error = failure(session_, "connect to " + address);
        ssh_free(session_);
        throw error;
    }
}

SshTestClient::~SshTestClient() {
    ssh_disconnect(session_);
    ssh_free(session_);
}

std::string SshTestClient::host_key() const {
    ssh_key key = nullptr;
    if (ssh_get_server_publickey(session_, &key) != SSH_OK)
        throw failure(session_, "no server public key");
    std::string line = public_key_line(key);
    ssh_key_free(key);
    return line;
}

bool SshTestClient::authenticate(const std::string &user, const ClientKey &key) {
    ssh_options_set(session_, SSH_OPTIONS_USER, user.c_str());
    return ssh_userauth_publickey(session_, nullptr, key.get()) == SSH_AUTH_SUCCESS;
}

SshTestClient::Running SshTestClient::start(const std::string &command,
                                            const std::string &stdin_data, const Environment &env) {
    ssh_channel channel = ssh_channel_new(session_);
    if (!channel)
        throw failure(session_, "channel");
    Running running(channel);
    if (ssh_channel_open_session(channel) != SSH_OK)
        throw failure(session_, "open session channel");
    for (const auto &[name, value] : env)
        if (ssh_channel_request_env(channel, name.c_str(), value.c_str()) != SSH_OK)
            throw failure(session_, "env request " + name);
    if (ssh_channel_request_exec(channel, command.c_str()) != SSH_OK)
        throw failure(session_, "exec request");
    size_t written = 0;
    while (written < stdin_data.size()) {
        const int n = ssh_channel_write(channel, stdin_data.data() + written,
                                        static_cast<uint32_t>(stdin_data.size() - written));
        if (n <= 0)
            throw failure(session_, "write stdin");
        written += static_cast<size_t>(n);
    }
    if (ssh_channel_send_eof(channel) != SSH_OK)
        throw failure(session_, "send eof");
    return running;
}

bool SshTestClient::grants(const std::string &request) {
    ssh_channel channel = ssh_channel_new(session_);
    if (!channel)
        throw failure(session_, "channel");
    Running guard(channel); // closes it
    if (ssh_channel_open_session(channel) != SSH_OK)
        throw failure(session_, "open session channel");
    if (request == "pty-req")
        return ssh_channel_request_pty(channel) == SSH_OK;
    if (request == "shell")
        return ssh_channel_request_shell(channel) == SSH_OK;
    return ssh_channel_request_subsystem(channel, "sftp") == SSH_OK;
}

CommandOutput SshTestClient::run(const std::string &command, const std::string &stdin_data,
                                 const Environment &env) {
    return start(command, stdin_data, env).finish();
}

SshTestClient::Running::Running(Running &&other) noexcept
    : channel_(std::exchange(other.channel_, nullptr)) {}

SshTestClient::Running::~Running() {
    abandon();
}

void SshTestClient::Running::abandon() {
    if (!channel_)
        return;
    ssh_channel_close(channel_);
    ssh_channel_free(channel_);
    channel_ = nullptr;
}

CommandOutput SshTestClient::Running::finish() {
    CommandOutput output;
    char buffer[65536];
    const auto deadline = std::chrono::steady_clock::now() + command_deadline;
    for (;;) {
        const int out = ssh_channel_read_nonblocking(channel_, buffer, sizeof buffer, 0);
        if (out > 0)
            output.out.append(buffer, static_cast<size_t>(out));
        const int err = ssh_channel_read_nonblocking(channel_, buffer, sizeof buffer, 1);
        if (err > 0)
            output.err.append(buffer, static_cast<size_t>(err));
        if (out == SSH_ERROR || err == SSH_ERROR)
            throw std::runtime_error("channel read failed");
        if (out > 0 || err > 0)
            continue;
        if (ssh_channel_is_eof(channel_))
            break;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("command did not finish in time");
        ssh_channel_poll_timeout(channel_, 100, 0);
    }
    output.exit_status = ssh_channel_get_exit_status(channel_);
    abandon();
    return output;
}

} // namespace loopback_test
