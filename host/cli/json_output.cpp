#include "json_output.hpp"

#include "cloudhost/printable.hpp"

namespace cloudhost::cli {

// Driver text may hold any bytes: malformed UTF-8 becomes U+FFFD so that
// strict decoders accept the output (the writer escapes control characters).
void write_string(JsonWriter &w, const std::string &s) {
    const std::string valid = utf8_or_replacement(s);
    w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void write_tags(JsonWriter &w, const Tags &tags) {
    w.StartObject();
    for (const auto &[k, v] : tags) {
        write_string(w, k);
        write_string(w, v);
    }
    w.EndObject();
}

void write_instance(JsonWriter &w, const Instance &instance) {
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
    write_tags(w, instance.tags());
    w.EndObject();
}

} // namespace cloudhost::cli
