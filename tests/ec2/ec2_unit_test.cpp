// Unit tests of the ec2 driver's parts: SigV4 (published vectors, and
// botocore's signer on the same requests), config errors per key, the
// error-code table and back-off, quota groups, UserData, fingerprints.
#include "credentials.hpp"
#include "crypto.hpp"
#include "ec2_config.hpp"
#include "ec2_errors.hpp"
#include "ec2_instance_set.hpp"
#include "key_fingerprint.hpp"
#include "quota_group.hpp"
#include "sigv4.hpp"

#include "subprocess.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace cloudhost::ec2;
namespace sdk = cloudhost::sdk;

namespace {

const AwsCredentials example_credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         ""};

std::string source_root() {
    const char *root = std::getenv("CLOUDHOST_SOURCE_ROOT");
    REQUIRE_MESSAGE(root, "CLOUDHOST_SOURCE_ROOT is not set (run through meson test)");
    return root;
}

std::string config_error(const std::string &json) {
    try {
        parse_config(json);
    } catch (const sdk::InvalidConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

// ---- SigV4 ---------------------------------------------------------------------

// The AWS Signature Version 4 test suite's cases (aws4_testsuite, credentials
// AKIDEXAMPLE, region us-east-1, service "service", 20150830T123600Z).
TEST_CASE("sigv4: published test-suite vectors") {
    struct Vector {
        const char *name;
        SigningRequest request;
        const char *canonical_request;
        const char *string_to_sign;
        const char *signature;
    };
    const std::vector<Vector> vectors = {
        {"get-vanilla",
         {"GET",
          "/",
          {},
          {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
          ""},
         "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"get-vanilla-query-order-key-case",
         {"GET",
          "/",
          {{"Param2", "value2"}, {"Param1", "value1"}},
          {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
          ""},
         "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
         "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {"post-x-www-form-urlencoded",
         {"POST",
          "/",
          {},
          {{"Content-Type", "application/x-www-form-urlencoded"},
           {"Host", "example.amazonaws.com"},
           {"X-Amz-Date", "20150830T123600Z"}},
          "Param1=value1"},
         "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
         "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
         "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    };
    for (const auto &v : vectors) {
        CAPTURE(v.name);
        const SignatureParts parts =
            sign_v4(v.request, example_credentials, "us-east-1", "service", "20150830T123600Z");
        CHECK(parts.canonical_request == v.canonical_request);
        CHECK(parts.string_to_sign == v.string_to_sign);
        CHECK(parts.signature == v.signature);
        CHECK(parts.authorization ==
              std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                          "aws4_request, SignedHeaders=") +
                  (v.request.body.empty() ? "host;x-amz-date" : "content-type;host;x-amz-date") +
                  ", Signature=" + v.signature);
    }
}

// The same requests, and EC2-shaped ones (session token, reserved and
// non-ASCII characters, a port in Host, folded whitespace), signed by botocore.
TEST_CASE("sigv4: every case agrees with botocore's SigV4Auth") {
    struct Case {
        SigningRequest request;
        AwsCredentials credentials;
        std::string region, service, amz_date;
    };
    const std::string form = "application/x-www-form-urlencoded; charset=utf-8";
    const AwsCredentials with_token{"ASIAEXAMPLE",
                                    "secret/with+chars=", "FQoGZXIvYXdzEXAMPLE//////////token+/="};
    std::vector<Case> cases = {
        {{"GET",
          "/",
          {},
          {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
          ""},
         example_credentials,
         "us-east-1",
         "service",
         "20150830T123600Z"},
        {{"GET",
          "/",
          {{"Param2", "value2"}, {"Param1", "value1"}},
          {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
          ""},
         example_credentials,
         "us-east-1",
         "service",
         "20150830T123600Z"},
        {{"POST",
          "/",
          {},
          {{"Content-Type", "application/x-www-form-urlencoded"},
           {"Host", "example.amazonaws.com"},
           {"X-Amz-Date", "20150830T123600Z"}},
          "Param1=value1"},
         example_credentials,
         "us-east-1",
         "service",
         "20150830T123600Z"},
    };
    // EC2 Query requests as the driver sends them.
    const std::vector<std::pair<std::string, std::string>> bodies = {
        {"DescribeInstances", "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3A"
                              "cloudhost-InstanceSetID&Filter.1.Value.1=zzzzz-zzzzz-abc"},
        {"RunInstances", "Action=RunInstances&Version=2016-11-15&UserData=IyEvYmluL3NoCmVjaG8gaGkK&"
                         "TagSpecification.1.Tag.1.Key=na%C3%AFve%20key&TagSpecification.1.Tag.1."
                         "Value=%2A%21%27%28%29"},
    };
    for (const auto &[action, body] : bodies) {
        cases.push_back({{"POST",
                          "/",
                          {},
                          {{"Host", "127.0.0.1:8443"},
                           {"Content-Type", form},
                           {"X-Amz-Date", "20261130T201500Z"},
                           {"X-Amz-Security-Token", with_token.session_token}},
                          body},
                         with_token,
                         "eu-west-1",
                         "ec2",
                         "20261130T201500Z"});
        cases.push_back({{"POST",
                          "/",
                          {},
                          {{"Host", "ec2.us-east-1.amazonaws.com"},
                           {"Content-Type", form},
                           {"X-Amz-Date", "20261130T201500Z"},
                           {"X-Custom", "  folded    spaces  here "}},
                          body},
                         example_credentials,
                         "us-east-1",
                         "ec2",
                         "20261130T201500Z"});
    }

    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
    out.StartArray();
    for (const auto &c : cases) {
        std::string host;
        for (const auto &[name, value] : c.request.headers)
            if (name == "Host")
                host = value;
        std::string url = "https://" + host + c.request.path;
        for (std::size_t i = 0; i < c.request.query.size(); ++i)
            url += (i ? "&" : "?") + uri_encode(c.request.query[i].first) + "=" +
                   uri_encode(c.request.query[i].second);
        out.StartObject();
        out.Key("method"), out.String(c.request.method.c_str());
        out.Key("url"), out.String(url.c_str());
        out.Key("headers"), out.StartArray();
        for (const auto &[name, value] : c.request.headers) {
            out.StartArray(), out.String(name.c_str()), out.String(value.c_str()), out.EndArray();
        }
        out.EndArray();
        out.Key("body"), out.String(c.request.body.c_str());
        out.Key("amz_date"), out.String(c.amz_date.c_str());
        out.Key("access_key_id"), out.String(c.credentials.access_key_id.c_str());
        out.Key("secret_access_key"), out.String(c.credentials.secret_access_key.c_str());
        out.Key("session_token"), out.String(c.credentials.session_token.c_str());
        out.Key("region"), out.String(c.region.c_str());
        out.Key("service"), out.String(c.service.c_str());
        out.EndObject();
    }
    out.EndArray();

    const auto result = cloudhost::test::run_process(
        {"/usr/bin/python3", source_root() + "/tests/ec2/sigv4_botocore.py"}, buffer.GetString());
    REQUIRE_MESSAGE(result.status == 0, result.err);
    rapidjson::Document answers;
    answers.Parse(result.out.c_str());
    REQUIRE(answers.IsArray());
    REQUIRE(answers.Size() == cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        CAPTURE(i);
        const auto &c = cases[i];
        const SignatureParts parts =
            sign_v4(c.request, c.credentials, c.region, c.service, c.amz_date);
        CHECK(parts.canonical_request == std::string(answers[i]["canonical_request"].GetString()));
        CHECK(parts.string_to_sign == std::string(answers[i]["string_to_sign"].GetString()));
        CHECK(parts.signature == std::string(answers[i]["signature"].GetString()));
    }
}

TEST_CASE("sigv4: add_signing_headers adds the date, the token and the signature") {
    SigningRequest request{"POST", "/", {}, {{"Host", "h"}}, "Action=X"};
    const auto when = std::chrono::system_clock::from_time_t(1440938160); // 2015-08-30T12:36:00Z
    add_signing_headers(request, {"AK", "SK", "TOKEN"}, "us-east-1", "ec2", when);
    REQUIRE(request.headers.size() == 4);
    CHECK(request.headers[1] ==
          std::pair<std::string, std::string>("X-Amz-Date", "20150830T123600Z"));
    CHECK(request.headers[2].first == "X-Amz-Security-Token");
    CHECK(request.headers[3].first == "Authorization");
    CHECK(request.headers[3].second.find("SignedHeaders=host;x-amz-date;x-amz-security-token,") !=
          std::string::npos);
    CHECK(request.headers[3].second.find("SK") == std::string::npos);
}

TEST_CASE("sigv4: uri_encode leaves only unreserved characters") {
    CHECK(uri_encode("aZ09-_.~") == "aZ09-_.~");
    CHECK(uri_encode("a b+c=d&e/f*") == "a%20b%2Bc%3Dd%26e%2Ff%2A");
    CHECK(uri_encode("/a b/", true) == "/a%20b/");
    CHECK(uri_encode("\xc3\xaf") == "%C3%AF");
}

// ---- config -------------------------------------------------------------------

TEST_CASE("config: a full config and the defaults") {
    const Ec2Config minimal = parse_config(R"({"region": "us-east-1"})");
    CHECK(minimal.endpoint == "https://ec2.us-east-1.amazonaws.com/");
    CHECK(minimal.admin_username == "root");
    CHECK(minimal.ebs_volume_type == "gp2");
    CHECK(minimal.ebs_price == doctest::Approx(0.10));
    CHECK(minimal.spot_price_update_interval == std::chrono::hours(24));
    CHECK(minimal.subnet_ids.empty());
    CHECK_FALSE(minimal.ssh_port);
    CHECK_FALSE(minimal.credentials);
    CHECK(minimal.imds_endpoint == "http://169.254.169.254");

    const Ec2Config full = parse_config(R"({
      "region": "eu-west-1", "endpoint": "https://127.0.0.1:8443/",
      "subnet_id": ["subnet-a", "subnet-b"], "security_group_ids": ["sg-1"],
      "admin_username": "admin", "iam_instance_profile": "role", "ebs_volume_type": "gp3",
      "ebs_price": 0.08, "spot_price_update_interval": "1h30m",
      "instance_type_quota_groups": {"c": "compute", "p5": "p5"}, "ssh_port": "2222",
      "ca_file": "/dev/null", "connect_timeout": "2s", "request_timeout": 30,
      "access_key_id": "AKID", "secret_access_key": "secret", "session_token": "tok",
      "imds_endpoint": "http://127.0.0.1:1"})");
    CHECK(full.endpoint == "https://127.0.0.1:8443/");
    CHECK(full.subnet_ids == std::vector<std::string>{"subnet-a", "subnet-b"});
    CHECK(full.security_group_ids == std::vector<std::string>{"sg-1"});
    CHECK(full.spot_price_update_interval == std::chrono::minutes(90));
    CHECK(full.instance_type_quota_groups.at("c") == "compute");
    CHECK(full.ssh_port == 2222u);
    CHECK(full.connect_timeout == std::chrono::seconds(2));
    CHECK(full.request_timeout == std::chrono::seconds(30));
    REQUIRE(full.credentials);
    CHECK(full.credentials->session_token == "tok");
    CHECK(parse_config(R"({"region": "r1", "subnet_id": "subnet-x"})").subnet_ids ==
          std::vector<std::string>{"subnet-x"});
    CHECK(parse_config(R"({"region": "r1", "subnet_id": ""})").subnet_ids.empty());
}

TEST_CASE("config: every bad value names its key") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({})", "\"region\" is required"},
        {"", "\"region\" is required"},
        {R"({"region": 1})", "\"region\" must be a string"},
        {R"({"region": "US East"})", "\"region\" must be lowercase"},
        {R"({"region": "r", "endpoint": "ftp://x/"})", "\"endpoint\" must be an http"},
        {R"({"region": "r", "endpoint": "https://u:p@x/"})", "\"endpoint\" must not contain"},
        {R"({"region": "r", "endpoint": "https://x/?a=b"})", "\"endpoint\" must not contain"},
        {R"({"region": "r", "subnet_id": 3})", "\"subnet_id\" must be a string or an array"},
        {R"({"region": "r", "subnet_id": ["a", "a"]})", "\"subnet_id\" lists \"a\" twice"},
        {R"({"region": "r", "subnet_id": ["a b"]})", "\"subnet_id[0]\" must be 1-255 printable"},
        {R"({"region": "r", "subnet_id": "a b"})", "\"subnet_id\" must be 1-255 printable"},
        {R"({"region": "r", "security_group_ids": "sg-1"})",
         "\"security_group_ids\" must be an array"},
        {R"({"region": "r", "admin_username": ""})", "\"admin_username\" must not be empty"},
        {R"({"region": "r", "iam_instance_profile": "a\nb"})", "\"iam_instance_profile\" must be"},
        {R"({"region": "r", "ebs_volume_type": 2})", "\"ebs_volume_type\" must be a string"},
        {R"({"region": "r", "ebs_price": -1})", "\"ebs_price\" must be a number"},
        {R"({"region": "r", "ebs_price": "0.1"})", "\"ebs_price\" must be a number"},
        {R"({"region": "r", "spot_price_update_interval": "soon"})",
         "\"spot_price_update_interval\" must be a duration"},
        {R"({"region": "r", "spot_price_update_interval": "-1h"})",
         "\"spot_price_update_interval\" must be a duration"},
        {R"({"region": "r", "instance_type_quota_groups": []})",
         "\"instance_type_quota_groups\" must be an object"},
        {R"({"region": "r", "instance_type_quota_groups": {"C": "x"}})",
         "\"instance_type_quota_groups.C\" is not a lowercase"},
        {R"({"region": "r", "instance_type_quota_groups": {"c": 1}})",
         "\"instance_type_quota_groups.c\" must be a string"},
        {R"({"region": "r", "ssh_port": 0})", "\"ssh_port\" must be a port number"},
        {R"({"region": "r", "ssh_port": "65536"})", "\"ssh_port\" must be a port number"},
        {R"({"region": "r", "ssh_port": "22x"})", "\"ssh_port\" must be a port number"},
        {R"({"region": "r", "ca_file": "/nonexistent/ca.pem"})",
         "\"ca_file\" names a file that cannot be read"},
        {R"({"region": "r", "connect_timeout": "0s"})", "\"connect_timeout\" must be above 0"},
        {R"({"region": "r", "request_timeout": "2h"})",
         "\"request_timeout\" must be above 0 and at most 1h"},
        {R"({"region": "r", "request_timeout": "10"})", "\"request_timeout\" must be a duration"},
        {R"({"region": "r", "access_key_id": "AKID"})", "\"secret_access_key\" is required"},
        {R"({"region": "r", "secret_access_key": "s"})", "\"access_key_id\" is required"},
        {R"({"region": "r", "session_token": "t"})", "\"session_token\" needs access_key_id"},
        {R"({"region": "r", "access_key_id": "a", "secret_access_key": "s", "profile": "p"})",
         "\"profile\" cannot be combined"},
        {R"({"region": "r", "imds_endpoint": "169.254.169.254"})",
         "\"imds_endpoint\" must be an http"},
        {R"({"region": "r", "regoin": "x"})", "unknown key \"regoin\" (known: region, "},
        {R"({"region": "r", "region": "s"})", "duplicate key \"region\""},
        {R"([1])", "the config must be an object"},
        {R"({"region": "r", "subnet_id": [["x"]]})", "\"subnet_id[0]\" must be a string"},
        {R"({"region": "r", "ssh_port": 1.5})", "\"ssh_port\" must be a port number"},
        {R"({"region": "r", "ssh_port": true})", "\"ssh_port\" must be a port number"},
        {R"({"region": "r", "connect_timeout": -1})", "\"connect_timeout\" must be"},
    };
    for (const auto &json_expected : cases) {
        const auto &json = json_expected.first; // clang 14 cannot capture a structured binding
        const auto &expected = json_expected.second;
        CAPTURE(json);
        const std::string message = config_error(json);
        CHECK_MESSAGE(message.find(expected) != std::string::npos, message);
    }
    // Every message is one line with the position of what it names.
    CHECK(config_error("{\"region\": \"r\",\n \"ebs_price\": -1}")
              .rfind("ec2 config:2:15: \"ebs_price\" must be a number", 0) == 0);
    CHECK(config_error("{\"region\": \"r\",\n \"instance_type_quota_groups\": {\"C\": \"x\"}}")
              .rfind("ec2 config:2:33: \"instance_type_quota_groups.C\" is not a lowercase", 0) ==
          0);
    // A secret is never echoed back.
    CHECK(config_error(R"({"region": "r", "access_key_id": "a", "secret_access_key": "SEKRIT\n"})")
              .find("SEKRIT") == std::string::npos);
    // Deep nesting is refused without recursion (no stack overflow).
    const std::string deep =
        R"({"region": "r", "x": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
    CHECK(config_error(deep).find("nested deeper") != std::string::npos);
}

TEST_CASE("config: durations") {
    CHECK(parse_duration("0") == std::chrono::milliseconds(0));
    CHECK(parse_duration("24h") == std::chrono::hours(24));
    CHECK(parse_duration("1h30m") == std::chrono::minutes(90));
    CHECK(parse_duration("1.5s") == std::chrono::milliseconds(1500));
    CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
    for (const char *bad : {"", "h", "10", "1d", "-1s", "1..2s", "1s2", "s1"})
        CHECK_MESSAGE(!parse_duration(bad), bad);
}

// ---- errors ---------------------------------------------------------------------

TEST_CASE("errors: the code table") {
    for (const char *code :
         {"RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottledException",
          "RequestThrottledException", "TooManyRequestsException", "EC2ThrottledException",
          "PriorRequestNotComplete", "SlowDown", "BandwidthLimitExceeded"})
        CHECK_MESSAGE(classify(code, "") == ErrorClass::rate_limit, code);
    for (const char *code : {"InstanceLimitExceeded", "InsufficientAddressCapacity",
                             "InsufficientFreeAddressesInSubnet", "InsufficientVolumeCapacity",
                             "MaxSpotInstanceCountExceeded"})
        CHECK_MESSAGE(classify(code, "") == ErrorClass::quota, code);
    CHECK(classify("VcpuLimitExceeded", "") == ErrorClass::capacity_quota_group);
    CHECK(classify("InsufficientInstanceCapacity", "") == ErrorClass::capacity_instance_type);
    CHECK(classify("Unsupported", "The requested configuration is not supported: m5.large",
                   "m5.large") == ErrorClass::capacity_instance_type);
    CHECK(classify("Unsupported", "not supported in this zone", "m5.large") == ErrorClass::other);
    for (const char *code : {"", "InternalError", "AuthFailure", "InvalidAMIID.NotFound",
                             "throttling", "InvalidParameterValue"})
        CHECK_MESSAGE(classify(code, "") == ErrorClass::other, code);
}

TEST_CASE("errors: typed exceptions and the throttle back-off") {
    using namespace std::chrono;
    Backoff backoff;
    const auto raise = [&](const char *code) {
        throw_typed(AwsError("RunInstances", code, "msg", "req-1", 400), backoff, "m5.large");
    };
    // 1 s, then d * 3/2 + 1 s: 2.5 s, 4.75 s, ... capped at 60 s.
    std::vector<milliseconds> delays;
    for (int i = 0; i < 12; ++i) {
        try {
            raise("RequestLimitExceeded");
        } catch (const sdk::RateLimitError &e) {
            const auto wait = duration_cast<milliseconds>(e.earliest_retry() - sdk::Clock::now());
            CHECK(wait <= backoff.current());
            CHECK(wait > backoff.current() - seconds(5));
            delays.push_back(backoff.current());
            CHECK(std::string(e.what()).find("RequestLimitExceeded") != std::string::npos);
            CHECK(std::string(e.what()).find("req-1") != std::string::npos);
        }
    }
    REQUIRE(delays.size() == 12);
    CHECK(delays[0] == seconds(1));
    CHECK(delays[1] == milliseconds(2500));
    CHECK(delays[2] == milliseconds(4750));
    CHECK(delays[11] == seconds(60));
    // Quota and capacity keep the delay; another error resets it.
    CHECK_THROWS_AS(raise("InstanceLimitExceeded"), sdk::QuotaError);
    CHECK(backoff.current() == seconds(60));
    try {
        raise("VcpuLimitExceeded");
    } catch (const sdk::CapacityError &e) {
        CHECK(e.flags() == CH_ERROR_FLAG_CAPACITY_QUOTA_GROUP);
    }
    try {
        raise("InsufficientInstanceCapacity");
    } catch (const sdk::CapacityError &e) {
        CHECK(e.flags() == CH_ERROR_FLAG_CAPACITY_INSTANCE_TYPE);
    }
    CHECK(backoff.current() == seconds(60));
    try {
        raise("InternalError");
        FAIL("no exception");
    } catch (const sdk::RateLimitError &) {
        FAIL("not a rate limit");
    } catch (const AwsError &e) {
        CHECK(e.status() == CH_ERR_GENERIC);
        CHECK(e.code() == "InternalError");
    }
    CHECK(backoff.current() == seconds(0));
}

TEST_CASE("errors: untrusted text is bounded and printable") {
    const AwsError e("DescribeInstances", "Bad\x1b[31mCode", std::string(5000, 'x') + "\n",
                     "id\r\n", 400);
    const std::string what = e.what();
    CHECK(what.find('\x1b') == std::string::npos);
    CHECK(what.find('\n') == std::string::npos);
    CHECK(what.size() < 800);
}

TEST_CASE("errors: subnet-specific RunInstances errors") {
    CHECK(is_subnet_specific("InvalidSubnetID.NotFound", ""));
    CHECK(is_subnet_specific("InsufficientFreeAddressesInSubnet", ""));
    CHECK(is_subnet_specific("InsufficientInstanceCapacity", ""));
    CHECK(is_subnet_specific("InsufficientVolumeCapacity", ""));
    CHECK(is_subnet_specific("Unsupported", ""));
    CHECK(is_subnet_specific("InvalidParameterValue", "No default subnet for availability zone"));
    CHECK(is_subnet_specific("InvalidParameter", "insufficient free addresses"));
    CHECK_FALSE(is_subnet_specific("InvalidParameterValue", "bad image"));
    CHECK_FALSE(is_subnet_specific("InstanceLimitExceeded", ""));
    CHECK_FALSE(is_subnet_specific("RequestLimitExceeded", ""));
    CHECK_FALSE(is_subnet_specific("VcpuLimitExceeded", ""));
}

// ---- quota groups, UserData, RunInstances --------------------------------------------

TEST_CASE("quota groups: Arvados's prefix rules, -spot for preemptible types") {
    const auto defaults = default_quota_groups();
    CHECK(quota_group("m1.xlarge", false, defaults) == "standard");
    CHECK(quota_group("M5.Large", false, defaults) == "standard");
    CHECK(quota_group("m5.large", true, defaults) == "standard-spot");
    CHECK(quota_group("p5.xlarge", true, defaults) == "p5-spot");
    CHECK(quota_group("p4d.24xlarge", false, defaults) == "p");
    CHECK(quota_group("trn1.2xlarge", false, defaults) == "trn");
    CHECK(quota_group("vt1.3xlarge", false, defaults) == "g");
    CHECK(quota_group("mac1.metal", false, defaults) == "mac"); // "m" is shorter than the family
    CHECK(quota_group("", false, defaults).empty());
    CHECK(quota_group("", true, defaults).empty());
    const std::map<std::string, std::string> custom = {{"c", "compute"}, {"c7g", "graviton"}};
    CHECK(quota_group("c7g.large", false, custom) == "graviton");
    CHECK(quota_group("c5.large", true, custom) == "compute-spot");
    CHECK(quota_group("m5.large", false, custom) ==
          "m"); // the configured map replaces the defaults
}

TEST_CASE("UserData: base64 of #!/bin/sh, the command, a newline") {
    CHECK(user_data("echo hi") == "IyEvYmluL3NoCmVjaG8gaGkK");
    const std::string command =
        "umask 0177 && echo -n \"abc\" >/var/run/x\nrun 'it' $HOME \xc3\xaf";
    CHECK(base64_decode(user_data(command)) == "#!/bin/sh\n" + command + "\n");
    CHECK(base64_decode(user_data("")) == "#!/bin/sh\n\n");
}

TEST_CASE("RunInstances parameters: tags, scratch volume, spot, subnet, profile") {
    Ec2Config config = parse_config(
        R"({"region": "r", "security_group_ids": ["sg-1", "sg-2"], "iam_instance_profile": "prof",
            "ebs_volume_type": "gp3"})");
    sdk::InstanceType type;
    type.name = "big";
    type.provider_type = "m5.large";
    type.added_scratch = (5ull << 30) + 1; // rounds up to 6 GiB
    type.preemptible = true;
    type.price = 0.25;
    const QueryParams params = run_instances_params(config, type, "ami-1", {{"a", "1"}, {"b", "2"}},
                                                    "echo hi", "key-1", "subnet-9");
    std::map<std::string, std::string> p(params.items().begin(), params.items().end());
    CHECK(p.size() == params.items().size()); // no name twice
    CHECK(p["ImageId"] == "ami-1");
    CHECK(p["InstanceType"] == "m5.large");
    CHECK(p["MinCount"] == "1");
    CHECK(p["MaxCount"] == "1");
    CHECK(p["UserData"] == "IyEvYmluL3NoCmVjaG8gaGkK");
    CHECK(p["KeyName"] == "key-1");
    CHECK(p["MetadataOptions.HttpTokens"] == "required");
    CHECK(p["InstanceInitiatedShutdownBehavior"] == "terminate");
    CHECK(p["NetworkInterface.1.SubnetId"] == "subnet-9");
    CHECK(p["NetworkInterface.1.SecurityGroupId.2"] == "sg-2");
    CHECK(p["NetworkInterface.1.AssociatePublicIpAddress"] == "false");
    for (const char *spec : {"TagSpecification.1.", "TagSpecification.2."}) {
        CHECK(p[std::string(spec) + "Tag.1.Key"] == "a");
        CHECK(p[std::string(spec) + "Tag.2.Value"] == "2");
    }
    CHECK(p["TagSpecification.1.ResourceType"] == "instance");
    CHECK(p["TagSpecification.2.ResourceType"] == "volume");
    CHECK(p["BlockDeviceMapping.1.Ebs.VolumeSize"] == "6");
    CHECK(p["BlockDeviceMapping.1.Ebs.VolumeType"] == "gp3");
    CHECK(p["BlockDeviceMapping.1.Ebs.DeleteOnTermination"] == "true");
    CHECK(p["InstanceMarketOptions.MarketType"] == "spot");
    CHECK(std::stod(p["InstanceMarketOptions.SpotOptions.MaxPrice"]) == doctest::Approx(0.25));
    CHECK(p["IamInstanceProfile.Name"] == "prof");

    type.preemptible = false;
    type.added_scratch = 0;
    const QueryParams plain = run_instances_params(config, type, "ami-1", {}, "", "", "");
    for (const auto &name_value : plain.items()) {
        const auto &name = name_value.first; // clang 14 cannot capture a structured binding
        CAPTURE(name);
        CHECK(name.rfind("InstanceMarketOptions", 0) != 0);
        CHECK(name.rfind("BlockDeviceMapping", 0) != 0);
        CHECK(name != "KeyName");
        CHECK(name != "NetworkInterface.1.SubnetId");
    }
}

// ---- key fingerprints ----------------------------------------------------------------

TEST_CASE("key fingerprints agree with ssh-keygen and openssl") {
    cloudhost::test::TempDir dir("ec2-fingerprint");
    const auto keygen = [&](const std::string &type) {
        const std::string path = (dir / type).string();
        const auto r = cloudhost::test::run_process(
            {"/usr/bin/ssh-keygen", "-q", "-t", type, "-N", "", "-C", "test key", "-f", path});
        REQUIRE_MESSAGE(r.status == 0, r.err);
        std::ifstream in(path + ".pub");
        std::string line;
        std::getline(in, line);
        return std::make_pair(path + ".pub", line);
    };
    {
        const auto [path, line] = keygen("ed25519");
        const KeyFingerprint fp = key_fingerprint(line);
        // ssh-keygen -l prints "256 SHA256:<unpadded base64> comment (ED25519)".
        const auto r = cloudhost::test::run_process({"/usr/bin/ssh-keygen", "-l", "-f", path});
        REQUIRE(r.status == 0);
        const std::string sha = r.out.substr(
            r.out.find("SHA256:"), r.out.find(' ', r.out.find("SHA256:")) - r.out.find("SHA256:"));
        CHECK(std::find(fp.lookup_forms.begin(), fp.lookup_forms.end(), sha) !=
              fp.lookup_forms.end());
        CHECK(fp.primary == sha.substr(7) + "=");
        CHECK(key_pair_name(fp) == "cloudhost-keypair-" + fp.primary);
    }
    {
        const auto [path, line] = keygen("rsa");
        const KeyFingerprint fp = key_fingerprint(line);
        // AWS: MD5 of the DER SubjectPublicKeyInfo, as `openssl md5 -c` prints it.
        const auto r = cloudhost::test::run_process(
            {"/bin/sh", "-c",
             "ssh-keygen -e -m PKCS8 -f '" + path +
                 "' | openssl pkey -pubin -outform DER | openssl md5 -c"});
        REQUIRE_MESSAGE(r.status == 0, r.err);
        const std::string md5_text = r.out.substr(r.out.rfind(' ') + 1, 47);
        CHECK(fp.primary == md5_text);
        CHECK(fp.lookup_forms.size() == 2);
        CHECK(fp.lookup_forms[1].size() == 59); // SHA-1, colon-separated
    }
    for (const char *bad :
         {"", "ssh-ed25519", "ssh-ed25519 !!!!", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA=="})
        CHECK_THROWS_AS(key_fingerprint(bad), std::invalid_argument);
}

// ---- credentials -------------------------------------------------------------------------

TEST_CASE("credentials: shared file profiles and their errors") {
    const std::string text =
        "# comment\n[default]\naws_access_key_id = AK1\naws_secret_access_key=SK1\n"
        "\n[other]\naws_access_key_id=AK2\naws_secret_access_key = SK2\n"
        "aws_session_token = T2\n[broken]\naws_access_key_id=AK3\n";
    const auto d = read_shared_credentials("f", text, "default");
    REQUIRE(d);
    CHECK(d->access_key_id == "AK1");
    CHECK(d->secret_access_key == "SK1");
    CHECK(d->session_token.empty());
    const auto o = read_shared_credentials("f", text, "other");
    REQUIRE(o);
    CHECK(o->session_token == "T2");
    CHECK_FALSE(read_shared_credentials("f", text, "missing"));
    CHECK_THROWS_WITH_AS(read_shared_credentials("f", text, "broken"),
                         doctest::Contains("f:10: profile \"broken\" lacks"),
                         sdk::InvalidConfigError);
    CHECK_THROWS_WITH_AS(read_shared_credentials("f", "[default\n", "default"),
                         doctest::Contains("f:1: unterminated section"), sdk::InvalidConfigError);
    CHECK_THROWS_WITH_AS(read_shared_credentials("f", "[default]\njunk\n", "default"),
                         doctest::Contains("f:2: expected key = value"), sdk::InvalidConfigError);
}

TEST_CASE("credentials: the source order (config, environment, shared file)") {
    cloudhost::test::TempDir dir("ec2-credentials");
    const std::string file = (dir / "credentials").string();
    std::ofstream(file) << "[default]\naws_access_key_id=FILEKEY\naws_secret_access_key=FS\n"
                           "[p2]\naws_access_key_id=P2KEY\naws_secret_access_key=P2S\n";
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", file.c_str(), 1);
    ::unsetenv("AWS_PROFILE");
    ::setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    ::setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
    {
        CredentialSource s(parse_config(R"({"region": "r", "access_key_id": "CFG",
                                            "secret_access_key": "CS"})"),
                           {});
        CHECK(s.get().access_key_id == "CFG");
        CHECK(s.origin() == "config");
    }
    {
        CredentialSource s(parse_config(R"({"region": "r"})"), {});
        CHECK(s.get().access_key_id == "ENVKEY");
        CHECK(s.get().session_token == "ENVTOKEN");
    }
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
    ::unsetenv("AWS_SESSION_TOKEN");
    {
        CredentialSource s(parse_config(R"({"region": "r"})"), {});
        CHECK(s.get().access_key_id == "FILEKEY");
        CredentialSource p(parse_config(R"({"region": "r", "profile": "p2"})"), {});
        CHECK(p.get().access_key_id == "P2KEY");
        ::setenv("AWS_PROFILE", "p2", 1);
        CredentialSource e(parse_config(R"({"region": "r"})"), {});
        CHECK(e.get().access_key_id == "P2KEY");
        ::unsetenv("AWS_PROFILE");
    }
    CHECK_THROWS_WITH_AS(
        CredentialSource(parse_config(R"({"region": "r", "profile": "nope"})"), {}),
        doctest::Contains("\"profile\" names \"nope\""), sdk::InvalidConfigError);
    {
        // Nothing else: the instance role, asked at the first call (here: nobody answers).
        ::setenv("AWS_SHARED_CREDENTIALS_FILE", (dir / "absent").c_str(), 1);
        CredentialSource s(
            parse_config(R"({"region": "r", "imds_endpoint": "http://127.0.0.1:9"})"), {});
        CHECK(s.origin().find("IMDSv2") != std::string::npos);
        CHECK_THROWS_WITH(s.get(), doctest::Contains("instance role (IMDSv2) failed"));
    }
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

TEST_CASE("credentials: an instance role document nested past the limit is an error") {
    // A real HTTP server on loopback as the metadata service (IMDSv2 token,
    // role name, then the credentials document), answering deep JSON.
    httplib::Server imds;
    std::string document;
    imds.Put("/latest/api/token", [](const httplib::Request &, httplib::Response &r) {
        r.set_content("tok", "text/plain");
    });
    imds.Get("/latest/meta-data/iam/security-credentials/",
             [](const httplib::Request &, httplib::Response &r) {
                 r.set_content("role", "text/plain");
             });
    imds.Get("/latest/meta-data/iam/security-credentials/role",
             [&](const httplib::Request &, httplib::Response &r) {
                 r.set_content(document, "application/json");
             });
    const int port = imds.bind_to_any_port("127.0.0.1");
    std::thread serving([&] { imds.listen_after_bind(); });
    // bind_to_any_port already listens: connections queue until it accepts.
    cloudhost::test::TempDir dir("ec2-imds-deep");
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (dir / "absent").c_str(), 1);
    const auto source = [&] {
        return std::make_unique<CredentialSource>(
            parse_config(R"({"region": "r", "imds_endpoint": "http://127.0.0.1:)" +
                         std::to_string(port) + "\"}"),
            sdk::Logger{});
    };
    for (const std::string &deep :
         {std::string(30000, '[') + std::string(30000, ']'), std::string(60000, '['),
          "{\"Code\": \"Success\", \"x\": " + std::string(100, '[') + std::string(100, ']') +
              "}"}) {
        document = deep;
        CHECK_THROWS_WITH(source()->get(), doctest::Contains("not a JSON object"));
    }
    document = R"({"Code": "Success", "AccessKeyId": "ROLEKEY", "SecretAccessKey": "S",
                   "Token": "T", "Expiration": "2099-01-01T00:00:00Z"})";
    CHECK(source()->get().access_key_id == "ROLEKEY"); // the server does answer
    imds.stop();
    serving.join();
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

TEST_CASE("credentials: ISO 8601 expiration times") {
    const auto t = parse_iso8601_utc("2015-08-30T12:36:00Z");
    REQUIRE(t);
    CHECK(sdk::Clock::to_time_t(*t) == 1440938160);
    CHECK(parse_iso8601_utc("2015-08-30T12:36:00.123Z"));
    CHECK(parse_iso8601_utc("2015-08-30T12:36:00+00:00"));
    for (const char *bad :
         {"", "2015-08-30", "2015-08-30T12:36:00", "2015-08-30T12:36:00+02:00", "x"})
        CHECK_MESSAGE(!parse_iso8601_utc(bad), bad);
}
