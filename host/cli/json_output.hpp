// JSON shapes of the command line contract (DESIGN.md "Command line").
#pragma once

#include "cloudhost/instance.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

namespace cloudhost::cli {

// ASCII output (\uXXXX for the rest): valid for every JSON decoder, and a
// C1 control from a driver (U+009B is CSI to many terminals) stays inert.
using JsonWriter =
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>>;

// Which tag values CLI output replaces by "(redacted)": the instance secret
// (`<prefix>InstanceSecret`, the proof of an instance's identity) and any tag
// whose key names a secret (secret, password, token, credential; any case),
// unless --show-secrets.
struct SecretTags {
    std::string tag_key_prefix;
    bool show = false;
    bool hides(const std::string &key) const;
};
inline constexpr const char *redacted_value = "(redacted)";

void write_string(JsonWriter &w, const std::string &s);
void write_tags(JsonWriter &w, const Tags &tags, const SecretTags &secrets);
// {"id","provider_type","address","remote_user","tags"}
void write_instance(JsonWriter &w, const Instance &instance, const SecretTags &secrets);

} // namespace cloudhost::cli
