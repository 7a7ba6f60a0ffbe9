#include "file_cloud.hpp"

#include "cloudhost/json_depth_limit.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cloudhost::stub {
namespace {

namespace fs = std::filesystem;

constexpr const char *lock_name = ".lock";
constexpr const char *last_serial_name = ".last_serial";
constexpr const char *vm_suffix = ".json";

[[noreturn]] void fail_io(const std::string &what, const fs::path &path, int error_number) {
    throw sdk::Error("stub: cannot " + what + " " + path.string() + ": " +
                     std::strerror(error_number));
}

// An open descriptor, closed on scope exit.
class Fd {
  public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const noexcept { return fd_; }

  private:
    int fd_;
};

int open_lock_file(const fs::path &path) {
    return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
}

// Exclusive flock on the cloud's lock file. Each holder opens the file
// itself: flock locks belong to the open file description, so this excludes
// other threads of this process as well as other copies and processes.
class CloudLock {
  public:
    explicit CloudLock(const fs::path &dir) : fd_(open_lock_file(dir / lock_name)) {
        if (fd_.get() < 0)
            fail_io("open", dir / lock_name, errno);
        while (::flock(fd_.get(), LOCK_EX) != 0)
            if (errno != EINTR)
                fail_io("lock", dir / lock_name, errno);
    }
    // Closing the descriptor releases the lock.

  private:
    Fd fd_;
};

// A VM file holds one record with two small tag maps (<= 50 tags of <= 384
// bytes each): 64 KiB is far above any file we write.
constexpr std::size_t max_vm_file_bytes = 64 * 1024;

// The whole file, or nullopt when it does not exist; refused when it is
// larger than `limit` (a file in a shared state dir is untrusted input).
std::optional<std::string> read_file(const fs::path &path, std::size_t limit) {
    // O_NONBLOCK: a FIFO planted under a VM file's name must not hang us.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd.get() < 0) {
        if (errno == ENOENT)
            return std::nullopt;
        fail_io("open", path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        fail_io("stat", path, errno);
    if (!S_ISREG(st.st_mode))
        throw sdk::Error("stub: " + path.string() + " is not a regular file");
    std::string text;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n == 0)
            return text;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_io("read", path, errno);
        }
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > limit)
            throw sdk::Error("stub: " + path.string() + " is larger than " + std::to_string(limit) +
                             " bytes");
    }
}

// Temporary file + rename: readers see the old or the new file, never a
// partial one. The temporary name is fixed: callers hold the cloud's lock.
void write_file_atomically(const fs::path &path, const std::string &text) {
    const fs::path temporary = path.parent_path() / ("." + path.filename().string() + ".tmp");
    {
        Fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (fd.get() < 0)
            fail_io("create", temporary, errno);
        std::size_t written = 0;
        while (written < text.size()) {
            const ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                const int error_number = errno;
                ::unlink(temporary.c_str());
                fail_io("write", temporary, error_number);
            }
            written += static_cast<std::size_t>(n);
        }
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error_number = errno;
        ::unlink(temporary.c_str());
        fail_io("rename", temporary, error_number);
    }
}

std::optional<uint64_t> parse_uint(std::string_view text) {
    uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

int64_t unix_ns(StubCloud::TimePoint t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer &w, const std::string &s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_tags(Writer &w, const sdk::Tags &tags) {
    w.StartObject();
    for (const auto &[key, value] : tags) {
        w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
        write_string(w, value);
    }
    w.EndObject();
}

std::string serialize(const FileCloud::Record &r) {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("id");
    write_string(w, "inst" + std::to_string(r.serial) + "," + r.provider_type);
    w.Key("serial");
    w.Uint64(r.serial);
    w.Key("provider_type");
    write_string(w, r.provider_type);
    w.Key("created_at_unix_ns");
    w.Int64(unix_ns(r.created_at));
    w.Key("tags");
    write_tags(w, *r.tags);
    w.Key("tags_set_at_unix_ns");
    w.Int64(unix_ns(r.tags_set_at));
    if (r.previous_tags) {
        w.Key("previous_tags");
        write_tags(w, *r.previous_tags);
    }
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

StubCloud::TimePoint from_unix_ns(int64_t ns) {
    return StubCloud::TimePoint(
        std::chrono::duration_cast<StubCloud::TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

[[noreturn]] void fail_corrupt(const fs::path &path, const std::string &why) {
    throw sdk::Error("stub: corrupt VM file " + path.string() + ": " + why);
}

std::shared_ptr<const sdk::Tags> parse_tags(const fs::path &path, const rapidjson::Value &v) {
    if (!v.IsObject())
        fail_corrupt(path, "tags are not an object");
    sdk::Tags tags;
    for (const auto &member : v.GetObject()) {
        if (!member.value.IsString())
            fail_corrupt(path, "a tag value is not a string");
        tags.emplace(std::string(member.name.GetString(), member.name.GetStringLength()),
                     std::string(member.value.GetString(), member.value.GetStringLength()));
    }
    return std::make_shared<const sdk::Tags>(std::move(tags));
}

const rapidjson::Value &member(const fs::path &path, const rapidjson::Document &doc,
                               const char *name) {
    const auto it = doc.FindMember(name);
    if (it == doc.MemberEnd())
        fail_corrupt(path, std::string("no \"") + name + "\"");
    return it->value;
}

FileCloud::Record parse_record(const fs::path &path, uint64_t serial, const std::string &text) {
    rapidjson::Document doc;
    if (const auto parsed = json::parse_document_with_depth_limit(doc, text); !parsed)
        fail_corrupt(path, "invalid JSON at byte " + std::to_string(parsed.offset() + 1) + ": " +
                               parsed.message());
    if (!doc.IsObject())
        fail_corrupt(path, "not a JSON object");
    FileCloud::Record r;
    r.serial = serial;
    const auto &type = member(path, doc, "provider_type");
    const auto &created = member(path, doc, "created_at_unix_ns");
    const auto &set_at = member(path, doc, "tags_set_at_unix_ns");
    if (!type.IsString() || !created.IsInt64() || !set_at.IsInt64())
        fail_corrupt(path, "wrong field types");
    r.provider_type.assign(type.GetString(), type.GetStringLength());
    r.created_at = from_unix_ns(created.GetInt64());
    r.tags_set_at = from_unix_ns(set_at.GetInt64());
    r.tags = parse_tags(path, member(path, doc, "tags"));
    if (const auto it = doc.FindMember("previous_tags"); it != doc.MemberEnd())
        r.previous_tags = parse_tags(path, it->value);
    return r;
}

} // namespace

FileCloud::FileCloud(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec)
        throw sdk::InvalidConfigError("stub config: \"state_dir\": cannot create " + dir_.string() +
                                      ": " + ec.message());
    // Fails now, not on the first Create, when the directory is not ours to write.
    Fd lock(open_lock_file(dir_ / lock_name));
    if (lock.get() < 0) {
        const int error_number = errno;
        throw sdk::InvalidConfigError("stub config: \"state_dir\": cannot write in " +
                                      dir_.string() + ": " + std::strerror(error_number));
    }
}

fs::path FileCloud::vm_path(uint64_t serial) const {
    return dir_ / (std::to_string(serial) + vm_suffix);
}

std::vector<uint64_t> FileCloud::serials() const {
    std::vector<uint64_t> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() <= std::strlen(vm_suffix) || !name.ends_with(vm_suffix))
            continue; // the lock, the serial counter, temporary files
        if (const auto serial =
                parse_uint(std::string_view(name).substr(0, name.size() - std::strlen(vm_suffix))))
            out.push_back(*serial);
    }
    if (ec)
        fail_io("list", dir_, ec.value());
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<FileCloud::Record> FileCloud::read_record(uint64_t serial) const {
    const fs::path path = vm_path(serial);
    const auto text = read_file(path, max_vm_file_bytes);
    if (!text)
        return std::nullopt;
    return parse_record(path, serial, *text);
}

void FileCloud::write_record_locked(const Record &record) const {
    write_file_atomically(vm_path(record.serial), serialize(record));
}

uint64_t FileCloud::allocate_serial_locked() const {
    const fs::path path = dir_ / last_serial_name;
    uint64_t last = 0;
    if (const auto text = read_file(path, 64)) { // a decimal number
        const auto value = parse_uint(*text);
        if (!value)
            throw sdk::Error("stub: corrupt serial counter " + path.string());
        last = *value;
    }
    write_file_atomically(path, std::to_string(last + 1));
    return last + 1;
}

std::shared_ptr<StubVm> FileCloud::add(std::string provider_type, sdk::Tags tags,
                                       TimePoint created_at, const VmBehaviour &behaviour,
                                       std::optional<uint64_t> quota) {
    Record record;
    record.provider_type = std::move(provider_type);
    record.created_at = created_at;
    record.tags = std::make_shared<const sdk::Tags>(std::move(tags));
    {
        CloudLock lock(dir_);
        if (quota && serials().size() >= *quota)
            throw sdk::QuotaError("stub: quota of " + std::to_string(*quota) +
                                  " instances reached");
        record.serial = allocate_serial_locked();
        write_record_locked(record);
    }
    return std::make_shared<StubVm>(record.serial, std::move(record.provider_type),
                                    record.created_at, behaviour, std::move(record.tags), nullptr,
                                    TimePoint{});
}

void FileCloud::top_up(const std::string &provider_type, uint64_t target,
                       const std::function<sdk::Tags(uint64_t)> &tags_of, TimePoint created_at,
                       const VmBehaviour &) {
    CloudLock lock(dir_);
    uint64_t have = 0;
    for (const uint64_t serial : serials())
        if (const auto record = read_record(serial);
            record && record->provider_type == provider_type)
            ++have;
    for (uint64_t i = have; i < target; ++i) {
        Record record;
        record.serial = allocate_serial_locked();
        record.provider_type = provider_type;
        record.created_at = created_at;
        record.tags = std::make_shared<const sdk::Tags>(tags_of(i));
        write_record_locked(record);
    }
}

void FileCloud::remove(uint64_t serial) {
    // Under the lock so that a concurrent SetTags cannot write the file back.
    CloudLock lock(dir_);
    const fs::path path = vm_path(serial);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        fail_io("remove", path, errno);
}

std::size_t FileCloud::size() const {
    return serials().size();
}

std::vector<std::shared_ptr<StubVm>> FileCloud::snapshot(const VmBehaviour &reader) const {
    std::vector<std::shared_ptr<StubVm>> out;
    for (const uint64_t serial : serials()) {
        auto record = read_record(serial);
        if (!record)
            continue; // destroyed since the directory was read
        out.push_back(std::make_shared<StubVm>(
            serial, std::move(record->provider_type), record->created_at, reader,
            std::move(record->tags), std::move(record->previous_tags), record->tags_set_at));
    }
    return out;
}

std::shared_ptr<const sdk::Tags> FileCloud::current_tags(const StubVm &vm, TimePoint now) const {
    const auto record = read_record(vm.serial());
    if (!record) // destroyed: as in memory, the handle keeps answering its last tags
        return vm.visible_tags(now);
    if (StubVm::previous_visible(record->previous_tags != nullptr, record->tags_set_at,
                                 vm.behaviour().stale_tags, now))
        return record->previous_tags;
    return record->tags;
}

void FileCloud::set_tags(StubVm &vm, sdk::Tags tags, TimePoint now) {
    auto fresh = std::make_shared<const sdk::Tags>(tags);
    {
        CloudLock lock(dir_);
        if (auto record = read_record(vm.serial())) {
            // Keep what readers saw just before this call, unless an earlier
            // SetTags is still inside this set's stale window (as in memory).
            if (!StubVm::previous_visible(record->previous_tags != nullptr, record->tags_set_at,
                                          vm.behaviour().stale_tags, now))
                record->previous_tags = record->tags;
            record->tags = std::move(fresh);
            record->tags_set_at = now;
            write_record_locked(*record);
        }
    }
    vm.set_tags(std::move(tags), now);
}

} // namespace cloudhost::stub
