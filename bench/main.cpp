// cloudhost-bench [--json] [NAME...]
#include "bench_registry.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>

namespace cloudhost::bench {

std::vector<Benchmark> &registry() {
    static std::vector<Benchmark> benchmarks;
    return benchmarks;
}

std::string build_root() {
    const char *env = std::getenv("CLOUDHOST_BUILD_ROOT");
    return env && *env ? env : CLOUDHOST_BUILD_ROOT_DEFAULT;
}

double median(std::vector<double> samples) {
    return percentile(std::move(samples), 0.5);
}

double percentile(std::vector<double> samples, double p) {
    if (samples.empty())
        return 0;
    std::sort(samples.begin(), samples.end());
    std::size_t i = static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(i, samples.size() - 1)];
}

} // namespace cloudhost::bench

using namespace cloudhost::bench;

namespace {

void print_json(const Result &r) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("name");
    w.String(r.name.c_str());
    w.Key("value");
    w.Double(r.value);
    w.Key("unit");
    w.String(r.unit.c_str());
    if (r.baseline_value) {
        w.Key("baseline");
        w.String(r.baseline.c_str());
        w.Key("baseline_value");
        w.Double(*r.baseline_value);
        w.Key("ratio");
        w.Double(*r.baseline_value != 0 ? r.value / *r.baseline_value : 0);
    }
    w.EndObject();
    std::cout << buffer.GetString() << std::endl;
}

void print_text(const Result &r) {
    std::cout << std::left << std::setw(40) << r.name << std::right << std::setw(14)
              << std::setprecision(6) << r.value << " " << r.unit;
    if (r.baseline_value)
        std::cout << "   baseline " << r.baseline << ": " << *r.baseline_value << " " << r.unit
                  << " (ratio " << std::setprecision(3) << r.value / *r.baseline_value << ")";
    if (!r.note.empty())
        std::cout << "   [" << r.note << "]";
    std::cout << std::endl;
}

} // namespace

int main(int argc, char **argv) {
    // The library logs to spdlog's default logger, which writes to stdout:
    // stdout carries only results (with --json, one JSON object per line).
    spdlog::set_default_logger(spdlog::stderr_color_mt("cloudhost-bench"));
    bool json = false;
    std::vector<std::string> names;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (std::strcmp(argv[i], "--list") == 0) {
            for (const auto &b : registry())
                std::cout << b.name << "  " << b.description << "\n";
            return 0;
        } else if (argv[i][0] == '-') {
            std::cerr << "cloudhost-bench: unknown flag " << argv[i]
                      << " (usage: cloudhost-bench [--json] [--list] [NAME...])\n";
            return 2;
        } else {
            names.push_back(argv[i]);
        }
    }
    for (const auto &n : names)
        if (std::none_of(registry().begin(), registry().end(),
                         [&](const Benchmark &b) { return b.name == n; })) {
            std::cerr << "cloudhost-bench: no benchmark named \"" << n << "\" (see --list)\n";
            return 2;
        }
    int status = 0;
    for (const auto &b : registry()) {
        if (!names.empty() && std::find(names.begin(), names.end(), b.name) == names.end())
            continue;
        try {
            for (const auto &r : b.run())
                json ? print_json(r) : print_text(r);
        } catch (const std::exception &e) {
            std::cerr << "cloudhost-bench: " << b.name << ": " << e.what() << "\n";
            status = 1;
        }
    }
    return status;
}
