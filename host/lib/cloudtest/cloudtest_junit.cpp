// cloudtest's report as JUnit XML, the shape Jenkins, GitLab and GitHub
// reporters read: <testsuites><testsuite><testcase><failure|skipped/>.
#include "cloudhost/cloudtest.hpp"

#include <pugixml.hpp>

#include <sstream>

namespace cloudhost {
namespace {

// XML 1.0 cannot carry most control characters even escaped, nor invalid
// UTF-8: printable_output() shows those as \xNN.
std::string xml_text(std::string_view text) {
    return printable_output(text);
}

std::string seconds_text(double seconds) {
    std::ostringstream out;
    out.precision(3);
    out << std::fixed << seconds;
    return out.str();
}

} // namespace

std::string cloudtest_junit_xml(const CloudtestReport &report, std::string_view suite_name) {
    std::size_t failures = 0;
    std::size_t skipped = 0;
    double total = 0;
    for (const auto &s : report.steps) {
        failures += s.ok ? 0 : 1;
        skipped += s.skipped ? 1 : 0;
        total += s.seconds;
    }
    const std::string tests = std::to_string(report.steps.size() + (report.interrupted ? 1 : 0));
    pugi::xml_document doc;
    auto declaration = doc.append_child(pugi::node_declaration);
    declaration.append_attribute("version") = "1.0";
    declaration.append_attribute("encoding") = "UTF-8";
    auto suites = doc.append_child("testsuites");
    const std::string name = xml_text(suite_name);
    suites.append_attribute("name") = name.c_str();
    suites.append_attribute("tests") = tests.c_str();
    suites.append_attribute("failures") = std::to_string(failures).c_str();
    suites.append_attribute("errors") = report.interrupted ? "1" : "0";
    suites.append_attribute("time") = seconds_text(total).c_str();
    auto suite = suites.append_child("testsuite");
    suite.append_attribute("name") = name.c_str();
    suite.append_attribute("tests") = tests.c_str();
    suite.append_attribute("failures") = std::to_string(failures).c_str();
    suite.append_attribute("errors") = report.interrupted ? "1" : "0";
    suite.append_attribute("skipped") = std::to_string(skipped).c_str();
    suite.append_attribute("time") = seconds_text(total).c_str();
    for (const auto &s : report.steps) {
        auto testcase = suite.append_child("testcase");
        testcase.append_attribute("name") = xml_text(s.name).c_str();
        testcase.append_attribute("classname") = (name + ".conformance").c_str();
        testcase.append_attribute("time") = seconds_text(s.seconds).c_str();
        if (!s.ok) {
            auto failure = testcase.append_child("failure");
            failure.append_attribute("message") = xml_text(s.detail).c_str();
            failure.append_attribute("type") = "ContractViolation";
            failure.text().set(xml_text("rule: " + s.rule + "\n" + s.detail).c_str());
        } else if (s.skipped) {
            testcase.append_child("skipped").append_attribute("message") =
                xml_text(s.detail).c_str();
        }
        if (!s.stdout_excerpt.empty())
            testcase.append_child("system-out").text().set(xml_text(s.stdout_excerpt).c_str());
        if (!s.stderr_excerpt.empty())
            testcase.append_child("system-err").text().set(xml_text(s.stderr_excerpt).c_str());
    }
    if (report.interrupted) {
        auto testcase = suite.append_child("testcase");
        testcase.append_attribute("name") = "interrupted";
        testcase.append_attribute("classname") = (name + ".conformance").c_str();
        testcase.append_child("error").append_attribute("message") =
            "interrupted by a signal; the created instance was destroyed";
    }
    std::ostringstream out;
    doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
    return out.str();
}

} // namespace cloudhost
