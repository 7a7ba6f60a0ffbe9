#include "json_log_format.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/pattern_formatter.h>

namespace cloudhost::cli {
namespace {

// %* in the pattern: the message as a JSON string, quotes included.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg &msg, const std::tm &,
                spdlog::memory_buf_t &dest) override {
        rapidjson::StringBuffer buffer;
        rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
        writer.String(msg.payload.data(), static_cast<rapidjson::SizeType>(msg.payload.size()));
        dest.append(buffer.GetString(), buffer.GetString() + buffer.GetSize());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonMessageFlag>();
    }
};

} // namespace

std::unique_ptr<spdlog::formatter> make_json_log_formatter() {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":%*})");
    return formatter;
}

} // namespace cloudhost::cli
