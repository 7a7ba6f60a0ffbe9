#include "http_client.hpp"

#include <curl/curl.h>

#include <cctype>
#include <functional>
#include <memory>
#include <stdexcept>

namespace cloudhost::ec2 {
namespace {

constexpr std::size_t max_idle_handles = 32;

struct Collected {
    HttpResponse *response;
    std::size_t limit;
    bool too_large = false;
};

std::size_t on_body(char *data, std::size_t size, std::size_t count, void *context) {
    auto *collected = static_cast<Collected *>(context);
    const std::size_t n = size * count;
    if (collected->response->body.size() + n > collected->limit) {
        collected->too_large = true;
        return 0; // aborts the transfer
    }
    collected->response->body.append(data, n);
    return n;
}

bool header_named(std::string_view line, std::string_view name) {
    if (line.size() <= name.size() || line[name.size()] != ':')
        return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(line[i])) != name[i])
            return false;
    return true;
}

std::size_t on_header(char *data, std::size_t size, std::size_t count, void *context) {
    auto *collected = static_cast<Collected *>(context);
    const std::size_t n = size * count;
    const std::string_view line(data, n);
    if (header_named(line, "x-amzn-requestid") || header_named(line, "x-amz-request-id")) {
        std::string_view value = line.substr(line.find(':') + 1);
        while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
            value.remove_prefix(1);
        while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
            value.remove_suffix(1);
        collected->response->request_id.assign(value.substr(0, 128));
    }
    return n;
}

struct SlistDeleter {
    void operator()(curl_slist *list) const { curl_slist_free_all(list); }
};

} // namespace

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
    // Reference-counted and thread-safe in libcurl >= 7.84; paired below.
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        throw std::runtime_error("ec2: curl_global_init failed");
}

HttpClient::~HttpClient() {
    for (void *handle : idle_)
        curl_easy_cleanup(static_cast<CURL *>(handle));
    curl_global_cleanup();
}

void *HttpClient::take_handle() {
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            void *handle = idle_.back();
            idle_.pop_back();
            return handle;
        }
    }
    CURL *handle = curl_easy_init();
    if (!handle)
        throw std::runtime_error("ec2: curl_easy_init failed");
    return handle;
}

void HttpClient::give_back(void *handle) {
    {
        std::lock_guard lock(mutex_);
        if (idle_.size() < max_idle_handles) {
            idle_.push_back(handle);
            return;
        }
    }
    curl_easy_cleanup(static_cast<CURL *>(handle));
}

HttpResponse HttpClient::perform(const HttpRequest &request) {
    CURL *curl = static_cast<CURL *>(take_handle());
    // Back to the pool whatever happens; reset keeps its live connections.
    const std::unique_ptr<CURL, std::function<void(CURL *)>> keep(curl, [this](CURL *c) {
        curl_easy_reset(c);
        give_back(c);
    });

    HttpResponse response;
    Collected collected{&response, options_.max_response_bytes};
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    for (const auto &[name, value] : request.headers) {
        curl_slist *grown = curl_slist_append(headers.get(), (name + ": " + value).c_str());
        if (!grown)
            throw std::runtime_error("ec2: out of memory building request headers");
        (void)headers.release();
        headers.reset(grown);
    }
    // No "Expect: 100-continue" round trip for large bodies.
    if (curl_slist *grown = curl_slist_append(headers.get(), "Expect:")) {
        (void)headers.release();
        headers.reset(grown);
    }

    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); // threads: no SIGALRM for timeouts
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty())
        curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &collected);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &collected);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); // gzip if the server offers it
    if (request.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
    } else if (request.method != "GET") {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        if (!request.body.empty() || request.method == "PUT") {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request.body.size()));
        }
    }

    char error_text[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
    const auto started = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(curl);
    transfer_ns_ += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - started)
                                              .count());
    ++requests_;
    long connects = 0;
    if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        new_connections_ += static_cast<uint64_t>(connects);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    if (collected.too_large)
        throw std::runtime_error("response from " + request.url + " is larger than " +
                                 std::to_string(options_.max_response_bytes) + " bytes");
    if (rc != CURLE_OK)
        throw std::runtime_error(std::string("request to ") + request.url + " failed: " +
                                 (error_text[0] ? error_text : curl_easy_strerror(rc)));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

HttpStats HttpClient::stats() const {
    return {requests_.load(), new_connections_.load(), transfer_ns_.load()};
}

} // namespace cloudhost::ec2
