// Every test that renders metrics hands the text to Prometheus's own linter
// (`promtool check metrics`, package prometheus) as well as checking it.
#pragma once

#include "subprocess.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace metrics_test {

inline void check_with_promtool(const std::string &text) {
    const char *promtool = std::getenv("PROMTOOL");
    REQUIRE_MESSAGE(promtool != nullptr, "PROMTOOL is not set (run through meson test)");
    const auto result = cloudhost::test::run_process({promtool, "check", "metrics"}, text);
    INFO("promtool said: " << result.out << result.err << "\non:\n" << text);
    CHECK(result.status == 0);
}

} // namespace metrics_test
