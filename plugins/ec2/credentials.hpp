// Where the driver's AWS credentials come from, in the SDKs' order: the
// config, the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), the shared credentials file (AWS_SHARED_CREDENTIALS_FILE
// or ~/.aws/credentials, profile from the config, AWS_PROFILE or "default"),
// else the instance role through IMDSv2, refreshed 5 minutes before expiry.
#pragma once

#include "ec2_config.hpp"
#include "http_client.hpp"
#include "sigv4.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace cloudhost::ec2 {

class CredentialSource {
  public:
    // Resolves the static sources now (a malformed file is an
    // InvalidConfigError); IMDS is asked at the first get().
    CredentialSource(const Ec2Config &config, sdk::Logger logger);
    ~CredentialSource();
    CredentialSource(const CredentialSource &) = delete;
    CredentialSource &operator=(const CredentialSource &) = delete;

    // Thread-safe. Role credentials are refreshed 5 minutes before they
    // expire, or half-way through their life when that is shorter.
    AwsCredentials get();
    std::string origin() const { return origin_; } // for logs: "config", "environment", ...

    static constexpr std::chrono::minutes refresh_margin{5};

  private:
    AwsCredentials fetch_from_imds(sdk::Clock::time_point &expiration);

    sdk::Logger logger_;
    std::string origin_;
    std::string imds_endpoint_;
    std::unique_ptr<HttpClient> imds_http_;
    std::mutex mutex_; // guards current_, expiration_
    std::optional<AwsCredentials> current_;
    sdk::Clock::time_point expiration_{sdk::Clock::time_point::max()};
    sdk::Clock::time_point refresh_at_{sdk::Clock::time_point::max()};
};

// Parses an AWS shared credentials file's `profile` section. std::nullopt if
// the profile is absent; throws InvalidConfigError naming file:line on a
// malformed or incomplete profile.
std::optional<AwsCredentials> read_shared_credentials(const std::string &path,
                                                      const std::string &text,
                                                      const std::string &profile);

// "2026-11-30T21:00:00Z" -> time point; std::nullopt if malformed.
std::optional<sdk::Clock::time_point> parse_iso8601_utc(std::string_view text);

} // namespace cloudhost::ec2
