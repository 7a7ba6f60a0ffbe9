// The loopback state directory as untrusted input (issue 10): corrupt
// state files, a server.pid that lies, and directories other users can
// write. The real loopback.so and real servers; the other user is `nobody`.
#include "loopback_harness.hpp"
#include "ssh_test_client.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

using namespace loopback_test;
namespace fs = std::filesystem;

namespace {

const std::string set_id = "zzzzz-zzzzz-loopbacktests00";
const Tags set_filter{{"cloudhostInstanceSetID", set_id}};

void write_text(const fs::path &path, const std::string &text) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << text;
    REQUIRE(file.good());
}

// An instance directory as Create leaves it, without a server.
fs::path plant_instance(const fs::path &state_dir, const std::string &id) {
    const fs::path dir = state_dir / id;
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    write_text(dir / "tags.json",
               "{\"cloudhostInstanceSetID\":\"" + set_id + "\",\"Name\":\"x\"}\n");
    write_text(dir / "meta.json", "{\"provider_type\":\"small\",\"instance_type\":\"small\","
                                  "\"tags\":{\"cloudhostInstanceSetID\":\"" +
                                      set_id + "\",\"Name\":\"at-create\"}}\n");
    return dir;
}

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

struct Fixture {
    cloudhost::test::TempDir temp{"loopback-state-test"};
    fs::path state_dir = temp / "state";
    std::shared_ptr<cloudhost::DriverLibrary> driver = open_loopback_driver();
    ClientKey key;

    Fixture() {
        fs::create_directories(state_dir);
        fs::permissions(state_dir, fs::perms::owner_all, fs::perm_options::replace);
        take_driver_log();
    }
    CreateRequest request() const {
        CreateRequest r;
        r.public_key = key.public_line();
        r.tags = set_filter;
        return r;
    }
    ~Fixture() {
        try {
            InstanceSet set(driver, config_json(state_dir));
            for (auto &instance : set.instances())
                instance.destroy();
        } catch (...) {
            // Already reported by the failing assertion.
        }
    }
};

struct Corruption {
    std::string name;
    std::string content;  // written to the file (unless `make` is set)
    std::string expected; // in the logged error, after "<instance dir>/"
    std::string also;     // in the logged error too
    void (*make)(const fs::path &) = nullptr;
};

std::string nested(size_t depth, const std::string &separator = "") {
    std::string text = "{\"a\":";
    for (size_t i = 1; i < depth; ++i)
        text += "[" + separator;
    for (size_t i = 1; i < depth; ++i)
        text += "]";
    return text + "}";
}

std::vector<Corruption> corruptions(const std::string &file) {
    const std::string limit = "invalid JSON: nested deeper than the limit of 32 levels";
    std::vector<Corruption> cases;
    // Depths around the limit (32) up to beyond the ~30,000 levels of the
    // issue, which overflowed the recursive parser's stack.
    for (size_t depth : {33, 100, 30000, 500000})
        cases.push_back(
            {"nested " + std::to_string(depth), nested(depth), file + ":1:37: ", limit});
    cases.push_back({"nested on many lines", nested(40, "\n"), file + ":32:", limit});
    cases.push_back({"truncated", "{\"a\": \"b", file + ":1:9: invalid JSON", ""});
    cases.push_back({"a NUL byte", std::string("{\"a\": \"b\"}\0{}", 13),
                     file + ":1:11: invalid JSON: a NUL byte", ""});
    cases.push_back({"huge", "{\"a\": \"" + std::string(2 << 20, 'x') + "\"}",
                     file + ": larger than the limit of 1048576 bytes", ""});
    cases.push_back({"an array", "[]", file + ": expected a JSON object", ""});
    cases.push_back({"a string", "\"x\"", file + ": expected a JSON object", ""});
    cases.push_back(
        {"missing", "", file + " is missing", "", [](const fs::path &p) { fs::remove(p); }});
    cases.push_back({"a directory", "", file, "not a regular file", [](const fs::path &p) {
                         fs::remove(p);
                         fs::create_directory(p);
                     }});
    cases.push_back(
        {"a fifo (must not hang)", "", file, "not a regular file", [](const fs::path &p) {
             fs::remove(p);
             REQUIRE(mkfifo(p.c_str(), 0600) == 0);
         }});
    cases.push_back({"a symlink", "", file, "cannot open", [](const fs::path &p) {
                         fs::remove(p);
                         fs::create_symlink("/etc/passwd", p);
                     }});
    return cases;
}

// A child in our session (so never a session leader, never identified as a
// server) that takes the instance's server.lock, then holds it `hold_us`
// microseconds, or until killed when 0. Returns once the lock is held.
pid_t fork_lock_holder(const fs::path &dir, useconds_t hold_us) {
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    const pid_t holder = fork();
    REQUIRE(holder >= 0);
    if (holder == 0) {
        const int fd = open((dir / "server.lock").c_str(), O_RDWR | O_CREAT, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) != 0)
            _exit(1);
        (void)!write(ready[1], "x", 1);
        if (hold_us == 0)
            pause();
        else
            usleep(hold_us);
        _exit(0);
    }
    char byte = 0;
    REQUIRE(read(ready[0], &byte, 1) == 1);
    close(ready[0]);
    close(ready[1]);
    return holder;
}

} // namespace

TEST_CASE("corrupt state files are one-line errors with file, line and column; the instance "
          "stays listed") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir));

    SUBCASE("nesting up to the limit parses; the next level is refused") {
        const fs::path dir = plant_instance(f.state_dir, "lo-00000000000a");
        write_text(dir / "tags.json", nested(32));
        REQUIRE(set.instances(set_filter).size() == 1);
        std::string log = take_driver_log();
        CHECK(contains(log, "\"a\" must be a string"));
        CHECK_FALSE(contains(log, "nested"));
        write_text(dir / "tags.json", nested(33));
        REQUIRE(set.instances(set_filter).size() == 1);
        log = take_driver_log();
        CHECK(contains(log, (dir / "tags.json").string() +
                                ":1:37: invalid JSON: nested deeper than the limit of 32 levels"));
    }

    SUBCASE("every kind of damage, in either file") {
        for (const std::string &file : {std::string("tags.json"), std::string("meta.json")}) {
            for (const Corruption &c : corruptions(file)) {
                CAPTURE(file);
                CAPTURE(c.name);
                const fs::path dir = plant_instance(f.state_dir, "lo-0000000000b1");
                const fs::path path = dir / file;
                if (c.make)
                    c.make(path);
                else
                    write_text(path, c.content);
                const auto listed = set.instances(set_filter);
                REQUIRE(listed.size() == 1);
                CHECK(listed[0].id() == "lo-0000000000b1");
                if (file == "tags.json") {
                    // Listed with the tags it was created with.
                    CHECK(listed[0].listed_tags().at("Name") == "at-create");
                    CHECK(listed[0].provider_type() == "small");
                } else {
                    CHECK(listed[0].listed_tags().at("Name") == "x");
                    CHECK(listed[0].provider_type() == "unknown");
                }
                const std::string log = take_driver_log();
                CHECK(contains(log, dir.string() + "/" + c.expected));
                CHECK(contains(log, c.also));
                CHECK(contains(log, "lo-0000000000b1"));
                // One line per problem.
                CHECK(log.find('\n') == log.size() - 1);
                CHECK(listed[0].destroy().ok());
                CHECK_FALSE(fs::exists(dir));
                take_driver_log();
            }
        }
    }
}

TEST_CASE("an instance with unreadable state stays visible, counts, and Destroy stops it") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir, "\"max_instances\": 1"));
    const Instance created = set.create_ok(f.request());
    created.wait_for_address();
    const fs::path dir = f.state_dir / created.id();
    const auto pid = server_pid(dir);
    REQUIRE(pid.has_value());

    // Tags unreadable: listed with the tags given to Create.
    write_text(dir / "tags.json", std::string(30000, '['));
    auto listed = set.instances(set_filter);
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].id() == created.id());
    CHECK(listed[0].listed_tags() == set_filter);
    CHECK(listed[0].provider_type() == "localhost");
    CHECK(listed[0].tags() == set_filter); // Tags on the handle: the last known
    CHECK(contains(take_driver_log(), (dir / "tags.json").string() + ":1:33: "));

    // Meta unreadable too: nothing says which instance set it belongs to,
    // but the driver still lists it (the host filters it out) and counts it.
    write_text(dir / "meta.json", "{\"provider_type\": 7}");
    listed = set.instances();
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].id() == created.id());
    CHECK(listed[0].provider_type() == "unknown");
    CHECK(contains(take_driver_log(),
                   (dir / "meta.json").string() + ": \"provider_type\" must be a string"));

    std::optional<Instance> second;
    const Outcome full = set.create(f.request(), second);
    CHECK(full.status == CH_ERR_QUOTA);
    CHECK(contains(full.message, "listed or not"));

    CHECK(listed[0].destroy().ok());
    CHECK_FALSE(process_alive(*pid));
    CHECK_FALSE(fs::exists(dir));
    CHECK(set.instances().empty());
}

TEST_CASE("Destroy finds the server by its lock, whatever server.pid says, and signals nothing "
          "else") {
    Fixture f;
    InstanceSet set(f.driver, config_json(f.state_dir));
    // A process of ours that leads its own session, as a server does: only
    // the lock tells it apart.
    const pid_t decoy = fork();
    REQUIRE(decoy >= 0);
    if (decoy == 0) {
        setsid();
        execl("/bin/sleep", "sleep", "300", static_cast<char *>(nullptr));
        _exit(127);
    }
    for (const std::string &lie : {std::string("1\n"), std::string("garbage\n"), std::string(),
                                   std::to_string(decoy) + "\n", std::string("remove")}) {
        CAPTURE(lie);
        const Instance instance = set.create_ok(f.request());
        instance.wait_for_address();
        const fs::path dir = f.state_dir / instance.id();
        const auto pid = server_pid(dir);
        REQUIRE(pid.has_value());
        if (lie == "remove")
            fs::remove(dir / "server.pid");
        else
            write_text(dir / "server.pid", lie);
        const Outcome destroyed = instance.destroy();
        CHECK_MESSAGE(destroyed.ok(), destroyed.message);
        CHECK_FALSE(process_alive(*pid));
        CHECK(session_members(*pid).empty());
        CHECK_FALSE(fs::exists(dir));
        CHECK(process_alive(decoy));
        CHECK(process_alive(1));
    }
    kill(decoy, SIGKILL);
    waitpid(decoy, nullptr, 0);

    SUBCASE("a lock held by a process that is not a server: Destroy fails and keeps the "
            "instance") {
        const fs::path dir = plant_instance(f.state_dir, "lo-0000000000c1");
        write_text(dir / "server.pid", std::to_string(getpid()) + "\n");
        const pid_t holder = fork_lock_holder(dir, 0);
        auto listed = set.instances(set_filter);
        REQUIRE(listed.size() == 1);
        const Outcome refused = listed[0].destroy();
        CHECK(refused.status != CH_OK);
        CHECK(contains(refused.message, (dir / "server.lock").string() + " is locked"));
        CHECK(fs::exists(dir));
        CHECK(process_alive(holder));
        CHECK(set.instances(set_filter).size() == 1);
        kill(holder, SIGKILL);
        waitpid(holder, nullptr, 0);
        CHECK(listed[0].destroy().ok());
        CHECK_FALSE(fs::exists(dir));
    }

    SUBCASE("a lock let go a moment later (a server on its way out): Destroy waits for it") {
        // An exiting server holds the lock a moment after it stops showing
        // it open; a Destroy racing it (the hot-swap soak saw it under
        // TSan) must not fail for that.
        const fs::path dir = plant_instance(f.state_dir, "lo-0000000000c2");
        write_text(dir / "server.pid", std::to_string(getpid()) + "\n");
        const pid_t holder = fork_lock_holder(dir, 300 * 1000);
        auto listed = set.instances(set_filter);
        REQUIRE(listed.size() == 1);
        const Outcome destroyed = listed[0].destroy();
        CHECK_MESSAGE(destroyed.ok(), destroyed.message);
        CHECK_FALSE(fs::exists(dir));
        waitpid(holder, nullptr, 0);
    }
}

TEST_CASE("a state directory or instance directory others can write is refused, naming the "
          "path and the rule") {
    Fixture f;
    struct Case {
        fs::perms mode;
        std::string rule;
    };
    for (const Case &c :
         {Case{fs::perms(0777), "is world-writable"}, Case{fs::perms(01777), "is world-writable"},
          Case{fs::perms(0770), "is group-writable"}}) {
        CAPTURE(c.rule);
        fs::permissions(f.state_dir, c.mode, fs::perm_options::replace);
        const Outcome refused = InstanceSet::try_open(f.driver, config_json(f.state_dir));
        CHECK(refused.status == CH_ERR_INVALID_CONFIG);
        CHECK(contains(refused.message, f.state_dir.string() + " " + c.rule));
    }
    fs::permissions(f.state_dir, fs::perms::owner_all, fs::perm_options::replace);

    // An ancestor others can write (not sticky) is refused too.
    const fs::path open_parent = f.temp / "open";
    fs::create_directories(open_parent / "state");
    fs::permissions(open_parent, fs::perms(0777), fs::perm_options::replace);
    const Outcome under_open = InstanceSet::try_open(f.driver, config_json(open_parent / "state"));
    CHECK(under_open.status == CH_ERR_INVALID_CONFIG);
    CHECK(contains(under_open.message, open_parent.string() + " is world-writable"));

    // Instance directories that break the rule are skipped with a warning
    // and do not count against max_instances.
    InstanceSet set(f.driver, config_json(f.state_dir, "\"max_instances\": 1"));
    const fs::path group_writable = plant_instance(f.state_dir, "lo-0000000000d1");
    fs::permissions(group_writable, fs::perms(0770), fs::perm_options::replace);
    const fs::path elsewhere = plant_instance(f.temp.path(), "lo-0000000000d2");
    fs::create_directory_symlink(elsewhere, f.state_dir / "lo-0000000000d2");
    CHECK(set.instances().empty());
    const std::string log = take_driver_log();
    CHECK(contains(log, group_writable.string() + " is group-writable"));
    CHECK(contains(log, (f.state_dir / "lo-0000000000d2").string() + " is not a directory"));
    CHECK(group_writable.string().size() > 0);
    // Room for one real instance: the skipped ones are not ours to count.
    const Instance instance = set.create_ok(f.request());
    CHECK(instance.destroy().ok());
    CHECK(fs::exists(group_writable)); // never destroyed either
}

TEST_CASE("an instance another user plants, with its own server, is never used") {
    if (geteuid() != 0) {
        MESSAGE("skipped: running as another user needs root");
        return;
    }
    const passwd *nobody = getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    if (!others_can_enter_tmp()) {
        MESSAGE("skipped: /tmp is not a world-writable directory other users can enter, so "
                "there is nowhere to give `nobody` a directory");
        return;
    }
    Fixture f;
    // A directory `nobody` can reach wherever TMPDIR is: under /tmp, 0711.
    const SharedTempDir shared("loopback-planted");
    const fs::path state_dir = shared.path() / "state";
    fs::create_directory(state_dir);
    fs::permissions(state_dir, fs::perms(01777), fs::perm_options::replace);
    const fs::path server = shared.path() / "cloudhost-loopback-server";
    fs::copy_file(built_server(), server);
    fs::permissions(server, fs::perms(0755), fs::perm_options::replace);

    // `nobody` plants an instance with its own key and starts a real server
    // on it: an SSH server root's driver must never talk to.
    const std::string planted_id = "lo-00000000e1e1";
    const fs::path planted = state_dir / planted_id;
    const std::string public_key = f.key.public_line();
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)
            _exit(10);
        try {
            plant_instance(state_dir, planted_id);
            write_text(planted / "authorized_key", public_key + "\n");
        } catch (...) {
            _exit(11);
        }
        const int log = open((planted / "server.log").c_str(), O_WRONLY | O_CREAT, 0600);
        dup2(log, 1);
        dup2(log, 2);
        execl(server.c_str(), server.c_str(), "--daemonize", planted.c_str(),
              static_cast<char *>(nullptr));
        _exit(12);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(eventually([&] { return fs::exists(planted / "address"); }, std::chrono::seconds(30)));
    const auto planted_server = server_pid(planted);
    REQUIRE(planted_server.has_value());

    const Outcome refused = InstanceSet::try_open(f.driver, config_json(state_dir));
    CHECK(refused.status == CH_ERR_INVALID_CONFIG);
    CHECK(contains(refused.message, state_dir.string() + " is world-writable"));

    // Once the directory is root's alone, the planted instance is skipped.
    fs::permissions(state_dir, fs::perms(0755), fs::perm_options::replace);
    {
        InstanceSet set(f.driver, config_json(state_dir, "\"max_instances\": 1"));
        CHECK(set.instances().empty());
        CHECK(contains(take_driver_log(),
                       planted.string() + " is owned by uid " + std::to_string(nobody->pw_uid)));
        const Instance mine = set.create_ok(f.request());
        CHECK(mine.destroy().ok());
    }
    CHECK(process_alive(*planted_server)); // never signalled by the driver
    CHECK(fs::exists(planted));
    kill(-*planted_server, SIGKILL);
    CHECK(eventually([&] { return !process_alive(*planted_server); }, std::chrono::seconds(10)));
}

TEST_CASE("a state file its owner cannot read (permission denied) leaves the instance listed") {
    if (geteuid() != 0) {
        MESSAGE("skipped: root bypasses file modes, so this case runs as `nobody` from root");
        return;
    }
    const passwd *nobody = getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    if (!others_can_enter_tmp()) {
        MESSAGE("skipped: /tmp is not a world-writable directory other users can enter, so "
                "there is nowhere to give `nobody` a directory");
        return;
    }
    const SharedTempDir shared("loopback-denied");
    const fs::path state_dir = shared.path() / "state";
    fs::create_directory(state_dir);
    fs::permissions(state_dir, fs::perms::owner_all, fs::perm_options::replace);
    const fs::path dir = plant_instance(state_dir, "lo-0000000000f1");
    fs::permissions(dir / "tags.json", fs::perms::none, fs::perm_options::replace);
    for (const auto &path : {state_dir, dir, dir / "tags.json", dir / "meta.json"})
        REQUIRE(chown(path.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
    // The build tree may be out of nobody's reach: a copy of the server.
    const fs::path server = shared.path() / "cloudhost-loopback-server";
    fs::copy_file(built_server(), server);
    const std::string config = "{\"state_dir\": \"" + state_dir.string() +
                               "\", \"server_path\": \"" + server.string() + "\"}";
    auto driver = open_loopback_driver();
    take_driver_log();

    // The child's exit code says which step failed.
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)
            _exit(10);
        int code = 0;
        try {
            InstanceSet set(driver, config);
            const auto listed = set.instances(set_filter);
            const std::string log = take_driver_log();
            if (listed.size() != 1)
                code = 11;
            else if (listed[0].listed_tags().at("Name") != "at-create")
                code = 12;
            else if (!contains(log, (dir / "tags.json").string() + ": Permission denied"))
                code = 13;
        } catch (...) {
            code = 14;
        }
        _exit(code);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
