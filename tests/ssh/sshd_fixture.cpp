#include "sshd_fixture.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <map>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char **environ;

namespace cloudhost::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char *sshd_binary = "/usr/sbin/sshd";

std::string current_user() {
    const passwd *entry = ::getpwuid(::getuid());
    if (entry == nullptr) {
        throw std::runtime_error("cannot find the current user's name");
    }
    return entry->pw_name;
}

unsigned free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0) {
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

bool accepts_connections(unsigned port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
}

// Every process below `root`, found through /proc (parent pid field).
std::vector<pid_t> descendants(pid_t root) {
    std::multimap<pid_t, pid_t> children;
    for (const auto &entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) {
            continue;
        }
        size_t after_name = line.rfind(')');
        if (after_name == std::string::npos) {
            continue;
        }
        std::istringstream rest(line.substr(after_name + 1));
        char state = 0;
        pid_t parent = 0;
        rest >> state >> parent;
        children.emplace(parent, static_cast<pid_t>(std::stol(name)));
    }
    std::vector<pid_t> found;
    std::vector<pid_t> pending{root};
    while (!pending.empty()) {
        pid_t next = pending.back();
        pending.pop_back();
        auto [begin, end] = children.equal_range(next);
        for (auto it = begin; it != end; ++it) {
            found.push_back(it->second);
            pending.push_back(it->second);
        }
    }
    return found;
}

void write_file(const fs::path &path, const std::string &contents, fs::perms mode) {
    std::ofstream out(path, std::ios::trunc);
    out << contents;
    out.close();
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
    fs::permissions(path, mode);
}

} // namespace

int run_process(const std::vector<std::string> &argv) {
    std::vector<char *> args;
    for (const auto &arg : argv) {
        args.push_back(const_cast<char *>(arg.c_str()));
    }
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot run " + argv[0]);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

SshdServer::SshdServer()
    : user_(current_user()), client_key_(SshKey::load_or_generate(dir() / "client_ed25519")) {
    if (::getuid() == 0) {
        fs::create_directories("/run/sshd"); // privilege separation directory
    }
    write_file(dir() / "authorized_keys", client_key_.public_key_openssh() + "\n",
               fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                   fs::perms::others_read);
    generate_host_key();
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_port();
        write_config();
        if (start()) {
            return;
        }
    }
    std::ifstream log(dir() / "sshd.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    throw std::runtime_error("sshd did not start: " + text);
}

SshdServer::~SshdServer() {
    stop();
}

std::string SshdServer::host_public_key() const {
    std::ifstream in(dir() / "host_ed25519.pub");
    std::string type;
    std::string base64;
    in >> type >> base64;
    return type + " " + base64;
}

void SshdServer::generate_host_key() {
    fs::remove(dir() / "host_ed25519");
    fs::remove(dir() / "host_ed25519.pub");
    const std::string key = (dir() / "host_ed25519").string();
    if (run_process({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key}) != 0) {
        throw std::runtime_error("ssh-keygen failed");
    }
}

void SshdServer::write_config() {
    std::ostringstream config;
    config << "Port " << port_ << "\n"
           << "ListenAddress 127.0.0.1\n"
           << "HostKey " << (dir() / "host_ed25519").string() << "\n"
           << "PidFile " << (dir() / "sshd.pid").string() << "\n"
           << "AuthorizedKeysFile " << (dir() / "authorized_keys").string() << "\n"
           << "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
           << "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
           << "MaxSessions 100\nMaxStartups 100:30:200\nAcceptEnv *\nUseDNS no\n"
           << "LogLevel ERROR\n";
    write_file(dir() / "sshd_config", config.str(), fs::perms::owner_read | fs::perms::owner_write);
}

bool SshdServer::start() {
    const std::string config = (dir() / "sshd_config").string();
    const std::string log = (dir() / "sshd.log").string();
    std::vector<std::string> argv{sshd_binary, "-D", "-e", "-f", config};
    std::vector<char *> args;
    for (auto &arg : argv) {
        args.push_back(arg.data());
    }
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int rc = ::posix_spawn(&pid_, sshd_binary, &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot run " + std::string(sshd_binary));
    }
    for (int i = 0; i < 200; ++i) { // up to 10 s
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false; // exited: most likely the port was taken meanwhile
        }
        if (accepts_connections(port_)) {
            return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    stop();
    return false;
}

void SshdServer::kill_connections() {
    if (pid_ <= 0) {
        return;
    }
    // Only sshd's own processes: killing them drops the TCP connections.
    // The users' commands are left to end on their own (their pipes close);
    // killing a shell in its start-up files could leave a lock behind (root's
    // pyenv rehash lock, for one).
    auto sshd_processes = [this] {
        std::vector<pid_t> found;
        for (pid_t process : descendants(pid_)) {
            std::ifstream comm("/proc/" + std::to_string(process) + "/comm");
            std::string name;
            if (std::getline(comm, name) && name == "sshd") {
                found.push_back(process);
            }
        }
        return found;
    };
    for (pid_t process : sshd_processes()) {
        ::kill(process, SIGKILL);
    }
    // Wait (bounded) until the listener has reaped them.
    for (int i = 0; i < 100 && !sshd_processes().empty(); ++i) {
        std::this_thread::sleep_for(20ms);
    }
}

void SshdServer::stop() {
    if (pid_ <= 0) {
        return;
    }
    kill_connections();
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

void SshdServer::restart(bool new_host_key) {
    stop();
    if (new_host_key) {
        generate_host_key();
    }
    if (!start()) {
        throw std::runtime_error("sshd did not restart on port " + std::to_string(port_));
    }
}

} // namespace cloudhost::test
