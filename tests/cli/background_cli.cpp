#include "background_cli.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char **environ;

namespace cloudhost::test {
namespace fs = std::filesystem;

namespace {
std::string read_all(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
int next_id = 0;
} // namespace

BackgroundProcess::BackgroundProcess(const std::vector<std::string> &argv, const fs::path &dir,
                                     const std::map<std::string, std::string> &env) {
    const std::string id = std::to_string(next_id++);
    out_ = dir / ("bg-" + id + ".out");
    err_ = dir / ("bg-" + id + ".err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::map<std::string, std::string> merged;
    for (char **e = environ; *e; ++e) {
        const std::string kv(*e);
        const auto eq = kv.find('=');
        if (eq != std::string::npos)
            merged[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto &entry : env)
        merged[entry.first] = entry.second;
    std::vector<std::string> env_strings;
    for (const auto &entry : merged)
        env_strings.push_back(entry.first + "=" + entry.second);
    std::vector<std::string> args_copy = argv;
    std::vector<char *> envp, args;
    for (auto &s : env_strings)
        envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto &s : args_copy)
        args.push_back(s.data());
    args.push_back(nullptr);
    // The child starts with default dispositions and nothing blocked.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int rc = posix_spawn(&pid_, args[0], &actions, &attributes, args.data(), envp.data());
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
}

BackgroundProcess::~BackgroundProcess() {
    if (!status_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
}

void BackgroundProcess::signal(int signal_number) const {
    if (!status_)
        ::kill(pid_, signal_number);
}

std::optional<int> BackgroundProcess::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
        int status = 0;
        const pid_t done = waitpid(pid_, &status, WNOHANG);
        if (done == pid_)
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        else if (std::chrono::steady_clock::now() >= deadline)
            break;
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
}

std::string BackgroundProcess::out() const {
    return read_all(out_);
}

std::string BackgroundProcess::err() const {
    return read_all(err_);
}

bool BackgroundProcess::wait_for_output(const std::string &text,
                                        std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (out().find(text) != std::string::npos)
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

int processes_mentioning(const std::string &needle) {
    int count = 0;
    const std::string self = std::to_string(getpid());
    for (const auto &entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name == "self" || name == "thread-self" || name == self)
            continue;
        std::ifstream cmdline(entry.path() / "cmdline", std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(cmdline)), {});
        if (text.find(needle) != std::string::npos)
            ++count;
    }
    return count;
}

} // namespace cloudhost::test
