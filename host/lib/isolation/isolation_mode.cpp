#include "cloudhost/isolation.hpp"

#include "cloudhost/catalog.hpp"
#include "cloudhost/errors.hpp"

namespace cloudhost {

IsolationMode parse_isolation_mode(std::string_view text) {
    if (text == "none")
        return IsolationMode::none;
    if (text == "process")
        return IsolationMode::process;
    if (text == "auto")
        return IsolationMode::automatic;
    throw InvalidConfigError("isolation: \"" + std::string(text) +
                             "\" is not one of \"none\", \"process\", \"auto\"");
}

const char *isolation_mode_name(IsolationMode mode) noexcept {
    switch (mode) {
    case IsolationMode::none:
        return "none";
    case IsolationMode::process:
        return "process";
    case IsolationMode::automatic:
        return "auto";
    }
    return "auto";
}

IsolationMode resolve_isolation(IsolationMode mode, const DriverFile &file) {
    if (mode != IsolationMode::automatic)
        return mode;
    // Only a verdict about these very bytes vouches for the code; allow-all
    // and permission checks do not.
    const bool vouched = file.trusted && (file.trust.rfind("digest listed", 0) == 0 ||
                                          file.trust.rfind("signed by", 0) == 0);
    return vouched ? IsolationMode::none : IsolationMode::process;
}

IsolationMode resolve_isolation(IsolationMode mode, const Catalog &catalog,
                                const DriverLibrary &library) {
    if (mode != IsolationMode::automatic)
        return mode;
    const std::string sha256 = library.path().stem().string();
    for (const auto &file : catalog.scan())
        if (file.ok && file.sha256 == sha256)
            return resolve_isolation(mode, file);
    return IsolationMode::process;
}

} // namespace cloudhost
