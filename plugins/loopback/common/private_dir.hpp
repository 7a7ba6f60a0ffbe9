// Who may write the loopback state. The state directory holds every
// instance's host key, authorized key and init command, and the driver runs
// commands on whatever server it finds there, so a directory another user can
// write is a door into the user running the driver. The rule mirrors the
// host's rule for driver directories (host/lib/catalog/trusted_path.hpp),
// which a driver cannot link: the directory is owned by the user running the
// driver and writable only by its owner; every directory above it is owned by
// root or that user and writable only by its owner, except a sticky one
// (/tmp), where only owners may rename entries.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace cloudhost::loopback {

// The state directory and its ancestors against the rule: nullopt when it
// holds, else one line naming the offending path and the rule broken.
std::optional<std::string> state_dir_problem(const std::filesystem::path &state_dir);

// An instance directory inside a state directory that passed: a real
// directory (not a symlink) owned by the current uid and writable only by
// it. nullopt when it holds, else one line naming the path and the rule.
std::optional<std::string> instance_dir_problem(const std::filesystem::path &instance_dir);

} // namespace cloudhost::loopback
