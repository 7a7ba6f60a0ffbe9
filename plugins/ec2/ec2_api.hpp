// The EC2 Query API (version 2016-11-15): a form-encoded POST signed with
// SigV4, answered with XML. One call = one HTTP request: no hidden retries.
#pragma once

#include "credentials.hpp"
#include "ec2_config.hpp"
#include "http_client.hpp"
#include "sigv4.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <pugixml.hpp>

#include <memory>
#include <string>

namespace cloudhost::ec2 {

// Request parameters in the Query API's flattened form ("Filter.1.Name").
class QueryParams {
  public:
    QueryParams &add(std::string name, std::string value) {
        items_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    const NameValues &items() const { return items_; }
    std::string form_body(const std::string &action) const; // Action=...&Version=...&...

  private:
    NameValues items_;
};

class Ec2Api {
  public:
    Ec2Api(const Ec2Config &config, sdk::Logger logger);

    // The response document; throws AwsError on an error answer, transport
    // failure or unparseable response.
    std::unique_ptr<pugi::xml_document> call(const std::string &action, const QueryParams &params);

    HttpStats http_stats() const { return http_.stats(); }
    const std::string &credential_origin() const { return credential_origin_; }

  private:
    std::string url_;
    std::string host_header_;
    std::string region_;
    sdk::Logger logger_;
    HttpClient http_;
    CredentialSource credentials_;
    std::string credential_origin_;
};

// Text of a child element ("" if absent).
inline std::string child_text(const pugi::xml_node &node, const char *name) {
    return node.child(name).text().as_string();
}

} // namespace cloudhost::ec2
