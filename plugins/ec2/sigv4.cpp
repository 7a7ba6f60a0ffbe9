#include "sigv4.hpp"

#include "crypto.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace cloudhost::ec2 {
namespace {

std::string lowercase(std::string text) {
    for (char &c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// Trims the value and collapses runs of spaces to one, as SigV4 requires.
std::string canonical_header_value(std::string_view value) {
    std::string out;
    bool space = false;
    for (const char c : value) {
        if (c == ' ' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c;
    }
    return out;
}

} // namespace

std::string amz_date(std::chrono::system_clock::time_point time) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &utc);
    return buffer;
}

std::string uri_encode(std::string_view text, bool keep_slash) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

SignatureParts sign_v4(const SigningRequest &request, const AwsCredentials &credentials,
                       const std::string &region, const std::string &service,
                       const std::string &amz_date_value) {
    // Query: encoded names and values sorted by name, then value.
    std::vector<std::pair<std::string, std::string>> query;
    for (const auto &[name, value] : request.query)
        query.emplace_back(uri_encode(name), uri_encode(value));
    std::sort(query.begin(), query.end());
    std::string canonical_query;
    for (const auto &[name, value] : query)
        canonical_query += (canonical_query.empty() ? "" : "&") + name + "=" + value;

    // Headers: lowercase names, sorted; repeated names joined with commas.
    std::map<std::string, std::string> headers;
    for (const auto &[name, value] : request.headers) {
        std::string &joined = headers[lowercase(name)];
        joined += (joined.empty() ? "" : ",") + canonical_header_value(value);
    }
    std::string canonical_headers, signed_headers;
    for (const auto &[name, value] : headers) {
        canonical_headers += name + ":" + value + "\n";
        signed_headers += (signed_headers.empty() ? "" : ";") + name;
    }

    SignatureParts parts;
    parts.canonical_request = request.method + "\n" +
                              uri_encode(request.path.empty() ? "/" : request.path, true) + "\n" +
                              canonical_query + "\n" + canonical_headers + "\n" + signed_headers +
                              "\n" + hex(sha256(request.body));

    const std::string date = amz_date_value.substr(0, 8);
    const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
    parts.string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date_value + "\n" + scope + "\n" +
                           hex(sha256(parts.canonical_request));

    const std::string key_date = hmac_sha256("AWS4" + credentials.secret_access_key, date);
    const std::string key_region = hmac_sha256(key_date, region);
    const std::string key_service = hmac_sha256(key_region, service);
    const std::string signing_key = hmac_sha256(key_service, "aws4_request");
    parts.signature = hex(hmac_sha256(signing_key, parts.string_to_sign));
    parts.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                          ", SignedHeaders=" + signed_headers + ", Signature=" + parts.signature;
    return parts;
}

void add_signing_headers(SigningRequest &request, const AwsCredentials &credentials,
                         const std::string &region, const std::string &service,
                         std::chrono::system_clock::time_point now) {
    const std::string date = amz_date(now);
    request.headers.emplace_back("X-Amz-Date", date);
    if (!credentials.session_token.empty())
        request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
    const SignatureParts parts = sign_v4(request, credentials, region, service, date);
    request.headers.emplace_back("Authorization", parts.authorization);
}

} // namespace cloudhost::ec2
