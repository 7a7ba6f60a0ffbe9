#include "json_output.hpp"

namespace cloudhost::cli {

void write_string(JsonWriter &w, const std::string &s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
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
