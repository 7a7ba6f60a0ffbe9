#include "exposition.hpp"

#include <charconv>
#include <cmath>

namespace cloudhost::detail {

void append_value(std::string &out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

void append_label_value(std::string &out, std::string_view value) {
    out += '"';
    for (const char c : value) {
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '"':
            out += "\\\"";
            break;
        case '\n':
            out += "\\n";
            break;
        default:
            out += c;
        }
    }
    out += '"';
}

namespace {

void append_help(std::string &out, std::string_view help) {
    for (const char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

// name{a="x",b="y"[,le="bound"]} value
void append_sample(std::string &out, const MetricFamily &family, std::string_view suffix,
                   const std::vector<std::string> &values, const char *le, double value) {
    out += family.name;
    out += suffix;
    if (!values.empty() || le) {
        out += '{';
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i)
                out += ',';
            out += family.label_names[i];
            out += '=';
            append_label_value(out, values[i]);
        }
        if (le) {
            if (!values.empty())
                out += ',';
            out += "le=\"";
            out += le;
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    append_value(out, value);
    out += '\n';
}

} // namespace

void render_family(const MetricFamily &family, std::string &out) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    out += "# HELP ";
    out += family.name;
    out += ' ';
    append_help(out, family.help);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += type_names[static_cast<int>(family.kind)];
    out += '\n';

    const std::lock_guard lock(family.mutex);
    for (const auto &[values, cell] : family.cells) {
        if (family.kind != MetricKind::histogram) {
            append_sample(out, family, "", values, nullptr, cell_value(cell.get()));
            continue;
        }
        // Read every bucket once; _count is their total so that it always
        // equals the +Inf bucket.
        uint64_t cumulative = 0;
        std::string le;
        for (std::size_t i = 0; i <= family.bounds.size(); ++i) {
            cumulative += cell->buckets[i].load(std::memory_order_relaxed);
            le.clear();
            if (i < family.bounds.size())
                append_value(le, family.bounds[i]);
            else
                le = "+Inf";
            append_sample(out, family, "_bucket", values, le.c_str(),
                          static_cast<double>(cumulative));
        }
        append_sample(out, family, "_sum", values, nullptr,
                      cell->value.load(std::memory_order_relaxed));
        append_sample(out, family, "_count", values, nullptr, static_cast<double>(cumulative));
    }
}

} // namespace cloudhost::detail
