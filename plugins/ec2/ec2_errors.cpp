#include "ec2_errors.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace cloudhost::ec2 {
namespace {

// Codes the AWS SDKs treat as throttling (aws-sdk-go-v2 retry defaults).
constexpr std::array throttle_codes = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

constexpr std::array quota_codes = {
    "InstanceLimitExceeded",
    "InsufficientAddressCapacity",
    "InsufficientFreeAddressesInSubnet",
    "InsufficientVolumeCapacity",
    "MaxSpotInstanceCountExceeded",
};

bool contains_nocase(std::string_view text, std::string_view word) {
    return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
           }) != text.end();
}

std::string describe(const std::string &action, const std::string &code, const std::string &message,
                     const std::string &request_id, long status) {
    std::string text = "ec2 " + action + ": ";
    if (!code.empty())
        text += code + ": ";
    text += message.empty() ? "HTTP " + std::to_string(status) : message;
    if (!request_id.empty())
        text += " (request id " + request_id + ")";
    return text;
}

} // namespace

std::string printable(std::string_view text, std::size_t limit) {
    std::string out;
    for (const unsigned char c : text) {
        if (out.size() >= limit) {
            out += "...";
            break;
        }
        out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    return out;
}

AwsError::AwsError(const std::string &action, const std::string &code, const std::string &message,
                   const std::string &request_id, long http_status)
    : sdk::Error(describe(action, printable(code, 128), printable(message),
                          printable(request_id, 128), http_status)),
      code_(printable(code, 128)), message_(printable(message)),
      request_id_(printable(request_id, 128)), http_status_(http_status) {}

ErrorClass classify(std::string_view code, std::string_view message,
                    std::string_view instance_type) {
    if (code.empty())
        return ErrorClass::other;
    if (std::find(throttle_codes.begin(), throttle_codes.end(), code) != throttle_codes.end())
        return ErrorClass::rate_limit;
    if (std::find(quota_codes.begin(), quota_codes.end(), code) != quota_codes.end())
        return ErrorClass::quota;
    if (code == "VcpuLimitExceeded")
        return ErrorClass::capacity_quota_group;
    if (code == "InsufficientInstanceCapacity")
        return ErrorClass::capacity_instance_type;
    if (code == "Unsupported" && !instance_type.empty() && contains_nocase(message, instance_type))
        return ErrorClass::capacity_instance_type;
    return ErrorClass::other;
}

bool is_subnet_specific(std::string_view code, std::string_view message) {
    return code.find("Subnet") != std::string_view::npos ||
           code == "InsufficientInstanceCapacity" || code == "InsufficientVolumeCapacity" ||
           code == "Unsupported" ||
           (code.rfind("InvalidParameter", 0) == 0 &&
            (contains_nocase(message, "subnet") ||
             contains_nocase(message, "insufficient free addresses")));
}

std::chrono::milliseconds Backoff::next_delay() {
    using namespace std::chrono_literals;
    std::lock_guard lock(mutex_);
    delay_ = std::clamp<std::chrono::milliseconds>(delay_ * 3 / 2 + 1000ms, 1000ms, 60'000ms);
    return delay_;
}

void Backoff::reset() {
    std::lock_guard lock(mutex_);
    delay_ = std::chrono::milliseconds(0);
}

std::chrono::milliseconds Backoff::current() const {
    std::lock_guard lock(mutex_);
    return delay_;
}

void throw_typed(const AwsError &error, Backoff &backoff, std::string_view instance_type) {
    switch (classify(error.code(), error.aws_message(), instance_type)) {
    case ErrorClass::rate_limit: {
        const auto delay = backoff.next_delay();
        throw sdk::RateLimitError(error.what(), sdk::Clock::now() + delay);
    }
    case ErrorClass::quota:
        throw sdk::QuotaError(error.what());
    case ErrorClass::capacity_quota_group:
        throw sdk::CapacityError(error.what(), sdk::CapacityScope::quota_group);
    case ErrorClass::capacity_instance_type:
        throw sdk::CapacityError(error.what(), sdk::CapacityScope::instance_type);
    case ErrorClass::other:
        break;
    }
    backoff.reset();
    throw error;
}

} // namespace cloudhost::ec2
