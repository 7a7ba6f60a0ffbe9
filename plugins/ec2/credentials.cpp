#include "credentials.hpp"

#include "ec2_errors.hpp"

#include "cloudhost/json_depth_limit.hpp"

#include <rapidjson/document.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace cloudhost::ec2 {
namespace {

using sdk::InvalidConfigError;

constexpr std::size_t max_credentials_file_bytes = 1u << 20;

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return std::string(s);
}

std::string env(const char *name) {
    const char *value = std::getenv(name);
    return value ? value : "";
}

std::string json_string(const rapidjson::Value &object, const char *name) {
    if (!object.IsObject())
        return {};
    const auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !it->value.IsString())
        return {};
    return {it->value.GetString(), it->value.GetStringLength()};
}

} // namespace

std::optional<sdk::Clock::time_point> parse_iso8601_utc(std::string_view text) {
    std::tm tm{};
    const std::string copy(text.substr(0, 64));
    const char *end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return std::nullopt;
    std::string_view rest(end);
    if (!rest.empty() && rest.front() == '.') { // fractional seconds
        rest.remove_prefix(1);
        while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())))
            rest.remove_prefix(1);
    }
    if (rest != "Z" && rest != "+00:00")
        return std::nullopt;
    const std::time_t seconds = timegm(&tm);
    if (seconds == static_cast<std::time_t>(-1))
        return std::nullopt;
    return sdk::Clock::from_time_t(seconds);
}

std::optional<AwsCredentials> read_shared_credentials(const std::string &path,
                                                      const std::string &text,
                                                      const std::string &profile) {
    std::istringstream in(text);
    std::string line;
    std::size_t line_number = 0, section_line = 0;
    bool in_profile = false, found = false;
    AwsCredentials credentials;
    while (std::getline(in, line)) {
        ++line_number;
        const std::string t = trim(line);
        if (t.empty() || t[0] == '#' || t[0] == ';')
            continue;
        if (t.front() == '[') {
            if (t.back() != ']')
                throw InvalidConfigError("ec2 credentials: " + path + ":" +
                                         std::to_string(line_number) + ": unterminated section");
            in_profile = trim(t.substr(1, t.size() - 2)) == profile;
            if (in_profile) {
                found = true;
                section_line = line_number;
            }
            continue;
        }
        if (!in_profile)
            continue;
        const auto eq = t.find('=');
        if (eq == std::string::npos)
            throw InvalidConfigError("ec2 credentials: " + path + ":" +
                                     std::to_string(line_number) + ": expected key = value");
        const std::string key = trim(t.substr(0, eq)), value = trim(t.substr(eq + 1));
        if (key == "aws_access_key_id")
            credentials.access_key_id = value;
        else if (key == "aws_secret_access_key")
            credentials.secret_access_key = value;
        else if (key == "aws_session_token")
            credentials.session_token = value;
    }
    if (!found)
        return std::nullopt;
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
        throw InvalidConfigError("ec2 credentials: " + path + ":" + std::to_string(section_line) +
                                 ": profile \"" + profile +
                                 "\" lacks aws_access_key_id or aws_secret_access_key");
    return credentials;
}

CredentialSource::CredentialSource(const Ec2Config &config, sdk::Logger logger)
    : logger_(logger), imds_endpoint_(config.imds_endpoint) {
    if (config.credentials) {
        current_ = config.credentials;
        origin_ = "config";
        return;
    }
    const std::string env_key = env("AWS_ACCESS_KEY_ID"), env_secret = env("AWS_SECRET_ACCESS_KEY");
    if (!env_key.empty() && !env_secret.empty()) {
        current_ = AwsCredentials{env_key, env_secret, env("AWS_SESSION_TOKEN")};
        origin_ = "environment";
        return;
    }
    std::string path = env("AWS_SHARED_CREDENTIALS_FILE");
    if (path.empty() && !env("HOME").empty())
        path = env("HOME") + "/.aws/credentials";
    std::string profile = config.profile.empty() ? env("AWS_PROFILE") : config.profile;
    if (profile.empty())
        profile = "default";
    if (!path.empty()) {
        std::ifstream in(path, std::ios::binary);
        if (in) {
            std::string text(max_credentials_file_bytes + 1, '\0');
            in.read(text.data(), static_cast<std::streamsize>(text.size()));
            text.resize(static_cast<std::size_t>(in.gcount()));
            if (text.size() > max_credentials_file_bytes)
                throw InvalidConfigError("ec2 credentials: " + path + " is larger than 1 MiB");
            if (auto found = read_shared_credentials(path, text, profile)) {
                current_ = std::move(found);
                origin_ = "shared credentials file " + path + " [" + profile + "]";
                return;
            }
        }
    }
    if (!config.profile.empty())
        throw InvalidConfigError("ec2 config: \"profile\" names \"" + config.profile +
                                 "\", which is not in the shared credentials file " +
                                 (path.empty() ? std::string("(none)") : path));
    origin_ = "instance role (IMDSv2 at " + imds_endpoint_ + ")";
    HttpOptions options;
    options.connect_timeout = std::chrono::milliseconds(1000);
    options.request_timeout = std::chrono::milliseconds(5000);
    options.max_response_bytes = 64u << 10;
    imds_http_ = std::make_unique<HttpClient>(options);
    refresh_at_ = sdk::Clock::time_point::min(); // fetch at the first get()
}

CredentialSource::~CredentialSource() = default;

AwsCredentials CredentialSource::get() {
    std::lock_guard lock(mutex_);
    const auto now = sdk::Clock::now();
    if (current_ && now < refresh_at_)
        return *current_;
    sdk::Clock::time_point expiration;
    AwsCredentials fresh = fetch_from_imds(expiration);
    current_ = fresh;
    expiration_ = expiration;
    const auto margin = std::min<sdk::Clock::duration>(refresh_margin, (expiration - now) / 2);
    refresh_at_ = expiration - margin;
    return fresh;
}

AwsCredentials CredentialSource::fetch_from_imds(sdk::Clock::time_point &expiration) {
    const auto fail = [](const std::string &what) {
        return sdk::Error("ec2 credentials: no credentials in config, environment or shared "
                          "file, and the instance role (IMDSv2) failed: " +
                          what);
    };
    std::string base = imds_endpoint_;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    HttpRequest token_request;
    token_request.method = "PUT";
    token_request.url = base + "/latest/api/token";
    token_request.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    HttpResponse token;
    try {
        token = imds_http_->perform(token_request);
    } catch (const std::exception &e) {
        throw fail(e.what());
    }
    if (token.status != 200 || token.body.empty())
        throw fail("token request answered HTTP " + std::to_string(token.status));

    const auto get = [&](const std::string &path) {
        HttpRequest request;
        request.method = "GET";
        request.url = base + path;
        request.headers = {{"X-aws-ec2-metadata-token", trim(token.body)}};
        HttpResponse response;
        try {
            response = imds_http_->perform(request);
        } catch (const std::exception &e) {
            throw fail(e.what());
        }
        if (response.status != 200)
            throw fail("GET " + path + " answered HTTP " + std::to_string(response.status));
        return response.body;
    };
    const std::string roles = get("/latest/meta-data/iam/security-credentials/");
    const std::string role = trim(roles.substr(0, roles.find('\n')));
    if (role.empty() || role.find('/') != std::string::npos || role.size() > 128)
        throw fail("no usable role name in the instance metadata");
    const std::string document =
        get("/latest/meta-data/iam/security-credentials/" + uri_encode(role));
    rapidjson::Document json;
    // Bounded nesting: the DOM's destructor recurses once per level.
    if (!cloudhost::json::parse_document_with_depth_limit(json, document) || !json.IsObject())
        throw fail("role credentials are not a JSON object");
    if (const std::string code = json_string(json, "Code"); !code.empty() && code != "Success")
        throw fail("role credentials answered Code " + printable(code, 64));
    AwsCredentials credentials{json_string(json, "AccessKeyId"),
                               json_string(json, "SecretAccessKey"), json_string(json, "Token")};
    const auto expires = parse_iso8601_utc(json_string(json, "Expiration"));
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty() || !expires)
        throw fail("role credentials lack AccessKeyId, SecretAccessKey or Expiration");
    expiration = *expires;
    logger_.info("ec2: fetched instance role credentials",
                 {{"role", printable(role, 128)},
                  {"access_key_id", printable(credentials.access_key_id, 128)},
                  {"expiration", printable(json_string(json, "Expiration"), 64)}});
    return credentials;
}

} // namespace cloudhost::ec2
