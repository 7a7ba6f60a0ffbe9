// Every test that renders metrics hands the text to Prometheus's own linter
// (`promtool check metrics`, package prometheus) as well as checking it;
// sample() reads one value back.
#pragma once

#include "subprocess.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace metrics_test {

inline void check_with_promtool(const std::string &text) {
    const char *promtool = std::getenv("PROMTOOL");
    REQUIRE_MESSAGE(promtool != nullptr, "PROMTOOL is not set (run through meson test)");
    const auto result = cloudhost::test::run_process({promtool, "check", "metrics"}, text);
    INFO("promtool said: " << result.out << result.err << "\non:\n" << text);
    CHECK(result.status == 0);
}

// The value of the sample whose line starts with `series` + " " in the text
// exposition `text`, or `missing` when there is none.
inline double sample(const std::string &text, const std::string &series, double missing = -1) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind(series + " ", 0) == 0)
            return std::stod(line.substr(series.size() + 1));
    return missing;
}

} // namespace metrics_test
