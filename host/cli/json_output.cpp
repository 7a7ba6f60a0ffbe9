#include "json_output.hpp"

#include "cloudhost/printable.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <algorithm>
#include <cctype>

namespace cloudhost::cli {

// Driver text may hold any bytes: malformed UTF-8 becomes U+FFFD so that
// strict decoders accept the output (the writer escapes control characters).
void write_string(JsonWriter &w, const std::string &s) {
    const std::string valid = utf8_or_replacement(s);
    w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

bool SecretTags::hides(const std::string &key) const {
    if (show)
        return false;
    if (key == tag_key_prefix + std::string(instance_secret_tag_suffix))
        return true;
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const char *word : {"secret", "password", "token", "credential"})
        if (lower.find(word) != std::string::npos)
            return true;
    return false;
}

void write_tags(JsonWriter &w, const Tags &tags, const SecretTags &secrets) {
    w.StartObject();
    for (const auto &[k, v] : tags) {
        write_string(w, k);
        write_string(w, secrets.hides(k) ? redacted_value : v);
    }
    w.EndObject();
}

void write_instance(JsonWriter &w, const Instance &instance, const SecretTags &secrets) {
    w.StartObject();
    w.Key("id");
    write_string(w, instance.id());
    w.Key("provider_type");
    write_string(w, instance.provider_type());
    w.Key("address");
    write_string(w, instance.address());
    w.Key("remote_user");
    write_string(w, instance.remote_user());
    w.Key("tags");
    write_tags(w, instance.tags(), secrets);
    w.EndObject();
}

} // namespace cloudhost::cli
