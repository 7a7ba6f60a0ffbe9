#include "cloudhost/version.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace cloudhost {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_identifier_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

// A numeric part: digits only, no leading zero, fits in 64 bits.
bool parse_number(std::string_view s, uint64_t &out) {
    if (!all_digits(s) || (s.size() > 1 && s[0] == '0'))
        return false;
    uint64_t value = 0;
    for (char c : s) {
        const auto digit = static_cast<uint64_t>(c - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    out = value;
    return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        const size_t end = s.find(sep, start);
        parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos)
            return parts;
        start = end + 1;
    }
}

// "MAJOR[.MINOR[.PATCH[-pre]]]"; `given` counts the numeric parts present.
struct PartialVersion {
    uint64_t parts[3] = {0, 0, 0};
    int given = 0;
    std::vector<std::string> prerelease;
};

[[noreturn]] void bad_version(std::string_view text, const std::string &why) {
    throw std::invalid_argument("invalid version \"" + std::string(text) + "\": " + why);
}

PartialVersion parse_partial(std::string_view text, bool allow_partial) {
    PartialVersion v;
    std::string_view core = text;
    const size_t dash = text.find('-');
    if (dash != std::string_view::npos) {
        core = text.substr(0, dash);
        const std::string_view pre = text.substr(dash + 1);
        for (std::string_view id : split(pre, '.')) {
            if (id.empty() || !std::all_of(id.begin(), id.end(), is_identifier_char))
                bad_version(text, "prerelease identifier \"" + std::string(id) +
                                      "\" must be non-empty [0-9A-Za-z-]");
            if (all_digits(id) && id.size() > 1 && id[0] == '0')
                bad_version(text, "numeric prerelease identifier \"" + std::string(id) +
                                      "\" has a leading zero");
            v.prerelease.emplace_back(id);
        }
    }
    const auto parts = split(core, '.');
    if (parts.size() > 3)
        bad_version(text, "more than three numeric parts");
    if (parts.size() < 3 && !allow_partial)
        bad_version(text, "expected MAJOR.MINOR.PATCH");
    static const char *const part_names[] = {"major", "minor", "patch"};
    for (size_t i = 0; i < parts.size(); ++i) {
        if (!parse_number(parts[i], v.parts[i]))
            bad_version(text, std::string(part_names[i]) + " part \"" + std::string(parts[i]) +
                                  "\" is not a number without leading zeros");
    }
    v.given = static_cast<int>(parts.size());
    if (!v.prerelease.empty() && v.given < 3)
        bad_version(text, "a prerelease needs MAJOR.MINOR.PATCH");
    return v;
}

Version full(const PartialVersion &p) {
    return Version(p.parts[0], p.parts[1], p.parts[2], p.prerelease);
}

// The smallest version above every version that starts with p's given parts
// ("1.2" -> 1.3.0, "1" -> 2.0.0).
Version next_after(const PartialVersion &p) {
    if (p.given >= 3)
        return Version(p.parts[0], p.parts[1], p.parts[2] + 1);
    if (p.given == 2)
        return Version(p.parts[0], p.parts[1] + 1, 0);
    return Version(p.parts[0] + 1, 0, 0);
}

int compare_identifiers(const std::string &a, const std::string &b) {
    const bool a_num = all_digits(a), b_num = all_digits(b);
    if (a_num && b_num) {
        if (a.size() != b.size()) // no leading zeros: longer is larger
            return a.size() < b.size() ? -1 : 1;
        return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
    }
    if (a_num != b_num)
        return a_num ? -1 : 1; // numeric identifiers sort first
    const int c = a.compare(b);
    return c < 0 ? -1 : (c == 0 ? 0 : 1);
}

} // namespace

Version::Version(uint64_t major, uint64_t minor, uint64_t patch,
                 std::vector<std::string> prerelease)
    : major_(major), minor_(minor), patch_(patch), prerelease_(std::move(prerelease)) {}

Version Version::parse(std::string_view text) {
    return full(parse_partial(text, false));
}

std::string Version::str() const {
    std::string s =
        std::to_string(major_) + "." + std::to_string(minor_) + "." + std::to_string(patch_);
    for (size_t i = 0; i < prerelease_.size(); ++i)
        s += (i == 0 ? "-" : ".") + prerelease_[i];
    return s;
}

std::strong_ordering operator<=>(const Version &a, const Version &b) {
    if (auto c = a.major_ <=> b.major_; std::is_neq(c))
        return c;
    if (auto c = a.minor_ <=> b.minor_; std::is_neq(c))
        return c;
    if (auto c = a.patch_ <=> b.patch_; std::is_neq(c))
        return c;
    // A release ranks above its prereleases.
    if (a.prerelease_.empty() || b.prerelease_.empty())
        return a.prerelease_.empty() <=> b.prerelease_.empty();
    const size_t n = std::min(a.prerelease_.size(), b.prerelease_.size());
    for (size_t i = 0; i < n; ++i) {
        const int c = compare_identifiers(a.prerelease_[i], b.prerelease_[i]);
        if (c != 0)
            return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    }
    return a.prerelease_.size() <=> b.prerelease_.size();
}

VersionConstraint VersionConstraint::parse(std::string_view text) {
    VersionConstraint result;
    size_t pos = 0;
    while (pos < text.size()) {
        if (text[pos] == ' ' || text[pos] == '\t') {
            ++pos;
            continue;
        }
        size_t end = pos;
        while (end < text.size() && text[end] != ' ' && text[end] != '\t')
            ++end;
        const std::string_view token = text.substr(pos, end - pos);
        pos = end;

        const std::string_view op =
            token.substr(0, std::min(token.find_first_of("0123456789"), token.size()));
        const std::string_view version_text = token.substr(op.size());
        if (!op.empty() && op != "=" && op != "<" && op != "<=" && op != ">" && op != ">=" &&
            op != "^" && op != "~")
            throw std::invalid_argument("invalid version constraint token \"" + std::string(token) +
                                        "\": unknown operator \"" + std::string(op) + "\"");
        PartialVersion v;
        try {
            if (version_text.empty())
                throw std::invalid_argument("missing version");
            v = parse_partial(version_text, true);
        } catch (const std::invalid_argument &e) {
            throw std::invalid_argument("invalid version constraint token \"" + std::string(token) +
                                        "\": " + e.what());
        }
        auto &out = result.comparators_;
        if (op.empty() || op == "=") {
            if (v.given == 3) {
                out.push_back({Op::eq, full(v)});
            } else {
                out.push_back({Op::ge, full(v)});
                out.push_back({Op::lt, next_after(v)});
            }
        } else if (op == "<") {
            out.push_back({Op::lt, full(v)});
        } else if (op == ">=") {
            out.push_back({Op::ge, full(v)});
        } else if (op == "<=") {
            out.push_back(v.given == 3 ? Comparator{Op::le, full(v)}
                                       : Comparator{Op::lt, next_after(v)});
        } else if (op == ">") {
            out.push_back(v.given == 3 ? Comparator{Op::gt, full(v)}
                                       : Comparator{Op::ge, next_after(v)});
        } else if (op == "~") {
            out.push_back({Op::ge, full(v)});
            PartialVersion prefix = v;
            prefix.given = std::min(v.given, 2);
            out.push_back({Op::lt, next_after(prefix)});
        } else { // "^": keep the leftmost non-zero part among those given
            out.push_back({Op::ge, full(v)});
            PartialVersion prefix = v;
            prefix.given = 1;
            if (v.parts[0] == 0 && v.given >= 2)
                prefix.given = (v.parts[1] == 0 && v.given == 3) ? 3 : 2;
            out.push_back({Op::lt, next_after(prefix)});
        }
    }
    // Normalise the spelling for messages.
    for (size_t i = 0; i < text.size();) {
        const size_t start = text.find_first_not_of(" \t", i);
        if (start == std::string_view::npos)
            break;
        const size_t end = std::min(text.find_first_of(" \t", start), text.size());
        result.text_ +=
            (result.text_.empty() ? "" : " ") + std::string(text.substr(start, end - start));
        i = end;
    }
    return result;
}

bool VersionConstraint::matches(const Version &v) const {
    bool prerelease_allowed = !v.is_prerelease() || comparators_.empty();
    for (const Comparator &c : comparators_) {
        const auto order = v <=> c.version;
        bool ok = false;
        switch (c.op) {
        case Op::eq:
            ok = std::is_eq(order);
            break;
        case Op::lt:
            ok = std::is_lt(order);
            break;
        case Op::le:
            ok = std::is_lteq(order);
            break;
        case Op::gt:
            ok = std::is_gt(order);
            break;
        case Op::ge:
            ok = std::is_gteq(order);
            break;
        }
        if (!ok)
            return false;
        if (c.version.is_prerelease() && c.version.major() == v.major() &&
            c.version.minor() == v.minor() && c.version.patch() == v.patch())
            prerelease_allowed = true;
    }
    return prerelease_allowed;
}

} // namespace cloudhost
