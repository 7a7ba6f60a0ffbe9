// AWS Signature Version 4 (header-based), as documented in "Create a signed
// AWS API request": canonical request, string to sign, signing key chain.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace cloudhost::ec2 {

struct AwsCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token; // "" without a session
};

using NameValues = std::vector<std::pair<std::string, std::string>>;

struct SigningRequest {
    std::string method = "POST";
    std::string path = "/";
    NameValues query;   // unencoded names and values
    NameValues headers; // must include "Host"; signed as given (names lowercased)
    std::string body;
};

struct SignatureParts {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;     // lowercase hex
    std::string authorization; // the Authorization header's value
};

// "20150830T123600Z" for `time` in UTC.
std::string amz_date(std::chrono::system_clock::time_point time);

// Percent-encodes every byte but A-Z a-z 0-9 - _ . ~ (RFC 3986, as SigV4 and
// the EC2 Query API's form bodies require).
std::string uri_encode(std::string_view text, bool keep_slash = false);

// Signs `request` as it will be sent. `amz_date_value` must also be the
// request's X-Amz-Date header (and a session token its X-Amz-Security-Token):
// add_signing_headers() adds both.
SignatureParts sign_v4(const SigningRequest &request, const AwsCredentials &credentials,
                       const std::string &region, const std::string &service,
                       const std::string &amz_date_value);

// Adds X-Amz-Date (and X-Amz-Security-Token), signs, adds Authorization.
void add_signing_headers(SigningRequest &request, const AwsCredentials &credentials,
                         const std::string &region, const std::string &service,
                         std::chrono::system_clock::time_point now);

} // namespace cloudhost::ec2
