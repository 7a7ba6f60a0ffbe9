// Semantic versions (semver.org 2.0.0 precedence) and version constraints.
//
// Used to pick the highest version of a driver and, by hot swap, to decide
// which versions an InstanceSet may move to.
#pragma once

#include "cloudhost/export.hpp"

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cloudhost {

// "MAJOR.MINOR.PATCH" with an optional "-prerelease" (dot-separated
// identifiers). Build metadata ("+...") is not accepted: driver versions
// must identify their bytes.
class CLOUDHOST_API Version {
  public:
    // Throws std::invalid_argument naming the offending text.
    static Version parse(std::string_view text);

    Version() = default;
    Version(uint64_t major, uint64_t minor, uint64_t patch,
            std::vector<std::string> prerelease = {});

    uint64_t major() const noexcept { return major_; }
    uint64_t minor() const noexcept { return minor_; }
    uint64_t patch() const noexcept { return patch_; }
    const std::vector<std::string> &prerelease() const noexcept { return prerelease_; }
    bool is_prerelease() const noexcept { return !prerelease_.empty(); }
    std::string str() const;

    // Semver precedence: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0.
    friend std::strong_ordering operator<=>(const Version &a, const Version &b);
    friend bool operator==(const Version &a, const Version &b) { return std::is_eq(a <=> b); }

  private:
    uint64_t major_ = 0, minor_ = 0, patch_ = 0;
    std::vector<std::string> prerelease_;
};

// Space-separated comparators that must all hold:
//   ">=1.2 <2"  "=1.4.0"  "1.4.0"  "^1.2"  "~1.2"  ">1"  "<=2.0.0-rc.1"
// Missing minor/patch read as 0 in comparisons; "^" allows changes that keep
// the leftmost non-zero part, "~" allows patch changes (minor too for "~1"),
// and a bare partial version "1.4" means ">=1.4.0 <1.5.0".
// As in npm, a prerelease version satisfies a non-empty constraint only if
// one comparator names a prerelease of the same MAJOR.MINOR.PATCH. The empty
// constraint accepts every version.
class CLOUDHOST_API VersionConstraint {
  public:
    // Throws std::invalid_argument naming the offending token.
    static VersionConstraint parse(std::string_view text);

    VersionConstraint() = default; // accepts everything
    bool matches(const Version &v) const;
    bool empty() const noexcept { return comparators_.empty(); }
    const std::string &str() const noexcept { return text_; }

  private:
    enum class Op { eq, lt, le, gt, ge };
    struct Comparator {
        Op op;
        Version version;
    };
    std::vector<Comparator> comparators_;
    std::string text_;
};

} // namespace cloudhost
