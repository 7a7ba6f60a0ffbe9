// cloudhost C++ driver SDK: the driver's config JSON, parsed (header-only).
//
// A driver declares its keys once and gets its config struct, or an
// sdk::InvalidConfigError naming the key, line and column:
//
//   struct MyConfig {
//       std::string region;              // required below
//       uint32_t max_instances = 64;     // a member's initializer is its default
//       bool verify_host_key = true;
//   };
//   const auto schema = cloudhost::sdk::ConfigSchema<MyConfig>("mycloud config")
//       .string("region", &MyConfig::region, cloudhost::sdk::Presence::required)
//       .integer("max_instances", &MyConfig::max_instances, 1u, 100000u)
//       .boolean("verify_host_key", &MyConfig::verify_host_key);
//   MyConfig config = schema.parse(args.config_json);
//   // mycloud config:3:20: "max_instances" must be an integer from 1 to 100000
//
// What is refused, each with line and column: invalid JSON or UTF-8, a NUL
// byte, text over max_config_bytes, nesting deeper than max_config_depth
// (never a deep recursion: the parser is iterative and stops at the limit),
// unknown keys (the message lists the known ones), duplicate keys, wrong
// types, values out of range, a missing required key, and what a key's own
// `check` refuses. An empty text (only whitespace) or `null` means `{}`.
//
// RapidJSON (header-only; Debian rapidjson-dev) does the parsing:
// `pkg-config cloudhost-driver` lists it in Requires, so the cflags include
// it. Everything stays inside the driver: no RapidJSON type crosses the ABI.
#ifndef CLOUDHOST_DRIVER_SDK_CONFIG_HPP
#define CLOUDHOST_DRIVER_SDK_CONFIG_HPP

#include "cloudhost/driver_sdk.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cloudhost::sdk {

inline constexpr std::size_t max_config_bytes = 1024 * 1024;
inline constexpr std::size_t max_config_depth = 32;

// One JSON value of the config with where it starts, for error messages.
class ConfigValue {
  public:
    enum class Kind { null, boolean, number, string, array, object };
    struct Member;

    Kind kind() const noexcept { return kind_; }
    // "max_instances", "capacity_errors[0].scope"; "" for the top level.
    const std::string &path() const noexcept { return path_; }
    std::size_t line() const noexcept { return line_; }
    std::size_t column() const noexcept { return column_; }

    // Throws InvalidConfigError "<source>:LINE:COLUMN: "<path>" <rule>".
    [[noreturn]] void fail(const std::string &rule) const {
        throw InvalidConfigError(
            *source_ + ":" + std::to_string(line_) + ":" + std::to_string(column_) + ": " +
            (path_.empty() ? std::string("the config") : quoted(path_)) + " " + rule);
    }

    // Throws InvalidConfigError "<source>:LINE:COLUMN: <message>".
    [[noreturn]] void fail_plain(const std::string &message) const {
        throw InvalidConfigError(*source_ + ":" + std::to_string(line_) + ":" +
                                 std::to_string(column_) + ": " + message);
    }

    bool as_bool() const {
        if (kind_ != Kind::boolean)
            fail("must be true or false");
        return boolean_;
    }
    std::string as_string() const {
        if (kind_ != Kind::string)
            fail("must be a string");
        return text_;
    }
    // An integer within [min, max].
    template <class Int> Int as_integer(Int min, Int max) const {
        static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
        const std::string rule =
            "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
        if (kind_ != Kind::number || !(is_uint64_ || is_int64_))
            fail(rule);
        if constexpr (std::is_signed_v<Int>) {
            if (!is_int64_ || int64_ < static_cast<int64_t>(min) ||
                int64_ > static_cast<int64_t>(max))
                fail(rule);
            return static_cast<Int>(int64_);
        } else {
            if (!is_uint64_ || uint64_ < static_cast<uint64_t>(min) ||
                uint64_ > static_cast<uint64_t>(max))
                fail(rule);
            return static_cast<Int>(uint64_);
        }
    }
    // A finite number within [min, max].
    double as_number(double min, double max) const {
        if (kind_ != Kind::number || !(number_ >= min && number_ <= max))
            fail("must be a number from " + trimmed_number(min) + " to " + trimmed_number(max));
        return number_;
    }
    const std::vector<ConfigValue> &items() const {
        if (kind_ != Kind::array)
            fail("must be an array");
        return items_;
    }
    const std::vector<Member> &members() const {
        if (kind_ != Kind::object)
            fail("must be an object");
        return members_;
    }

  private:
    template <class> friend class ConfigSchema;
    friend class detail_config_builder;
    friend ConfigValue parse_config_json(std::string_view text, const std::string &source);

    // Keys come from the config's author: control bytes, quotes and
    // non-ASCII bytes as \xNN, at most 80 bytes, so an error stays one line.
    static std::string quoted(const std::string &s) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out = "\"";
        for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                out += "\\x";
                out += digits[c >> 4];
                out += digits[c & 0x0f];
            } else {
                out += static_cast<char>(c);
            }
        }
        return out + (s.size() > 80 ? "...\"" : "\"");
    }
    static std::string trimmed_number(double d) {
        std::string s = std::to_string(d);
        while (s.size() > 1 && s.back() == '0')
            s.pop_back();
        if (!s.empty() && s.back() == '.')
            s.pop_back();
        return s;
    }

    Kind kind_ = Kind::null;
    std::shared_ptr<const std::string> source_;
    std::string path_;
    std::size_t line_ = 1;
    std::size_t column_ = 1;
    bool boolean_ = false;
    bool is_uint64_ = false;
    bool is_int64_ = false;
    uint64_t uint64_ = 0;
    int64_t int64_ = 0;
    double number_ = 0;
    std::string text_;
    std::vector<ConfigValue> items_;
    std::vector<Member> members_;
};

struct ConfigValue::Member {
    std::string key;
    ConfigValue value;
    // The key itself as a string value: where it is, for errors about it.
    ConfigValue key_value;
};

// Builds ConfigValues from RapidJSON's SAX events (iterative parser, so the
// depth limit is the only bound on nesting and the stack never grows with
// the input).
class detail_config_builder {
  public:
    detail_config_builder(std::string_view text, std::shared_ptr<const std::string> source)
        : text_(text), source_(std::move(source)) {}

    bool Null() { return scalar(ConfigValue::Kind::null); }
    bool Bool(bool b) {
        ConfigValue &v = push_scalar(ConfigValue::Kind::boolean);
        v.boolean_ = b;
        return true;
    }
    bool Int(int i) { return Int64(i); }
    bool Uint(unsigned u) { return Uint64(u); }
    bool Int64(int64_t i) {
        ConfigValue &v = push_scalar(ConfigValue::Kind::number);
        v.is_int64_ = true;
        v.int64_ = i;
        v.is_uint64_ = i >= 0;
        v.uint64_ = i >= 0 ? static_cast<uint64_t>(i) : 0;
        v.number_ = static_cast<double>(i);
        return true;
    }
    bool Uint64(uint64_t u) {
        ConfigValue &v = push_scalar(ConfigValue::Kind::number);
        v.is_uint64_ = true;
        v.uint64_ = u;
        v.is_int64_ = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
        v.int64_ = v.is_int64_ ? static_cast<int64_t>(u) : 0;
        v.number_ = static_cast<double>(u);
        return true;
    }
    bool Double(double d) {
        ConfigValue &v = push_scalar(ConfigValue::Kind::number);
        v.number_ = d;
        return true;
    }
    bool RawNumber(const char *, rapidjson::SizeType, bool) { return false; }
    bool String(const char *s, rapidjson::SizeType n, bool) {
        ConfigValue &v = push_scalar(ConfigValue::Kind::string);
        v.text_.assign(s, n);
        return true;
    }
    bool StartObject() { return open(ConfigValue::Kind::object); }
    bool Key(const char *s, rapidjson::SizeType n, bool) {
        pending_key_.assign(s, n);
        pending_key_at_ = token_start();
        const std::string &path = stack_.back().path_;
        pending_path_ = path.empty() ? pending_key_ : path + "." + pending_key_;
        pending_key_value_ = ConfigValue();
        pending_key_value_.kind_ = ConfigValue::Kind::string;
        pending_key_value_.source_ = source_;
        pending_key_value_.path_ = pending_path_;
        pending_key_value_.text_ = pending_key_;
        std::tie(pending_key_value_.line_, pending_key_value_.column_) =
            line_column(pending_key_at_);
        for (const auto &m : stack_.back().members_)
            if (m.key == pending_key_) {
                duplicate_ = true;
                return false;
            }
        return true;
    }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool StartArray() { return open(ConfigValue::Kind::array); }
    bool EndArray(rapidjson::SizeType) { return close(); }

    void set_offset(std::size_t offset) { offset_ = offset; }
    bool too_deep() const noexcept { return too_deep_; }
    std::size_t too_deep_at() const noexcept { return too_deep_at_; }
    bool duplicate() const noexcept { return duplicate_; }
    const std::string &pending_path() const noexcept { return pending_path_; }
    std::size_t pending_key_at() const noexcept { return pending_key_at_; }
    ConfigValue take_root() { return std::move(root_); }

    // 1-based line and column of byte `offset` (columns count bytes).
    std::pair<std::size_t, std::size_t> line_column(std::size_t offset) const {
        std::size_t line = 1, column = 1;
        for (std::size_t i = 0; i < offset && i < text_.size(); ++i) {
            if (text_[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        return {line, column};
    }

  private:
    // The first byte of the scalar or key just read: after the previous
    // token, past whitespace, separators and brackets (the iterative parser
    // reports a bracket before or after taking it, so it is skipped here and
    // found by bracket_start()).
    std::size_t token_start() {
        std::size_t i = consumed_;
        while (i < text_.size() &&
               std::string_view(" \t\n\r,:{}[]").find(text_[i]) != std::string_view::npos)
            ++i;
        consumed_ = offset_;
        return i;
    }
    // The '{' or '[' just reported: at the stream position if not yet taken.
    std::size_t bracket_start() {
        const std::size_t at =
            offset_ < text_.size() && (text_[offset_] == '{' || text_[offset_] == '[')
                ? offset_
                : offset_ - 1;
        consumed_ = at + 1;
        return at;
    }
    ConfigValue make(ConfigValue::Kind kind) {
        ConfigValue v;
        v.kind_ = kind;
        v.source_ = source_;
        const bool bracket = kind == ConfigValue::Kind::object || kind == ConfigValue::Kind::array;
        const std::size_t start = bracket ? bracket_start() : token_start();
        if (!stack_.empty() && stack_.back().kind_ == ConfigValue::Kind::object) {
            v.path_ = pending_path_;
        } else if (!stack_.empty()) {
            v.path_ = stack_.back().path_ + "[" + std::to_string(stack_.back().items_.size()) + "]";
        }
        std::tie(v.line_, v.column_) = line_column(start);
        return v;
    }
    // Adds `v` to its parent (or makes it the root) and returns it.
    // `key` is the value's key in its parent object (its own, for an
    // object or array closed after nested keys were read).
    ConfigValue &attach(ConfigValue v, ConfigValue key) {
        if (stack_.empty()) {
            root_ = std::move(v);
            return root_;
        }
        ConfigValue &parent = stack_.back();
        if (parent.kind_ == ConfigValue::Kind::object) {
            std::string name = key.text_;
            parent.members_.push_back({std::move(name), std::move(v), std::move(key)});
            return parent.members_.back().value;
        }
        parent.items_.push_back(std::move(v));
        return parent.items_.back();
    }
    ConfigValue &push_scalar(ConfigValue::Kind kind) {
        return attach(make(kind), pending_key_value_);
    }
    bool scalar(ConfigValue::Kind kind) {
        push_scalar(kind);
        return true;
    }
    bool open(ConfigValue::Kind kind) {
        if (stack_.size() >= max_config_depth) {
            too_deep_ = true;
            too_deep_at_ = bracket_start();
            return false;
        }
        open_keys_.push_back(pending_key_value_);
        stack_.push_back(make(kind));
        return true;
    }
    bool close() {
        ConfigValue done = std::move(stack_.back());
        stack_.pop_back();
        ConfigValue key = std::move(open_keys_.back());
        open_keys_.pop_back();
        attach(std::move(done), std::move(key));
        return true;
    }

    std::string_view text_;
    std::shared_ptr<const std::string> source_;
    std::vector<ConfigValue> stack_;
    std::vector<ConfigValue> open_keys_; // each open value's key (see attach)
    ConfigValue root_;
    ConfigValue pending_key_value_;
    std::string pending_key_;
    std::string pending_path_;
    std::size_t pending_key_at_ = 0;
    std::size_t offset_ = 0;   // the stream's position at the current event
    std::size_t consumed_ = 0; // where the previous token ended
    bool too_deep_ = false;
    std::size_t too_deep_at_ = 0;
    bool duplicate_ = false;
};

// A RapidJSON input stream over the text that tells the builder where it is
// at each event.
class detail_config_stream {
  public:
    using Ch = char;
    detail_config_stream(std::string_view text, detail_config_builder &builder)
        : text_(text), builder_(builder) {}
    Ch Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    Ch Take() {
        const Ch c = Peek();
        if (pos_ < text_.size())
            ++pos_;
        builder_.set_offset(pos_);
        return c;
    }
    std::size_t Tell() const { return pos_; }
    Ch *PutBegin() { return nullptr; }
    void Put(Ch) {}
    void Flush() {}
    std::size_t PutEnd(Ch *) { return 0; }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
    detail_config_builder &builder_;
};

// Parses `text` into a tree of ConfigValues; `source` names it in errors.
inline ConfigValue parse_config_json(std::string_view text, const std::string &source) {
    auto name = std::make_shared<const std::string>(source);
    auto fail_at = [&](std::size_t offset, const std::string &what) -> InvalidConfigError {
        detail_config_builder positions(text, name);
        const auto [line, column] = positions.line_column(offset);
        return InvalidConfigError(source + ":" + std::to_string(line) + ":" +
                                  std::to_string(column) + ": " + what);
    };
    if (text.size() > max_config_bytes)
        throw InvalidConfigError(source + ": larger than " + std::to_string(max_config_bytes) +
                                 " bytes (" + std::to_string(text.size()) + ")");
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
        throw fail_at(nul, "NUL byte in the config");
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        ConfigValue empty_object = parse_config_json("{}", source);
        return empty_object;
    }
    detail_config_builder builder(text, name);
    detail_config_stream stream(text, builder);
    rapidjson::Reader reader;
    const rapidjson::ParseResult result =
        reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
            stream, builder);
    if (builder.too_deep())
        throw fail_at(builder.too_deep_at(),
                      "nested deeper than " + std::to_string(max_config_depth) + " levels");
    if (builder.duplicate())
        throw fail_at(builder.pending_key_at(),
                      "duplicate key " + ConfigValue::quoted(builder.pending_path()));
    if (result.IsError())
        throw fail_at(result.Offset(),
                      std::string("invalid JSON: ") + rapidjson::GetParseError_En(result.Code()));
    ConfigValue root = builder.take_root();
    if (root.kind() == ConfigValue::Kind::null)
        return parse_config_json("{}", source);
    return root;
}

// Whether a key must be present. A key's default is its member's initializer
// in the config struct.
enum class Presence { optional, required };

// A key's own rule: the rule broken ("must be an absolute path"), or nothing.
template <class V> using ConfigCheck = std::function<std::optional<std::string>(const V &)>;

// What a list of strings may be written as: only an array, or also one
// string (Arvados's "subnet_id": "subnet-1"; "" then means an empty list).
enum class StringListForm { array, string_or_array };

template <class T> class ConfigSchema {
  public:
    using Setter = std::function<void(T &, const ConfigValue &)>;

    // `source` names the config in errors ("mycloud config").
    explicit ConfigSchema(std::string source) : source_(std::move(source)) {}

    // Any key: `set` reads the value (ConfigValue::as_*, or fail()).
    ConfigSchema &custom(std::string name, Setter set, Presence presence = Presence::optional) {
        keys_.push_back({std::move(name), std::move(set), presence == Presence::required});
        return *this;
    }
    ConfigSchema &string(std::string name, std::string T::*member,
                         Presence presence = Presence::optional,
                         ConfigCheck<std::string> check = {}) {
        return typed(std::move(name), member, presence, std::move(check),
                     [](const ConfigValue &v) { return v.as_string(); });
    }
    ConfigSchema &boolean(std::string name, bool T::*member,
                          Presence presence = Presence::optional) {
        return typed(std::move(name), member, presence, ConfigCheck<bool>(),
                     [](const ConfigValue &v) { return v.as_bool(); });
    }
    template <class Int>
    ConfigSchema &integer(std::string name, Int T::*member, Int min, Int max,
                          Presence presence = Presence::optional, ConfigCheck<Int> check = {}) {
        return typed(std::move(name), member, presence, std::move(check),
                     [min, max](const ConfigValue &v) { return v.as_integer<Int>(min, max); });
    }
    ConfigSchema &number(std::string name, double T::*member, double min, double max,
                         Presence presence = Presence::optional, ConfigCheck<double> check = {}) {
        return typed(std::move(name), member, presence, std::move(check),
                     [min, max](const ConfigValue &v) { return v.as_number(min, max); });
    }
    // A whole number of milliseconds within [0, max_ms].
    ConfigSchema &milliseconds(std::string name, std::chrono::milliseconds T::*member,
                               uint64_t max_ms = 1'000'000'000'000ULL,
                               Presence presence = Presence::optional) {
        return typed(
            std::move(name), member, presence, ConfigCheck<std::chrono::milliseconds>(),
            [max_ms](const ConfigValue &v) {
                return std::chrono::milliseconds(
                    static_cast<std::chrono::milliseconds::rep>(v.as_integer<uint64_t>(0, max_ms)));
            });
    }

    // An array of distinct strings, each passing `check` (errors name the
    // item: "subnet_id[1]"), at most `max_items` of them.
    ConfigSchema &string_list(std::string name, std::vector<std::string> T::*member,
                              Presence presence = Presence::optional,
                              ConfigCheck<std::string> check = {},
                              StringListForm form = StringListForm::array,
                              std::size_t max_items = 1024) {
        return custom(
            std::move(name),
            [member, check = std::move(check), form, max_items](T &c, const ConfigValue &v) {
                std::vector<std::string> list;
                if (form == StringListForm::string_or_array &&
                    v.kind() == ConfigValue::Kind::string) {
                    if (!v.as_string().empty())
                        list.push_back(checked(v, check));
                    c.*member = std::move(list);
                    return;
                }
                if (v.kind() != ConfigValue::Kind::array)
                    v.fail(form == StringListForm::string_or_array
                               ? "must be a string or an array of strings"
                               : "must be an array of strings");
                if (v.items().size() > max_items)
                    v.fail("has more than " + std::to_string(max_items) + " items");
                for (const ConfigValue &item : v.items()) {
                    std::string text = checked(item, check);
                    for (const auto &earlier : list)
                        if (earlier == text)
                            v.fail("lists " + ConfigValue::quoted(text) + " twice");
                    list.push_back(std::move(text));
                }
                c.*member = std::move(list);
            },
            presence);
    }
    // An object of string values ({"c": "compute"}); `key_check` judges each
    // key, `value_check` each value (errors name "NAME.KEY").
    ConfigSchema &string_map(std::string name, std::map<std::string, std::string> T::*member,
                             Presence presence = Presence::optional,
                             ConfigCheck<std::string> key_check = {},
                             ConfigCheck<std::string> value_check = {}) {
        return custom(
            std::move(name),
            [member, key_check = std::move(key_check),
             value_check = std::move(value_check)](T &c, const ConfigValue &v) {
                std::map<std::string, std::string> map;
                for (const auto &m : v.members()) {
                    checked(m.key_value, key_check);
                    map[m.key] = checked(m.value, value_check);
                }
                c.*member = std::move(map);
            },
            presence);
    }

    T parse(std::string_view json) const { return parse(parse_config_json(json, source_)); }

    // A nested object (an array item, a member) with this schema.
    T parse(const ConfigValue &object) const {
        T config{};
        std::set<std::string_view> seen;
        for (const auto &member : object.members()) {
            const Key *key = find(member.key);
            if (!key)
                member.key_value.fail_plain("unknown key " +
                                            ConfigValue::quoted(member.key_value.path()) +
                                            " (known: " + known_keys() + ")");
            seen.insert(key->name);
            key->set(config, member.value);
        }
        for (const Key &key : keys_)
            if (key.required && !seen.count(key.name))
                object.fail("lacks the required key \"" + key.name + "\"");
        return config;
    }

  private:
    struct Key {
        std::string name;
        Setter set;
        bool required;
    };

    template <class V, class Read>
    ConfigSchema &typed(std::string name, V T::*member, Presence presence, ConfigCheck<V> check,
                        Read read) {
        return custom(
            std::move(name),
            [member, read, check = std::move(check)](T &c, const ConfigValue &v) {
                V value = read(v);
                if (check)
                    if (auto problem = check(value))
                        v.fail(*problem);
                c.*member = std::move(value);
            },
            presence);
    }
    static std::string checked(const ConfigValue &v, const ConfigCheck<std::string> &check) {
        std::string text = v.as_string();
        if (check)
            if (auto problem = check(text))
                v.fail(*problem);
        return text;
    }
    const Key *find(std::string_view name) const {
        for (const Key &key : keys_)
            if (key.name == name)
                return &key;
        return nullptr;
    }
    std::string known_keys() const {
        std::string list;
        for (const Key &key : keys_)
            list += (list.empty() ? "" : ", ") + key.name;
        return list;
    }

    std::string source_;
    std::vector<Key> keys_;
};

} // namespace cloudhost::sdk

#endif // CLOUDHOST_DRIVER_SDK_CONFIG_HPP
