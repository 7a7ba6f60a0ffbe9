#include "json_log_format.hpp"

#include "cloudhost/printable.hpp"

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
        // ASCII, as json_output.hpp's JsonWriter: no C1 control reaches a terminal.
        rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>> writer(
            buffer);
        const std::string valid =
            utf8_or_replacement(std::string_view(msg.payload.data(), msg.payload.size()));
        writer.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
        dest.append(buffer.GetString(), buffer.GetString() + buffer.GetSize());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonMessageFlag>();
    }
};

// %* in the text pattern: the message with control characters escaped.
class TerminalMessageFlag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg &msg, const std::tm &,
                spdlog::memory_buf_t &dest) override {
        const std::string text =
            terminal_text(std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(text.data(), text.data() + text.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<TerminalMessageFlag>();
    }
};

} // namespace

std::unique_ptr<spdlog::formatter> make_text_log_formatter() {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<TerminalMessageFlag>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %*");
    return formatter;
}

std::unique_ptr<spdlog::formatter> make_json_log_formatter() {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":%*})");
    return formatter;
}

} // namespace cloudhost::cli
