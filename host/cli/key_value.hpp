// Parsing K=V command-line items (--tag, --env, tag ID K=V...). Kept apart
// from the commands so the fuzz targets can link it alone.
#pragma once

#include "cli_context.hpp"

#include "cloudhost/types.hpp"

#include <string>
#include <utility>
#include <vector>

namespace cloudhost::cli {

// "K=V" → {K, V}; UsageError naming `flag` otherwise. Keys must be non-empty.
std::pair<std::string, std::string> parse_key_value(const std::string &text,
                                                    const std::string &flag);
// Every item parsed as a tag: the host's tag rules (length, control
// characters, UTF-8, count; see cloudhost/tag_rules.hpp) are checked here so
// the error names the flag and its position ("--tag #2: ..."); a key given
// twice is a UsageError too.
Tags parse_tags(const std::vector<std::string> &items, const std::string &flag);
// Every item parsed as an environment variable: NAME=VALUE with NAME a
// shell identifier ([A-Za-z_][A-Za-z0-9_]*) and VALUE without NUL bytes.
Tags parse_environment(const std::vector<std::string> &items, const std::string &flag);

} // namespace cloudhost::cli
