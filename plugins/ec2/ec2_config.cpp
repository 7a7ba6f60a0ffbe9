#include "ec2_config.hpp"

#include "cloudhost/driver_sdk_config.hpp"

#include <curl/curl.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>

namespace cloudhost::ec2 {
namespace {

using sdk::ConfigCheck;
using sdk::ConfigValue;
using sdk::Presence;
using Problem = std::optional<std::string>;

constexpr std::size_t max_list_items = 64;
constexpr std::size_t max_string_bytes = 2048;
constexpr auto max_timeout = std::chrono::hours(1);

bool printable_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x21 && c <= 0x7e; });
}

Problem not_empty(const std::string &s) {
    if (s.empty())
        return "must not be empty";
    if (s.size() > max_string_bytes)
        return "is longer than " + std::to_string(max_string_bytes) + " bytes";
    return std::nullopt;
}

// An AWS identifier or name: printable ASCII, no spaces.
Problem identifier(const std::string &s) {
    if (s.empty())
        return "must not be empty";
    if (!printable_ascii(s) || s.size() > 255)
        return "must be 1-255 printable ASCII characters without spaces";
    return std::nullopt;
}

// A secret: the rule only, never the value.
Problem secret(const std::string &s) {
    if (s.empty() || !printable_ascii(s))
        return "must be a non-empty string of printable ASCII";
    return std::nullopt;
}

Problem region(const std::string &s) {
    if (s.empty())
        return "must not be empty";
    if (s.size() > 32)
        return "is longer than 32 characters";
    for (const unsigned char c : s)
        if (!(std::islower(c) || std::isdigit(c) || c == '-'))
            return "must be lowercase letters, digits and '-' (e.g. \"us-east-1\")";
    return std::nullopt;
}

Problem url(const std::string &s) {
    if (auto problem = not_empty(s))
        return problem;
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, s.c_str(), 0) != CURLUE_OK)
        return "must be an http:// or https:// URL";
    char *scheme = nullptr;
    curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme, 0);
    const std::string scheme_text = scheme ? scheme : "";
    curl_free(scheme);
    if (scheme_text != "http" && scheme_text != "https")
        return "must be an http:// or https:// URL";
    for (const CURLUPart part : {CURLUPART_USER, CURLUPART_QUERY, CURLUPART_FRAGMENT}) {
        char *text = nullptr;
        if (curl_url_get(parsed.get(), part, &text, 0) == CURLUE_OK && text) {
            curl_free(text);
            return "must not contain a user, query or fragment";
        }
    }
    return std::nullopt;
}

Problem readable_file(const std::string &s) {
    if (auto problem = not_empty(s))
        return problem;
    if (::access(s.c_str(), R_OK) != 0)
        return "names a file that cannot be read: " + s;
    return std::nullopt;
}

Problem type_prefix(const std::string &s) {
    if (s.empty() || !printable_ascii(s) ||
        std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isupper(c); }))
        return "is not a lowercase instance type prefix";
    return std::nullopt;
}

// "30s", "1h30m" or a number of seconds.
std::chrono::milliseconds duration(const ConfigValue &v) {
    std::optional<std::chrono::milliseconds> d;
    if (v.kind() == ConfigValue::Kind::number) {
        const double seconds = v.as_number(0, 1e9);
        d = std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
    } else if (v.kind() == ConfigValue::Kind::string) {
        d = parse_duration(v.as_string());
    }
    if (!d)
        v.fail(R"(must be a duration such as "30s", "5m", "24h" or a number of seconds)");
    return *d;
}

std::chrono::milliseconds timeout(const ConfigValue &v) {
    const auto d = duration(v);
    if (d.count() <= 0 || d > max_timeout)
        v.fail("must be above 0 and at most 1h");
    return d;
}

// What the schema fills: the config plus the key halves checked together.
struct Parameters : Ec2Config {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;
};

const sdk::ConfigSchema<Parameters> &schema() {
    static const auto schema =
        sdk::ConfigSchema<Parameters>("ec2 config")
            .string("region", &Parameters::region, Presence::optional, region)
            .string("endpoint", &Parameters::endpoint, Presence::optional, url)
            .string_list("subnet_id", &Parameters::subnet_ids, Presence::optional, identifier,
                         sdk::StringListForm::string_or_array, max_list_items)
            .string_list("security_group_ids", &Parameters::security_group_ids, Presence::optional,
                         identifier, sdk::StringListForm::array, max_list_items)
            .string("admin_username", &Parameters::admin_username, Presence::optional, identifier)
            .string("iam_instance_profile", &Parameters::iam_instance_profile, Presence::optional,
                    identifier)
            .string("ebs_volume_type", &Parameters::ebs_volume_type, Presence::optional, identifier)
            .custom("ebs_price",
                    [](Parameters &p, const ConfigValue &v) {
                        if (v.kind() != ConfigValue::Kind::number)
                            v.fail("must be a number from 0 to 1000000 (USD per GiB-month)");
                        p.ebs_price = v.as_number(0, 1e6);
                    })
            .custom("spot_price_update_interval",
                    [](Parameters &p, const ConfigValue &v) {
                        const auto d = duration(v);
                        if (d > std::chrono::hours(24 * 365))
                            v.fail("must be at most one year");
                        p.spot_price_update_interval =
                            std::chrono::duration_cast<std::chrono::seconds>(d);
                    })
            .string_map("instance_type_quota_groups", &Parameters::instance_type_quota_groups,
                        Presence::optional, type_prefix, identifier)
            .custom("ssh_port",
                    [](Parameters &p, const ConfigValue &v) {
                        const char *rule = "must be a port number from 1 to 65535";
                        if (v.kind() == ConfigValue::Kind::string) {
                            const std::string text = v.as_string();
                            if (text.empty() || text.size() > 5 ||
                                !std::all_of(text.begin(), text.end(),
                                             [](unsigned char c) { return std::isdigit(c); }))
                                v.fail(rule);
                            p.ssh_port = static_cast<unsigned>(std::stoul(text));
                        } else if (v.kind() == ConfigValue::Kind::number) {
                            try {
                                p.ssh_port = v.as_integer<unsigned>(1, 65535);
                            } catch (const sdk::InvalidConfigError &) {
                                v.fail(rule); // the same rule for both forms
                            }
                        } else {
                            v.fail(rule);
                        }
                        if (*p.ssh_port < 1 || *p.ssh_port > 65535)
                            v.fail(rule);
                    })
            .string("ca_file", &Parameters::ca_file, Presence::optional, readable_file)
            .custom("connect_timeout",
                    [](Parameters &p, const ConfigValue &v) { p.connect_timeout = timeout(v); })
            .custom("request_timeout",
                    [](Parameters &p, const ConfigValue &v) { p.request_timeout = timeout(v); })
            .string("access_key_id", &Parameters::access_key_id, Presence::optional, identifier)
            .string("secret_access_key", &Parameters::secret_access_key, Presence::optional, secret)
            .string("session_token", &Parameters::session_token, Presence::optional, secret)
            .string("profile", &Parameters::profile, Presence::optional, identifier)
            .string("imds_endpoint", &Parameters::imds_endpoint, Presence::optional, url);
    return schema;
}

} // namespace

std::map<std::string, std::string> default_quota_groups() {
    return {{"a", "standard"}, {"c", "standard"}, {"d", "standard"}, {"h", "standard"},
            {"i", "standard"}, {"m", "standard"}, {"r", "standard"}, {"t", "standard"},
            {"z", "standard"}, {"vt", "g"},       {"p5", "p5"}};
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    if (text == "0")
        return std::chrono::milliseconds(0);
    double total_ms = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t start = at;
        while (at < text.size() &&
               (std::isdigit(static_cast<unsigned char>(text[at])) || text[at] == '.'))
            ++at;
        if (at == start || at - start > 12)
            return std::nullopt;
        const std::string number(text.substr(start, at - start));
        if (std::count(number.begin(), number.end(), '.') > 1 || number == ".")
            return std::nullopt;
        const double value = std::stod(number);
        double unit_ms = 0;
        if (text.substr(at, 2) == "ms") {
            unit_ms = 1, at += 2;
        } else if (at < text.size() && text[at] == 's') {
            unit_ms = 1000, ++at;
        } else if (at < text.size() && text[at] == 'm') {
            unit_ms = 60'000, ++at;
        } else if (at < text.size() && text[at] == 'h') {
            unit_ms = 3'600'000, ++at;
        } else {
            return std::nullopt; // a unit is required after every number
        }
        total_ms += value * unit_ms;
    }
    if (!std::isfinite(total_ms) || total_ms > 1e12)
        return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

Ec2Config parse_config(std::string_view json) {
    const ConfigValue root = sdk::parse_config_json(json, "ec2 config");
    Parameters p = schema().parse(root);
    // Rules across keys: the message names the key, the position is the
    // config's start (the key may be absent).
    auto fail = [&root](const std::string &key, const std::string &rule) {
        root.fail_plain("\"" + key + "\" " + rule);
    };
    if (p.region.empty())
        fail("region", "is required (e.g. \"us-east-1\")");
    const bool have_access_key = !p.access_key_id.empty();
    if (have_access_key != !p.secret_access_key.empty())
        fail(have_access_key ? "secret_access_key" : "access_key_id",
             "is required when the other half of the key is given");
    if (!p.session_token.empty() && !have_access_key)
        fail("session_token", "needs access_key_id and secret_access_key");
    if (have_access_key && !p.profile.empty())
        fail("profile", "cannot be combined with access_key_id");
    Ec2Config c = std::move(static_cast<Ec2Config &>(p));
    if (have_access_key)
        c.credentials = AwsCredentials{p.access_key_id, p.secret_access_key, p.session_token};
    if (c.endpoint.empty())
        c.endpoint = "https://ec2." + c.region + ".amazonaws.com/";
    if (c.imds_endpoint.empty())
        c.imds_endpoint = "http://169.254.169.254";
    return c;
}

} // namespace cloudhost::ec2
