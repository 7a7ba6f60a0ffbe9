// HTTP(S) requests with libcurl. Connections are kept alive and reused: each
// easy handle keeps its own connection cache, and handles go back to a pool
// after every request, so N threads calling at once use at most N
// connections and a sequential caller reuses one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cloudhost::ec2 {

struct HttpOptions {
    std::string ca_file; // "" = the system's CA store
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds request_timeout{60'000};
    std::size_t max_response_bytes = 64u << 20;
};

struct HttpRequest {
    std::string method = "POST";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct HttpResponse {
    long status = 0;
    std::string body;
    std::string request_id; // x-amzn-requestid, when the server sent one
};

struct HttpStats {
    uint64_t requests = 0;
    uint64_t new_connections = 0; // for https: TLS handshakes
    uint64_t transfer_ns = 0;     // time spent inside libcurl
};

class HttpClient {
  public:
    explicit HttpClient(HttpOptions options);
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    // Throws std::runtime_error on transport failures (the message says
    // which: connect, timeout, TLS, response too large). Any HTTP status is
    // a response.
    HttpResponse perform(const HttpRequest &request);

    HttpStats stats() const;

  private:
    void *take_handle();
    void give_back(void *handle);

    const HttpOptions options_;
    std::mutex mutex_; // guards idle_
    std::vector<void *> idle_;
    std::atomic<uint64_t> requests_{0};
    std::atomic<uint64_t> new_connections_{0};
    std::atomic<uint64_t> transfer_ns_{0};
};

} // namespace cloudhost::ec2
