// JSON shapes of the command line contract (DESIGN.md "Command line").
#pragma once

#include "cloudhost/instance.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

namespace cloudhost::cli {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(JsonWriter &w, const std::string &s);
void write_tags(JsonWriter &w, const Tags &tags);
// {"id","provider_type","address","remote_user","tags"}
void write_instance(JsonWriter &w, const Instance &instance);

} // namespace cloudhost::cli
