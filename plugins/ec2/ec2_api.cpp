#include "ec2_api.hpp"

#include "ec2_errors.hpp"

#include <curl/curl.h>

#include <chrono>

namespace cloudhost::ec2 {
namespace {

constexpr const char *api_version = "2016-11-15";

// "host" or "host:port" as the URL names it (what curl sends as Host).
std::string host_of(const std::string &url) {
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
        throw sdk::InvalidConfigError(
            "ec2 config: \"endpoint\" must be an http:// or https:// URL");
    std::string host;
    char *text = nullptr;
    if (curl_url_get(parsed.get(), CURLUPART_HOST, &text, 0) == CURLUE_OK && text)
        host = text;
    curl_free(text);
    text = nullptr;
    if (curl_url_get(parsed.get(), CURLUPART_PORT, &text, 0) == CURLUE_OK && text)
        host += std::string(":") + text; // only when the URL names a port
    curl_free(text);
    return host;
}

std::string path_of(const std::string &url) {
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
    std::string path = "/";
    char *text = nullptr;
    if (parsed && curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
        curl_url_get(parsed.get(), CURLUPART_PATH, &text, 0) == CURLUE_OK && text)
        path = text;
    curl_free(text);
    return path;
}

} // namespace

std::string QueryParams::form_body(const std::string &action) const {
    std::string body = "Action=" + uri_encode(action) + "&Version=" + api_version;
    for (const auto &[name, value] : items_)
        body += "&" + uri_encode(name) + "=" + uri_encode(value);
    return body;
}

Ec2Api::Ec2Api(const Ec2Config &config, sdk::Logger logger)
    : url_(config.endpoint), host_header_(host_of(config.endpoint)), region_(config.region),
      logger_(logger), http_(HttpOptions{config.ca_file, config.connect_timeout,
                                         config.request_timeout, 256u << 20}),
      credentials_(config, logger), credential_origin_(credentials_.origin()) {}

std::unique_ptr<pugi::xml_document> Ec2Api::call(const std::string &action,
                                                 const QueryParams &params) {
    AwsCredentials credentials;
    try {
        credentials = credentials_.get();
    } catch (const sdk::Error &e) {
        throw AwsError(action, "", e.what(), "", 0);
    }
    SigningRequest signing;
    signing.path = path_of(url_);
    signing.body = params.form_body(action);
    signing.headers = {{"Host", host_header_},
                       {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    add_signing_headers(signing, credentials, region_, "ec2", sdk::Clock::now());

    HttpRequest request;
    request.url = url_;
    request.headers = std::move(signing.headers);
    request.body = std::move(signing.body);

    const auto started = std::chrono::steady_clock::now();
    HttpResponse response;
    try {
        response = http_.perform(request);
    } catch (const std::exception &e) {
        logger_.warn("ec2 request failed", {{"action", action}, {"error", e.what()}});
        throw AwsError(action, "", e.what(), "", 0);
    }
    const auto elapsed_ms = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - started)
                                               .count());

    auto doc = std::make_unique<pugi::xml_document>();
    const pugi::xml_parse_result parsed =
        doc->load_buffer(response.body.data(), response.body.size(), pugi::parse_default);
    const pugi::xml_node root = doc->document_element();
    std::string request_id = response.request_id;
    if (request_id.empty())
        request_id =
            printable(child_text(root, "requestId").empty() ? child_text(root, "RequestID")
                                                            : child_text(root, "requestId"),
                      128);
    const std::string status = std::to_string(response.status);

    if (response.status == 200 && parsed && std::string_view(root.name()) != "Response") {
        if (logger_.enabled(CH_LOG_DEBUG))
            logger_.debug("ec2 call", {{"action", action},
                                       {"request_id", request_id},
                                       {"http_status", status},
                                       {"ms", elapsed_ms}});
        return doc;
    }
    // Errors: <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
    const pugi::xml_node error = root.child("Errors").child("Error");
    std::string code = child_text(error, "Code");
    std::string message = child_text(error, "Message");
    if (!parsed || !error) {
        code.clear();
        message = "unexpected response (HTTP " + status + ", " +
                  (parsed ? "no Errors element" : std::string("not XML: ") + parsed.description()) +
                  ")";
    }
    logger_.warn("ec2 call failed", {{"action", action},
                                     {"request_id", request_id},
                                     {"http_status", status},
                                     {"error_code", printable(code, 128)},
                                     {"ms", elapsed_ms}});
    throw AwsError(action, code, message, request_id, response.status);
}

} // namespace cloudhost::ec2
