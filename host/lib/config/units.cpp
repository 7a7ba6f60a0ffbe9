// Durations and byte sizes in configuration values.
#include "cloudhost/config.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

namespace cloudhost {
namespace {

// Reads a non-negative decimal number (digits with an optional fraction).
bool read_number(std::string_view &s, double &value) {
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
        ++i;
    if (i == 0)
        return false;
    std::string digits(s.substr(0, i));
    char *end = nullptr;
    value = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size() || !std::isfinite(value))
        return false;
    s.remove_prefix(i);
    return true;
}

} // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
    const std::string original(text);
    auto fail = [&] {
        return ConfigError("bad duration \"" + original +
                           "\" (expected e.g. \"90s\", \"1m30s\", \"250ms\", \"2h\" or seconds)");
    };
    if (text.empty())
        throw fail();
    // About 31700 years: far beyond any timeout, far below int64 overflow.
    constexpr double max_ms = 1e15;
    double total_ms = 0;
    {
        // A bare number means seconds.
        std::string_view rest = text;
        double v = 0;
        if (read_number(rest, v) && rest.empty()) {
            if (v * 1000 > max_ms)
                throw fail();
            return std::chrono::milliseconds(static_cast<int64_t>(std::llround(v * 1000)));
        }
    }
    while (!text.empty()) {
        double v = 0;
        if (!read_number(text, v))
            throw fail();
        double unit_ms = 0;
        if (text.substr(0, 2) == "ms") {
            unit_ms = 1;
            text.remove_prefix(2);
        } else if (!text.empty() && text[0] == 's') {
            unit_ms = 1000;
            text.remove_prefix(1);
        } else if (!text.empty() && text[0] == 'm') {
            unit_ms = 60000;
            text.remove_prefix(1);
        } else if (!text.empty() && text[0] == 'h') {
            unit_ms = 3600000;
            text.remove_prefix(1);
        } else {
            throw fail();
        }
        total_ms += v * unit_ms;
    }
    if (total_ms > max_ms)
        throw fail();
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

uint64_t parse_byte_size(std::string_view text) {
    const std::string original(text);
    auto fail = [&] {
        return ConfigError("bad byte size \"" + original +
                           "\" (expected e.g. \"4GiB\", \"512MB\" or a number of bytes)");
    };
    double v = 0;
    if (!read_number(text, v))
        throw fail();
    while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
    static const std::pair<std::string_view, double> units[] = {{"", 1},
                                                                {"B", 1},
                                                                {"KB", 1e3},
                                                                {"MB", 1e6},
                                                                {"GB", 1e9},
                                                                {"TB", 1e12},
                                                                {"PB", 1e15},
                                                                {"KiB", 1024.0},
                                                                {"MiB", 1048576.0},
                                                                {"GiB", 1073741824.0},
                                                                {"TiB", 1099511627776.0},
                                                                {"PiB", 1125899906842624.0},
                                                                {"K", 1e3},
                                                                {"M", 1e6},
                                                                {"G", 1e9},
                                                                {"T", 1e12},
                                                                {"Ki", 1024.0},
                                                                {"Mi", 1048576.0},
                                                                {"Gi", 1073741824.0},
                                                                {"Ti", 1099511627776.0}};
    for (const auto &[suffix, factor] : units) {
        if (text == suffix) {
            // 2^64 exactly; every double below it converts without overflow
            // (llround would overflow above 2^63).
            const double bytes = std::round(v * factor);
            if (!(bytes < 18446744073709551616.0))
                throw fail();
            return static_cast<uint64_t>(bytes);
        }
    }
    throw fail();
}

} // namespace cloudhost
