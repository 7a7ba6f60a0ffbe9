// A real Prometheus server for tests: started on 127.0.0.1 (a free port, a
// temporary storage directory, scrape_interval 1s) scraping one target, and
// queried through its HTTP API (/api/v1/query). Stopped (SIGTERM, then
// SIGKILL) and its directory removed at scope exit.
#pragma once

#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

extern char **environ;

namespace metrics_test {

// A port nothing listens on now (the kernel's choice for port 0).
inline uint16_t free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0);
    close(fd);
    return ntohs(addr.sin_port);
}

class PrometheusServer {
  public:
    // Scrapes http://127.0.0.1:<target_port>/metrics every second.
    explicit PrometheusServer(uint16_t target_port) : dir_("cloudhost-prometheus") {
        port_ = free_port();
        const std::string config = (dir_ / "prometheus.yml").string();
        std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                              << "scrape_configs:\n  - job_name: cloudhost\n"
                              << "    static_configs:\n      - targets: ['127.0.0.1:" << target_port
                              << "']\n";
        const std::string log = (dir_ / "prometheus.log").string();
        std::vector<std::string> argv{"prometheus", "--config.file=" + config,
                                      "--storage.tsdb.path=" + (dir_ / "data").string(),
                                      "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                      "--log.level=warn"};
        std::vector<char *> args;
        for (auto &a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const int rc = posix_spawnp(&pid_, "prometheus", &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE_MESSAGE(rc == 0, "cannot start prometheus (package prometheus)");
    }
    ~PrometheusServer() {
        if (pid_ <= 0)
            return;
        kill(pid_, SIGTERM);
        for (int i = 0; i < 100; ++i) { // 10 s, then no more waiting
            if (waitpid(pid_, nullptr, WNOHANG) == pid_)
                return;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    PrometheusServer(const PrometheusServer &) = delete;
    PrometheusServer &operator=(const PrometheusServer &) = delete;

    // The value of an instant query whose answer is one sample, or nothing
    // (no data yet, Prometheus not up yet, or several samples).
    std::optional<double> query(const std::string &promql) const {
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(2, 0);
        client.set_read_timeout(5, 0);
        auto res =
            client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
        if (!res || res->status != 200)
            return std::nullopt;
        rapidjson::Document doc;
        doc.Parse(res->body.c_str());
        if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("data"))
            return std::nullopt;
        const auto &result = doc["data"]["result"];
        if (!result.IsArray() || result.Size() != 1)
            return std::nullopt;
        const auto &value = result[0]["value"];
        if (!value.IsArray() || value.Size() != 2 || !value[1].IsString())
            return std::nullopt;
        return std::stod(value[1].GetString());
    }

    // Polls `promql` until it answers `want` (bounded: `timeout`); returns
    // the last answer, so a failing CHECK shows what Prometheus saw.
    std::optional<double> wait_for(const std::string &promql, double want,
                                   std::chrono::seconds timeout = std::chrono::seconds(60)) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::optional<double> last;
        while (std::chrono::steady_clock::now() < deadline) {
            last = query(promql);
            if (last && *last == want)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
        return last;
    }

    std::string log() const {
        std::ifstream in(dir_ / "prometheus.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

  private:
    cloudhost::test::TempDir dir_;
    uint16_t port_ = 0;
    pid_t pid_ = -1;
};

} // namespace metrics_test
