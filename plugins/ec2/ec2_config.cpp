#include "ec2_config.hpp"

#include "cloudhost/driver_sdk.hpp"

#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <set>

namespace cloudhost::ec2 {
namespace {

using sdk::InvalidConfigError;
using Value = rapidjson::Value;

constexpr std::size_t max_config_bytes = 1u << 20;
constexpr int max_depth = 4; // {"key": {"k": "v"}} or {"key": ["a"]} is all we need
constexpr std::size_t max_list_items = 64;
constexpr std::size_t max_string_bytes = 2048;
constexpr auto max_timeout = std::chrono::hours(1);

[[noreturn]] void fail(std::string_view key, const std::string &problem) {
    throw InvalidConfigError("ec2 config: \"" + std::string(key) + "\" " + problem);
}

bool printable_ascii(std::string_view s, bool allow_space) {
    for (const unsigned char c : s)
        if (c < 0x21 || c > 0x7e)
            if (!(allow_space && c == ' '))
                return false;
    return true;
}

std::string as_string(std::string_view key, const Value &v, bool allow_empty = false) {
    if (!v.IsString())
        fail(key, "must be a string");
    std::string s(v.GetString(), v.GetStringLength());
    if (!allow_empty && s.empty())
        fail(key, "must not be empty");
    if (s.size() > max_string_bytes)
        fail(key, "is longer than " + std::to_string(max_string_bytes) + " bytes");
    return s;
}

// An AWS identifier or name: printable ASCII, no spaces.
std::string as_identifier(std::string_view key, const Value &v) {
    std::string s = as_string(key, v);
    if (!printable_ascii(s, false) || s.size() > 255)
        fail(key, "must be 1-255 printable ASCII characters without spaces");
    return s;
}

std::vector<std::string> as_identifier_list(std::string_view key, const Value &v,
                                            bool allow_single) {
    std::vector<std::string> out;
    if (allow_single && v.IsString()) {
        if (v.GetStringLength() == 0)
            return out; // "" = none, as Arvados
        out.push_back(as_identifier(key, v));
        return out;
    }
    if (!v.IsArray())
        fail(key, allow_single ? "must be a string or an array of strings"
                               : "must be an array of strings");
    if (v.Size() > max_list_items)
        fail(key, "has more than " + std::to_string(max_list_items) + " items");
    std::set<std::string> seen;
    for (const Value &item : v.GetArray()) {
        std::string s = as_identifier(key, item);
        if (!seen.insert(s).second)
            fail(key, "lists \"" + s + "\" twice");
        out.push_back(std::move(s));
    }
    return out;
}

std::chrono::milliseconds as_duration(std::string_view key, const Value &v) {
    std::optional<std::chrono::milliseconds> d;
    if (v.IsNumber()) {
        const double seconds = v.GetDouble();
        if (std::isfinite(seconds) && seconds >= 0 && seconds <= 1e9)
            d = std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
    } else if (v.IsString()) {
        d = parse_duration({v.GetString(), v.GetStringLength()});
    }
    if (!d)
        fail(key, R"(must be a duration such as "30s", "5m", "24h" or a number of seconds)");
    return *d;
}

std::chrono::milliseconds as_timeout(std::string_view key, const Value &v) {
    const auto d = as_duration(key, v);
    if (d.count() <= 0 || d > max_timeout)
        fail(key, "must be above 0 and at most 1h");
    return d;
}

std::string as_url(std::string_view key, const Value &v) {
    std::string url = as_string(key, v);
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
        fail(key, "must be an http:// or https:// URL");
    char *scheme = nullptr;
    curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme, 0);
    const std::string s = scheme ? scheme : "";
    curl_free(scheme);
    if (s != "http" && s != "https")
        fail(key, "must be an http:// or https:// URL");
    for (const CURLUPart part : {CURLUPART_USER, CURLUPART_QUERY, CURLUPART_FRAGMENT}) {
        char *text = nullptr;
        if (curl_url_get(parsed.get(), part, &text, 0) == CURLUE_OK && text) {
            curl_free(text);
            fail(key, "must not contain a user, query or fragment");
        }
    }
    return url;
}

void check_region(const std::string &region) {
    if (region.size() > 32)
        fail("region", "is longer than 32 characters");
    for (const unsigned char c : region)
        if (!(std::islower(c) || std::isdigit(c) || c == '-'))
            fail("region", "must be lowercase letters, digits and '-' (e.g. \"us-east-1\")");
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
    if (json.size() > max_config_bytes)
        throw InvalidConfigError("ec2 config: driver_parameters are larger than 1 MiB");
    if (json.find_first_not_of(" \t\r\n") == std::string_view::npos)
        fail("region", "is required (driver_parameters are empty)");
    rapidjson::Document doc;
    // Iterative parsing: no recursion, so deep nesting cannot exhaust the stack.
    doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
    if (doc.HasParseError())
        throw InvalidConfigError(std::string("ec2 config: invalid JSON at offset ") +
                                 std::to_string(doc.GetErrorOffset()) + ": " +
                                 rapidjson::GetParseError_En(doc.GetParseError()));
    if (!doc.IsObject())
        throw InvalidConfigError("ec2 config: driver_parameters must be a JSON object");
    {
        // Depth limit, checked with an explicit stack (no recursion).
        std::vector<std::pair<const Value *, int>> stack{{&doc, 1}};
        while (!stack.empty()) {
            const auto [v, depth] = stack.back();
            stack.pop_back();
            if (depth > max_depth)
                throw InvalidConfigError("ec2 config: nested deeper than " +
                                         std::to_string(max_depth) + " levels");
            if (v->IsObject())
                for (const auto &m : v->GetObject())
                    stack.emplace_back(&m.value, depth + 1);
            else if (v->IsArray())
                for (const auto &item : v->GetArray())
                    stack.emplace_back(&item, depth + 1);
        }
    }

    Ec2Config c;
    std::string access_key_id, secret_access_key, session_token;
    bool have_access_key = false, have_secret = false, have_token = false;
    std::set<std::string> seen;
    for (const auto &member : doc.GetObject()) {
        const std::string key(member.name.GetString(), member.name.GetStringLength());
        const Value &v = member.value;
        if (!seen.insert(key).second)
            fail(key, "appears twice");
        if (key == "region") {
            c.region = as_string(key, v);
            check_region(c.region);
        } else if (key == "endpoint") {
            c.endpoint = as_url(key, v);
        } else if (key == "subnet_id") {
            c.subnet_ids = as_identifier_list(key, v, true);
        } else if (key == "security_group_ids") {
            c.security_group_ids = as_identifier_list(key, v, false);
        } else if (key == "admin_username") {
            c.admin_username = as_identifier(key, v);
        } else if (key == "iam_instance_profile") {
            c.iam_instance_profile = as_identifier(key, v);
        } else if (key == "ebs_volume_type") {
            c.ebs_volume_type = as_identifier(key, v);
        } else if (key == "ebs_price") {
            if (!v.IsNumber() || !std::isfinite(v.GetDouble()) || v.GetDouble() < 0 ||
                v.GetDouble() > 1e6)
                fail(key, "must be a number from 0 to 1000000 (USD per GiB-month)");
            c.ebs_price = v.GetDouble();
        } else if (key == "spot_price_update_interval") {
            const auto d = as_duration(key, v);
            if (d > std::chrono::hours(24 * 365))
                fail(key, "must be at most one year");
            c.spot_price_update_interval = std::chrono::duration_cast<std::chrono::seconds>(d);
        } else if (key == "instance_type_quota_groups") {
            if (!v.IsObject())
                fail(key, "must be an object of lowercase type prefixes to group names");
            for (const auto &m : v.GetObject()) {
                const std::string prefix(m.name.GetString(), m.name.GetStringLength());
                const std::string where = key + "." + prefix;
                if (prefix.empty() || !printable_ascii(prefix, false) ||
                    std::any_of(prefix.begin(), prefix.end(),
                                [](unsigned char ch) { return std::isupper(ch); }))
                    fail(where, "is not a lowercase instance type prefix");
                c.instance_type_quota_groups[prefix] = as_identifier(where, m.value);
            }
        } else if (key == "ssh_port") {
            unsigned port = 0;
            if (v.IsUint())
                port = v.GetUint();
            else if (v.IsString() && v.GetStringLength() > 0 && v.GetStringLength() <= 5 &&
                     std::all_of(v.GetString(), v.GetString() + v.GetStringLength(), [](char ch) {
                         return std::isdigit(static_cast<unsigned char>(ch));
                     }))
                port = static_cast<unsigned>(std::stoul(v.GetString()));
            if (port < 1 || port > 65535)
                fail(key, "must be a port number from 1 to 65535");
            c.ssh_port = port;
        } else if (key == "ca_file") {
            c.ca_file = as_string(key, v);
            if (::access(c.ca_file.c_str(), R_OK) != 0)
                fail(key, "names a file that cannot be read: " + c.ca_file);
        } else if (key == "connect_timeout") {
            c.connect_timeout = as_timeout(key, v);
        } else if (key == "request_timeout") {
            c.request_timeout = as_timeout(key, v);
        } else if (key == "access_key_id") {
            access_key_id = as_identifier(key, v);
            have_access_key = true;
        } else if (key == "secret_access_key") {
            if (!v.IsString() || v.GetStringLength() == 0 ||
                !printable_ascii({v.GetString(), v.GetStringLength()}, false))
                fail(key, "must be a non-empty string of printable ASCII"); // never echo it
            secret_access_key.assign(v.GetString(), v.GetStringLength());
            have_secret = true;
        } else if (key == "session_token") {
            if (!v.IsString() || v.GetStringLength() == 0 ||
                !printable_ascii({v.GetString(), v.GetStringLength()}, false))
                fail(key, "must be a non-empty string of printable ASCII");
            session_token.assign(v.GetString(), v.GetStringLength());
            have_token = true;
        } else if (key == "profile") {
            c.profile = as_identifier(key, v);
        } else if (key == "imds_endpoint") {
            c.imds_endpoint = as_url(key, v);
        } else {
            fail(key, "is not a known key (known: region, endpoint, subnet_id, "
                      "security_group_ids, admin_username, iam_instance_profile, "
                      "ebs_volume_type, ebs_price, spot_price_update_interval, "
                      "instance_type_quota_groups, ssh_port, ca_file, connect_timeout, "
                      "request_timeout, access_key_id, secret_access_key, session_token, "
                      "profile, imds_endpoint)");
        }
    }
    if (c.region.empty())
        fail("region", "is required (e.g. \"us-east-1\")");
    if (have_access_key != have_secret)
        fail(have_access_key ? "secret_access_key" : "access_key_id",
             "is required when the other half of the key is given");
    if (have_token && !have_access_key)
        fail("session_token", "needs access_key_id and secret_access_key");
    if (have_access_key && !c.profile.empty())
        fail("profile", "cannot be combined with access_key_id");
    if (have_access_key)
        c.credentials = AwsCredentials{access_key_id, secret_access_key, session_token};
    if (c.endpoint.empty())
        c.endpoint = "https://ec2." + c.region + ".amazonaws.com/";
    if (c.imds_endpoint.empty())
        c.imds_endpoint = "http://169.254.169.254";
    return c;
}

} // namespace cloudhost::ec2
