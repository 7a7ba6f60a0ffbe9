#include "cloudhost/internal/drivers_report.hpp"
#include "cloudhost/printable.hpp"

#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <string>

namespace cloudhost {
namespace {

std::string abi_text(const DriverFile &file) {
    if (!file.info)
        return "";
    return std::to_string(file.info->abi_min) + ".." + std::to_string(file.info->abi_max);
}

// One word: how the file is trusted ("allow-all", "digest", "signed"), or
// "refused"; the JSON "trust" field and the reason carry the details.
std::string trust_word(const DriverFile &file) {
    if (file.trust.empty())
        return "";
    if (!file.trusted)
        return "refused";
    return file.trust.substr(0, file.trust.find(' '));
}

// "none" or "process" for a file that could be loaded; "" otherwise.
std::string isolation_text(const DriverFile &file, IsolationMode isolation) {
    return file.ok ? isolation_mode_name(resolve_isolation(isolation, file)) : "";
}

std::string status_text(const DriverFile &file) {
    return file.ok ? (file.active ? "ok*" : "ok") : "rejected";
}

} // namespace

void write_drivers_table(std::ostream &out, const std::vector<DriverFile> &files,
                         IsolationMode isolation) {
    constexpr size_t columns = 8;
    using Row = std::array<std::string, columns>;
    std::vector<Row> rows{
        {"STATUS", "NAME", "VERSION", "ABI", "TRUST", "ISOLATION", "PATH", "REASON"}};
    for (const auto &file : files) {
        const auto or_dash = [](const std::string &s) { return s.empty() ? "-" : s; };
        rows.push_back({status_text(file), or_dash(file.info ? file.info->name : ""),
                        or_dash(file.info ? file.info->version : ""), or_dash(abi_text(file)),
                        or_dash(trust_word(file)), or_dash(isolation_text(file, isolation)),
                        terminal_text(file.path.string()), terminal_text(file.reason)});
    }
    std::array<size_t, columns> width{};
    for (const auto &row : rows) {
        for (size_t c = 0; c < columns; ++c)
            width[c] = std::max(width[c], row[c].size());
    }
    for (const auto &row : rows) {
        std::string line;
        for (size_t c = 0; c < columns; ++c) {
            line += row[c];
            if (c + 1 < columns)
                line += std::string(width[c] - row[c].size() + 2, ' ');
        }
        line.erase(line.find_last_not_of(' ') + 1); // no trailing blanks
        out << line << '\n';
    }
    if (std::any_of(files.begin(), files.end(), [](const DriverFile &f) { return f.active; }))
        out << "ok* = the file loaded for that driver name (its highest good version)\n";
}

void write_drivers_json(std::ostream &out, const std::vector<DriverFile> &files,
                        IsolationMode isolation) {
    rapidjson::OStreamWrapper stream(out);
    // ASCII (\uXXXX for the rest), as the CLI's JSON: no C1 control reaches a terminal.
    rapidjson::Writer<rapidjson::OStreamWrapper, rapidjson::UTF8<>, rapidjson::ASCII<>> writer(
        stream);
    const auto string_or_null = [&](bool known, const std::string &s) {
        if (known) {
            const std::string valid = utf8_or_replacement(s); // file names are any bytes
            writer.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
        } else {
            writer.Null();
        }
    };
    writer.StartObject();
    writer.Key("drivers");
    writer.StartArray();
    for (const auto &file : files) {
        writer.StartObject();
        writer.Key("path");
        string_or_null(true, file.path.string());
        writer.Key("name");
        string_or_null(file.info.has_value(), file.info ? file.info->name : "");
        writer.Key("version");
        string_or_null(file.info.has_value(), file.info ? file.info->version : "");
        writer.Key("abi");
        string_or_null(file.info.has_value(), abi_text(file));
        writer.Key("sha256");
        string_or_null(!file.sha256.empty(), file.sha256);
        writer.Key("status");
        writer.String(file.ok ? "ok" : "rejected");
        writer.Key("reason");
        string_or_null(true, file.reason);
        writer.Key("trust");
        string_or_null(!file.trust.empty(), file.trust);
        writer.Key("active");
        writer.Bool(file.active);
        writer.Key("isolation");
        string_or_null(file.ok, isolation_text(file, isolation));
        writer.EndObject();
    }
    writer.EndArray();
    writer.EndObject();
    stream.Flush();
    out << '\n';
}

} // namespace cloudhost
