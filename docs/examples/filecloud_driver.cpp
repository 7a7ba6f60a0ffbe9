// filecloud: a driver written with the C++ SDK (cloudhost/driver_sdk.hpp)
// whose "cloud API" is a directory: every instance is one file holding its
// provider type and tags. Instances therefore outlive the process that
// created them, like real VMs, and separate `cloudhost create`, `list` and
// `destroy` runs see each other's work. The instances run nothing (no SSH
// server), so `cloudhost cloudtest` cannot boot-probe them.
//
// Config (driver_parameters): {"dir": "/absolute/path"} (no escapes inside).
//
// Built out of tree by tests/out-of-tree/run.sh with nothing but
//   c++ -std=c++20 $(pkg-config --cflags cloudhost-driver) -fPIC -shared ...
// and quoted by docs/driver-guide.md (tests/out-of-tree/check_snippets.py
// checks the quotes).
#include "cloudhost/driver_sdk.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <system_error>

namespace {

namespace fs = std::filesystem;
using cloudhost::sdk::Error;
using cloudhost::sdk::Instance;
using cloudhost::sdk::InstanceSet;
using cloudhost::sdk::InstanceSetArgs;
using cloudhost::sdk::InstanceType;
using cloudhost::sdk::InvalidConfigError;
using cloudhost::sdk::Logger;
using cloudhost::sdk::Tags;

// A real driver would use a JSON library; this accepts {"dir": "..."} only.
std::string parse_dir(const std::string &json) {
    const auto key = json.find("\"dir\"");
    const auto open = key == std::string::npos ? key : json.find('"', json.find(':', key));
    const auto close = open == std::string::npos ? open : json.find('"', open + 1);
    if (close == std::string::npos || close == open + 1 || json[open + 1] != '/')
        throw InvalidConfigError(R"(filecloud config: expected {"dir": "/absolute/path"})");
    return json.substr(open + 1, close - open - 1);
}

// One line per tag; refuse what the format cannot hold rather than corrupt.
void check_storable(const Tags &tags) {
    for (const auto &[key, value] : tags)
        if (key.empty() || key.find_first_of("=\n") != std::string::npos ||
            value.find('\n') != std::string::npos)
            throw Error("filecloud: tag " + key + " cannot be stored (empty key, '=' or newline)");
}

// Writes a whole file under a temporary name, then renames it: readers in
// other threads and processes see the old or the new content, never half.
void write_atomically(const fs::path &file, const std::string &type, const Tags &tags) {
    const fs::path temporary = file.string() + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << type << '\n';
        for (const auto &[key, value] : tags)
            out << key << '=' << value << '\n';
        if (!out.flush())
            throw Error("filecloud: cannot write " + temporary.string());
    }
    fs::rename(temporary, file);
}

// [guide:instance]
// Immutable after construction; every call reads or replaces the file, so
// concurrent calls from many host threads need no lock.
class FileInstance final : public Instance {
  public:
    FileInstance(fs::path file, std::string provider_type)
        : file_(std::move(file)), provider_type_(std::move(provider_type)) {}

    std::string id() const override { return file_.filename().string(); }
    std::string provider_type() const override { return provider_type_; }
    Tags tags() const override {
        std::ifstream in(file_);
        std::string line;
        Tags tags;
        std::getline(in, line); // the provider type
        while (std::getline(in, line))
            if (auto eq = line.find('='); eq != std::string::npos)
                tags[line.substr(0, eq)] = line.substr(eq + 1);
        return tags;
    }
    void set_tags(const Tags &tags) override {
        check_storable(tags);
        if (!fs::exists(file_))
            throw Error("filecloud: instance " + id() + " no longer exists");
        write_atomically(file_, provider_type_, tags);
    }
    void destroy() override {
        std::error_code ec;
        fs::remove(file_, ec); // already gone counts as destroyed
    }
    std::string address() const override { return ""; } // never boots
    std::string remote_user() const override { return "root"; }
    // verify_host_key: the SDK default throws NotImplementedError, so the
    // host falls back to its tag verifier (the instance secret).

  private:
    fs::path file_;
    std::string provider_type_;
};
// [/guide:instance]

// [guide:instance_set]
class FileInstanceSet final : public InstanceSet {
  public:
    FileInstanceSet(fs::path dir, Logger logger) : dir_(std::move(dir)), logger_(logger) {
        fs::create_directories(dir_);
    }

    std::shared_ptr<Instance> create(const InstanceType &type, const std::string &image_id,
                                     const Tags &tags, const std::string &init_command,
                                     const std::optional<std::string> &public_key) override {
        (void)image_id, (void)init_command, (void)public_key; // nothing boots here
        check_storable(tags);
        auto instance = std::make_shared<FileInstance>(dir_ / new_id(), type.provider_type);
        write_atomically(dir_ / instance->id(), type.provider_type, tags);
        logger_.info("created instance", {{"id", instance->id()}, {"type", type.name}});
        return instance;
    }

    // Ignores the filter: the host filters again.
    std::vector<std::shared_ptr<Instance>> instances(const Tags &) override {
        std::vector<std::shared_ptr<Instance>> found;
        for (const auto &entry : fs::directory_iterator(dir_)) {
            if (entry.path().extension() == ".tmp")
                continue;
            std::ifstream in(entry.path());
            std::string provider_type;
            if (std::getline(in, provider_type)) // skip files removed meanwhile
                found.push_back(std::make_shared<FileInstance>(entry.path(), provider_type));
        }
        return found;
    }

  private:
    static std::string new_id() {
        std::random_device random;
        std::ostringstream id;
        id << "fc-" << std::hex << random() << random();
        return id.str();
    }

    fs::path dir_;
    Logger logger_;
};
// [/guide:instance_set]

// [guide:export]
std::unique_ptr<InstanceSet> make_set(const InstanceSetArgs &args) {
    return std::make_unique<FileInstanceSet>(parse_dir(args.config_json), args.logger);
}

} // namespace

CLOUDHOST_DRIVER("filecloud", "1.0.0", "Instances are files in a directory (SDK example)",
                 make_set);
// [/guide:export]
