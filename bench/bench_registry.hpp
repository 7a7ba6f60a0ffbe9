// cloudhost-bench: each benchmark measures something and, where a peer
// exists, a baseline side by side in the same run. Results print as one JSON
// object per line: {"name","value","unit","baseline","baseline_value","ratio"}.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost::bench {

struct Result {
    std::string name;
    double value = 0;
    std::string unit;
    std::string baseline; // what the baseline is, "" if none
    std::optional<double> baseline_value;
    std::string note; // how it was measured (text output only)
};

struct Benchmark {
    std::string name;
    std::string description;
    std::function<std::vector<Result>()> run;
};

std::vector<Benchmark> &registry();

struct Register {
    Register(std::string name, std::string description, std::function<std::vector<Result>()> run) {
        registry().push_back({std::move(name), std::move(description), std::move(run)});
    }
};

// Paths of build artefacts, from CLOUDHOST_BUILD_ROOT or the compile-time build dir.
std::string build_root();

// Median of samples (copies and sorts).
double median(std::vector<double> samples);
double percentile(std::vector<double> samples, double p);

} // namespace cloudhost::bench
