// Reading and validating the cloudhost config file.
#include "cloudhost/config.hpp"

#include "catalog/file_bytes.hpp"
#include "core/validation.hpp"
#include "positioned_json.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/instance_set.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include <netdb.h>

namespace cloudhost {

using config_detail::JsonNode;

namespace {

// Where errors point and how they read: "FILE:LINE:COL: message".
struct Source {
    std::string_view text;
    std::string file;

    [[noreturn]] void fail(std::size_t offset, const std::string &message) const {
        auto p = config_detail::position_of(text, offset);
        throw ConfigError(file + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) +
                          ": " + message);
    }
};

// 0.001, 1e+06: as short as the stream makes it.
std::string format_number(double d) {
    std::ostringstream s;
    s << d;
    return s.str();
}

const char *kind_name(JsonNode::Kind k) {
    switch (k) {
    case JsonNode::Kind::null:
        return "null";
    case JsonNode::Kind::boolean:
        return "a boolean";
    case JsonNode::Kind::integer:
    case JsonNode::Kind::unsigned_integer:
    case JsonNode::Kind::real:
        return "a number";
    case JsonNode::Kind::string:
        return "a string";
    case JsonNode::Kind::array:
        return "an array";
    case JsonNode::Kind::object:
        return "an object";
    }
    return "a value";
}

// Reads the members of one JSON object, checking types; every key must be
// consumed by a read or the object is rejected with the unknown key named.
class ObjectReader {
  public:
    ObjectReader(const Source &src, const JsonNode &node, std::string path)
        : src_(src), node_(node), path_(std::move(path)) {
        if (node.kind != JsonNode::Kind::object)
            src_.fail(node.begin, label() + " must be an object, not " + kind_name(node.kind));
    }

    const JsonNode *find(const std::string &key) {
        known_.insert(key);
        for (const auto &[k, v] : node_.members)
            if (k == key)
                return &v;
        return nullptr;
    }

    void string(const std::string &key, std::string &out) {
        if (const JsonNode *v = find(key))
            out = as_string(key, *v);
    }
    void boolean(const std::string &key, bool &out) {
        if (const JsonNode *v = find(key)) {
            if (v->kind != JsonNode::Kind::boolean)
                wrong_type(key, *v, "a boolean");
            out = v->boolean;
        }
    }
    void number(const std::string &key, double &out, double min, double max) {
        if (const JsonNode *v = find(key)) {
            if (!v->is_number())
                wrong_type(key, *v, "a number");
            if (v->real < min || v->real > max)
                src_.fail(v->begin, quoted(key) + " must be between " + format_number(min) +
                                        " and " + format_number(max));
            out = v->real;
        }
    }
    void unsigned_integer(const std::string &key, uint64_t &out, uint64_t max) {
        if (const JsonNode *v = find(key)) {
            if (v->kind != JsonNode::Kind::unsigned_integer || v->unsigned_integer > max)
                src_.fail(v->begin,
                          quoted(key) + " must be an integer between 0 and " + std::to_string(max));
            out = v->unsigned_integer;
        }
    }
    // A duration string ("90s") or a number of seconds; `zero_allowed`
    // where 0 means "no limit" rather than a busy loop or instant give-up.
    void duration(const std::string &key, std::chrono::milliseconds &out, bool zero_allowed) {
        if (const JsonNode *v = find(key)) {
            if (!v->is_number() && v->kind != JsonNode::Kind::string)
                wrong_type(key, *v, "a duration string like \"90s\" or seconds");
            if (v->is_number() && v->real < 0)
                src_.fail(v->begin, quoted(key) + " must not be negative");
            std::chrono::milliseconds value{};
            try {
                value = parse_duration(v->is_number() ? std::to_string(v->real) : v->string);
            } catch (const ConfigError &e) {
                src_.fail(v->begin, quoted(key) + ": " + e.what());
            }
            if (!zero_allowed && value.count() <= 0)
                src_.fail(v->begin, quoted(key) + " must be at least 1ms");
            out = value;
        }
    }
    void byte_size(const std::string &key, uint64_t &out) {
        if (const JsonNode *v = find(key)) {
            if (v->kind == JsonNode::Kind::unsigned_integer) {
                out = v->unsigned_integer;
                return;
            }
            if (v->kind != JsonNode::Kind::string)
                wrong_type(key, *v, "a byte size like \"4GiB\" or a number of bytes");
            try {
                out = parse_byte_size(v->string);
            } catch (const ConfigError &e) {
                src_.fail(v->begin, quoted(key) + ": " + e.what());
            }
        }
    }
    // Tags: an object of strings obeying the host's tag rules (see
    // cloudhost/tag_rules.hpp), at most `max_count` of them.
    void tag_map(const std::string &key, Tags &out, std::size_t max_count,
                 const std::string &count_reason) {
        if (const JsonNode *v = find(key)) {
            if (v->kind != JsonNode::Kind::object)
                wrong_type(key, *v, "an object of strings");
            if (v->members.size() > max_count)
                src_.fail(v->begin, quoted(key) + " has " + std::to_string(v->members.size()) +
                                        " tags; at most " + std::to_string(max_count) + " " +
                                        count_reason);
            Tags result;
            for (const auto &[k, value] : v->members) {
                if (auto problem = tag_key_problem(k))
                    src_.fail(value.key_offset, quoted(key) + ": tag key \"" +
                                                    detail::printable(k) + "\" " + *problem);
                std::string text = ObjectReader(src_, *v, child_path(key)).as_string(k, value);
                if (auto problem = tag_value_problem(text))
                    src_.fail(value.begin, quoted(key) + ": tag \"" + detail::printable(k) +
                                               "\": value " + *problem);
                result[k] = std::move(text);
            }
            out = std::move(result);
        }
    }
    // A one-line string that ends up in a cloud API call or a command
    // line: valid UTF-8 without control characters.
    void text(const std::string &key, std::string &out) {
        if (const JsonNode *v = find(key)) {
            std::string value = as_string(key, *v);
            if (auto problem = detail::text_problem(value))
                src_.fail(v->begin, quoted(key) + " " + *problem);
            out = std::move(value);
        }
    }
    // The same, and not empty when given (an empty one would silently mean
    // the default).
    void name(const std::string &key, std::string &out) {
        if (const JsonNode *v = find(key);
            v && v->kind == JsonNode::Kind::string && v->string.empty())
            src_.fail(v->begin, quoted(key) + " must not be empty (omit it for the default)");
        text(key, out);
    }
    void string_list(const std::string &key, std::vector<std::string> &out) {
        if (const JsonNode *v = find(key)) {
            if (v->kind != JsonNode::Kind::array)
                wrong_type(key, *v, "an array of strings");
            std::vector<std::string> result;
            for (const auto &item : v->items) {
                if (item.kind != JsonNode::Kind::string)
                    src_.fail(item.begin,
                              quoted(key) + " items must be strings, not " + kind_name(item.kind));
                result.push_back(item.string);
            }
            out = std::move(result);
        }
    }

    std::string as_string(const std::string &key, const JsonNode &v) const {
        if (v.kind != JsonNode::Kind::string)
            wrong_type(key, v, "a string");
        return v.string;
    }

    // Rejects keys nobody asked for, listing the accepted ones.
    void finish() const {
        for (const auto &[k, v] : node_.members) {
            if (known_.count(k))
                continue;
            std::string accepted;
            for (const auto &name : known_)
                accepted += (accepted.empty() ? "" : ", ") + name;
            src_.fail(v.key_offset, "unknown key " + quoted(k) + " in " + label() +
                                        " (accepted: " + accepted + ")");
        }
    }

    std::string quoted(const std::string &key) const {
        return "\"" + (path_.empty() ? key : path_ + "." + key) + "\"";
    }
    std::string child_path(const std::string &key) const {
        return path_.empty() ? key : path_ + "." + key;
    }
    const Source &source() const { return src_; }
    const std::string &path() const { return path_; }

  private:
    [[noreturn]] void wrong_type(const std::string &key, const JsonNode &v,
                                 const std::string &expected) const {
        src_.fail(v.begin, quoted(key) + " must be " + expected + ", not " + kind_name(v.kind));
    }
    std::string label() const { return path_.empty() ? "the config" : "\"" + path_ + "\""; }

    const Source &src_;
    const JsonNode &node_;
    std::string path_;
    std::set<std::string> known_;
};

// Host-added tags on every instance the CLI creates (InstanceSetID,
// InstanceType, InstanceSecret, and CloudTestPID under cloudtest): the
// config's resource_tags must leave room for them under the tag limit.
constexpr std::size_t host_added_tags = 4;

InstanceType read_instance_type(const Source &src, const std::string &name, const JsonNode &node) {
    ObjectReader r(src, node, "instance_types." + name);
    InstanceType t;
    t.name = name;
    r.name("provider_type", t.provider_type);
    if (t.provider_type.empty())
        t.provider_type = name; // Arvados: ProviderType defaults to the name
    uint64_t vcpus = 0;
    r.unsigned_integer("vcpus", vcpus, 1u << 20);
    t.vcpus = static_cast<uint32_t>(vcpus);
    r.byte_size("ram", t.ram);
    r.byte_size("included_scratch", t.included_scratch);
    r.byte_size("added_scratch", t.added_scratch);
    // Arvados computes Scratch; a configured value is overwritten.
    if (r.find("scratch"))
        src.fail(r.find("scratch")->begin,
                 r.quoted("scratch") +
                     " is computed (included_scratch + added_scratch); remove it");
    if (t.added_scratch > std::numeric_limits<uint64_t>::max() - t.included_scratch)
        src.fail(r.find("added_scratch")->begin,
                 r.quoted("added_scratch") + " plus included_scratch overflows 2^64 bytes");
    t.scratch = t.included_scratch + t.added_scratch;
    r.number("price", t.price, 0, 1e9);
    r.boolean("preemptible", t.preemptible);
    if (const JsonNode *gpu = r.find("gpu")) {
        ObjectReader g(src, *gpu, "instance_types." + name + ".gpu");
        g.string("stack", t.gpu_stack);
        g.text("driver_version", t.gpu_driver_version);
        g.text("hardware_target", t.gpu_hardware_target);
        uint64_t count = 0;
        g.unsigned_integer("device_count", count, 1u << 16);
        t.gpu_device_count = static_cast<uint32_t>(count);
        g.byte_size("vram", t.gpu_vram);
        g.finish();
        if (!t.gpu_stack.empty() && t.gpu_stack != "cuda" && t.gpu_stack != "rocm")
            src.fail(g.find("stack")->begin, g.quoted("stack") + " must be \"cuda\" or \"rocm\"");
        // Arvados: an empty stack means no GPU; a count without a stack (or
        // a stack without devices) is a half-written entry.
        if (t.gpu_stack.empty() && t.gpu_device_count > 0)
            src.fail(g.find("device_count")->begin,
                     g.quoted("device_count") + " needs \"stack\" (\"cuda\" or \"rocm\")");
        if (!t.gpu_stack.empty() && t.gpu_device_count == 0)
            src.fail(g.find("stack")->begin,
                     g.quoted("stack") + " needs \"device_count\" of at least 1");
    }
    r.finish();
    return t;
}

void read_timeouts(const Source &src, const JsonNode &node, Timeouts &t,
                   IsolationSettings &isolation) {
    ObjectReader r(src, node, "timeouts");
    r.duration("driver_call", isolation.driver_call, false);
    r.duration("driver_create", isolation.create, false);
    r.duration("boot", t.boot, false);
    r.duration("probe_interval", t.probe_interval, false);
    r.duration("sync_interval", t.sync_interval, false);
    r.duration("connect", t.connect, false);
    r.duration("command", t.command, true); // 0 = no limit
    r.duration("destroy", t.destroy, false);
    r.finish();
}

bool is_sha256_hex(const std::string &s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char ch) {
               return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
           });
}

// "trust": which driver files may be loaded (see cloudhost/trust.hpp).
TrustPolicy read_trust(const Source &src, const JsonNode &node) {
    ObjectReader r(src, node, "trust");
    TrustPolicy policy;
    std::string mode = "allow-all";
    r.string("policy", mode);
    try {
        policy.mode = parse_trust_mode(mode);
    } catch (const std::invalid_argument &e) {
        src.fail(r.find("policy")->begin, std::string("\"trust.policy\" ") + e.what());
    }
    std::vector<std::string> digests, keys;
    r.string_list("digests", digests);
    const JsonNode *digests_node = r.find("digests");
    for (std::size_t i = 0; i < digests.size(); ++i) {
        std::string d = digests[i];
        std::transform(d.begin(), d.end(), d.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (!is_sha256_hex(d))
            src.fail(digests_node->items[i].begin,
                     "\"trust.digests\" items must be SHA-256 digests (64 hex digits)");
        policy.digests.push_back(d);
    }
    r.string_list("public_keys", keys);
    const JsonNode *keys_node = r.find("public_keys");
    for (std::size_t i = 0; i < keys.size(); ++i) {
        try {
            policy.public_keys.push_back(TrustedKey::parse(keys[i]));
        } catch (const std::invalid_argument &e) {
            src.fail(keys_node->items[i].begin, std::string("\"trust.public_keys\": ") + e.what());
        }
    }
    std::string permissions = "strict";
    r.string("permissions", permissions);
    if (permissions == "off")
        policy.permissions = PermissionMode::off;
    else if (permissions != "strict")
        src.fail(r.find("permissions")->begin,
                 "\"trust.permissions\" must be \"strict\" or \"off\"");
    r.finish();
    // A list the policy ignores is a misunderstanding, not a harmless extra.
    if (policy.mode == TrustMode::digest && policy.digests.empty())
        src.fail(node.begin, "\"trust\": policy \"digest\" needs a non-empty \"digests\" list");
    if (policy.mode == TrustMode::signature && policy.public_keys.empty())
        src.fail(node.begin, "\"trust\": policy \"signed\" needs a non-empty \"public_keys\" list");
    if (policy.mode != TrustMode::digest && digests_node)
        src.fail(digests_node->begin, "\"trust.digests\" is used only by policy \"digest\"");
    if (policy.mode != TrustMode::signature && keys_node)
        src.fail(keys_node->begin, "\"trust.public_keys\" is used only by policy \"signed\"");
    return policy;
}

// "22" or a service name ("ssh") as a TCP port number, or nothing.
std::optional<unsigned> tcp_port_of(const std::string &text) {
    if (std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        if (text.size() > 5)
            return std::nullopt;
        const unsigned long number = std::stoul(text);
        if (number == 0 || number > 65535)
            return std::nullopt;
        return static_cast<unsigned>(number);
    }
    servent entry{};
    servent *found = nullptr;
    char buffer[4096];
    if (::getservbyname_r(text.c_str(), "tcp", &entry, buffer, sizeof buffer, &found) != 0 ||
        found == nullptr)
        return std::nullopt;
    return ntohs(static_cast<uint16_t>(found->s_port));
}

} // namespace

std::optional<std::string> image_id_problem(std::string_view image_id) {
    return detail::text_problem(image_id);
}

Config parse_config(std::string_view text, const std::string &file_name) {
    Source src{text, file_name};
    JsonNode root;
    try {
        root = config_detail::parse_positioned_json(text);
    } catch (const config_detail::JsonSyntaxError &e) {
        src.fail(e.offset, std::string("invalid JSON: ") + e.what());
    }

    Config c;
    c.source = file_name;
    ObjectReader r(src, root, "");
    r.string("driver", c.driver);
    if (c.driver.empty() || !std::all_of(c.driver.begin(), c.driver.end(), [](char ch) {
            return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        }))
        src.fail(r.find("driver")->begin, "\"driver\" must be a driver name ([a-z0-9_-]+)");
    r.text("driver_version", c.driver_version);
    if (const JsonNode *params = r.find("driver_parameters")) {
        if (params->kind != JsonNode::Kind::object)
            src.fail(params->begin, std::string("\"driver_parameters\" must be an object, not ") +
                                        kind_name(params->kind));
        // Verbatim text: the driver parses its own parameters.
        c.driver_parameters = std::string(text.substr(params->begin, params->end - params->begin));
    }
    std::vector<std::string> dirs;
    r.string_list("driver_dirs", dirs);
    for (const auto &d : dirs)
        c.driver_dirs.emplace_back(d);
    r.string("instance_set_id", c.instance_set_id);
    if (const JsonNode *id = r.find("instance_set_id")) {
        try {
            validate_instance_set_id(c.instance_set_id);
        } catch (const InvalidConfigError &e) {
            src.fail(id->begin, std::string("\"instance_set_id\": ") + e.what());
        }
    }
    r.tag_map("resource_tags", c.resource_tags, max_tags_per_set - host_added_tags,
              "(the host adds " + std::to_string(host_added_tags) + " of its own, " +
                  std::to_string(max_tags_per_set) + " in all)");
    r.string("tag_key_prefix", c.tag_key_prefix);
    if (const JsonNode *prefix = r.find("tag_key_prefix")) {
        // The longest key the host makes from the prefix must be a valid key.
        const std::string longest = c.tag_key_prefix + "InstanceSecret";
        if (auto problem = tag_key_problem(longest))
            src.fail(prefix->begin, "\"tag_key_prefix\" makes the tag key \"" +
                                        detail::printable(longest) + "\", which " + *problem);
    }
    if (const JsonNode *types = r.find("instance_types")) {
        if (types->kind == JsonNode::Kind::array)
            src.fail(types->begin, "\"instance_types\" must be an object keyed by type name "
                                   "(the legacy array form is not accepted)");
        if (types->kind != JsonNode::Kind::object)
            src.fail(types->begin, std::string("\"instance_types\" must be an object, not ") +
                                       kind_name(types->kind));
        for (const auto &[name, node] : types->members) {
            // The name becomes the InstanceType tag's value on every instance.
            if (name.empty())
                src.fail(node.key_offset, "instance type names must not be empty");
            if (auto problem = tag_value_problem(name))
                src.fail(node.key_offset,
                         "instance type name \"" + detail::printable(name) + "\" " + *problem);
            c.instance_types[name] = read_instance_type(src, name, node);
        }
    }
    if (const JsonNode *image = r.find("image_id")) {
        r.string("image_id", c.image_id);
        if (auto problem = image_id_problem(c.image_id))
            src.fail(image->begin, "\"image_id\" " + *problem);
    }
    std::string key_path;
    r.string("ssh_private_key", key_path);
    c.ssh_private_key = key_path;
    if (const JsonNode *port = r.find("ssh_port")) {
        if (port->kind == JsonNode::Kind::unsigned_integer && port->unsigned_integer > 0 &&
            port->unsigned_integer < 65536)
            c.ssh_port = std::to_string(port->unsigned_integer);
        else if (port->kind == JsonNode::Kind::string && !port->string.empty() &&
                 !detail::text_problem(port->string)) {
            // Resolved now, so that a name the system does not know fails
            // here and not at the first exec.
            auto number = tcp_port_of(port->string);
            if (!number)
                src.fail(port->begin, "\"ssh_port\": \"" + detail::printable(port->string) +
                                          "\" is not a port number 1-65535 nor a TCP service "
                                          "name known to this system (/etc/services)");
            c.ssh_port = std::to_string(*number);
        } else
            src.fail(port->begin, "\"ssh_port\" must be a port number 1-65535 or a service name");
    }
    r.boolean("deploy_public_key", c.deploy_public_key);
    r.string("boot_probe_command", c.boot_probe_command);
    r.string("instance_init_command", c.instance_init_command);
    r.text("instance_secret_path", c.instance_secret_path);
    r.number("max_cloud_ops_per_second", c.max_cloud_ops_per_second, 0, max_ops_per_second);
    if (c.max_cloud_ops_per_second != 0 && c.max_cloud_ops_per_second < min_ops_per_second)
        src.fail(r.find("max_cloud_ops_per_second")->begin,
                 "\"max_cloud_ops_per_second\" must be 0 (no limit) or between " +
                     format_number(min_ops_per_second) + " and " +
                     format_number(max_ops_per_second));
    if (const JsonNode *t = r.find("timeouts"))
        read_timeouts(src, *t, c.timeouts, c.isolation);
    if (const JsonNode *t = r.find("trust"))
        c.trust = read_trust(src, *t);
    std::string isolation = isolation_mode_name(c.isolation.mode);
    r.string("isolation", isolation);
    if (const JsonNode *mode = r.find("isolation")) {
        try {
            c.isolation.mode = parse_isolation_mode(isolation);
        } catch (const InvalidConfigError &e) {
            src.fail(mode->begin, std::string("\"isolation\": ") + e.what());
        }
    }
    r.name("isolation_user", c.isolation.user);
    if (const JsonNode *limits = r.find("isolation_limits")) {
        ObjectReader l(src, *limits, "isolation_limits");
        l.byte_size("address_space", c.isolation.max_address_space);
        l.unsigned_integer("open_files", c.isolation.max_open_files, 1u << 20);
        l.finish();
    }
    r.finish();

    if (c.instance_types.empty() && c.driver == "loopback") {
        InstanceType local = detect_localhost_instance_type();
        c.instance_types[local.name] = local;
    }
    return c;
}

Config load_config(const std::filesystem::path &file) {
    std::vector<std::byte> bytes;
    try {
        // Regular files only, read without blocking on a FIFO, bounded.
        bytes = detail::read_file_bytes(file, max_config_file_bytes);
    } catch (const LoadError &e) {
        throw ConfigError(file.string() + ": cannot read config file: " + e.what());
    }
    return parse_config(
        std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
        file.string());
}

Config default_config() {
    Config c;
    InstanceType local = detect_localhost_instance_type();
    c.instance_types[local.name] = local;
    // Loopback instances boot in well under a second.
    c.timeouts.boot = std::chrono::seconds(60);
    c.timeouts.probe_interval = std::chrono::milliseconds(100);
    c.timeouts.sync_interval = std::chrono::milliseconds(200);
    c.timeouts.destroy = std::chrono::seconds(30);
    return c;
}

std::string Config::effective_instance_secret_path() const {
    if (!instance_secret_path.empty())
        return instance_secret_path;
    // Loopback instances share one filesystem: each one's commands run in its
    // own directory, so a relative path keeps their secrets apart.
    return std::string(driver == "loopback" ? loopback_instance_secret_path
                                            : default_instance_secret_path);
}

const InstanceType &Config::instance_type(const std::string &name) const {
    auto it = instance_types.find(name);
    if (it != instance_types.end())
        return it->second;
    std::string names;
    for (const auto &[n, t] : instance_types)
        names += (names.empty() ? "" : ", ") + n;
    throw ConfigError("unknown instance type \"" + name +
                      "\" (configured: " + (names.empty() ? "none" : names) + ")");
}

const InstanceType &Config::cheapest_instance_type() const {
    if (instance_types.empty())
        throw ConfigError((source.empty() ? std::string("config") : source.string()) +
                          ": no instance types configured");
    const InstanceType *best = nullptr;
    for (const auto &[n, t] : instance_types)
        if (!best || t.price < best->price)
            best = &t;
    return *best;
}

} // namespace cloudhost
