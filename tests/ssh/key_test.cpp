// SshKey: generation, storage and loading, checked against OpenSSH's tools.
#include "cloudhost/ssh_key.hpp"
#include "sshd_fixture.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <thread>
#include <vector>

using namespace cloudhost;
using namespace cloudhost::test;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path &path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

mode_t file_mode(const fs::path &path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
}

} // namespace

TEST_CASE("load_or_generate writes an ed25519 key OpenSSH can read, then reuses it") {
    TempDir temp;
    const fs::path path = temp.path() / "state" / "id_ed25519";

    SshKey created = SshKey::load_or_generate(path);
    CHECK(created.public_key_openssh().rfind("ssh-ed25519 AAAA", 0) == 0);
    CHECK(file_mode(path) == 0600);
    CHECK(file_mode(temp.path() / "state") == 0700);
    CHECK(read_text(fs::path(path.string() + ".pub")) == created.public_key_openssh() + "\n");

    // ssh-keygen derives the same public key from the private key file.
    const fs::path derived = temp.path() / "derived.pub";
    CHECK(run_process({"sh", "-c",
                       "ssh-keygen -y -f '" + path.string() + "' > '" + derived.string() + "'"}) ==
          0);
    CHECK(read_text(derived).rfind(created.public_key_openssh(), 0) == 0);

    SshKey loaded = SshKey::load_or_generate(path);
    CHECK(loaded.public_key_openssh() == created.public_key_openssh());
    CHECK(SshKey::load(path).public_key_openssh() == created.public_key_openssh());
}

TEST_CASE("processes racing to create the default key end up with one key") {
    TempDir temp;
    const fs::path path = temp.path() / "id_ed25519";
    std::vector<std::string> keys(6);
    std::vector<std::thread> racers;
    for (size_t i = 0; i < keys.size(); ++i) {
        racers.emplace_back(
            [&, i] { keys[i] = SshKey::load_or_generate(path).public_key_openssh(); });
    }
    for (auto &racer : racers) {
        racer.join();
    }
    for (const auto &key : keys) {
        CHECK(key == keys.front());
    }
    CHECK(SshKey::load(path).public_key_openssh() == keys.front());
    size_t files = 0;
    for ([[maybe_unused]] const auto &entry : fs::directory_iterator(temp.path())) {
        ++files;
    }
    CHECK(files == 2); // the key and its .pub; no temporary left behind
}

TEST_CASE("a key path that is huge, endless or blocking is refused, bounded") {
    TempDir temp;
    // A real key padded past 64 KiB: refused for its size, not parsed.
    const fs::path padded = temp.path() / "padded";
    SshKey::generate_ed25519().save_private(padded);
    std::ofstream(padded, std::ios::app) << std::string(64 * 1024, '\n');
    const std::string too_large = padded.string() + ": file too large";
    CHECK_THROWS_WITH_AS(SshKey::load(padded), doctest::Contains(too_large.c_str()), SshKeyError);
    // Endless, and a FIFO nobody writes to (would block libssh's reader).
    CHECK_THROWS_WITH_AS(SshKey::load("/dev/zero"), doctest::Contains("not a regular file"),
                         SshKeyError);
    const fs::path fifo = temp.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(SshKey::load(fifo), doctest::Contains("not a regular file"), SshKeyError);
    // A NUL byte inside a key file: refused, not read up to the NUL.
    const fs::path nul = temp.path() / "nul";
    SshKey::generate_ed25519().save_private(nul);
    std::ofstream(nul, std::ios::app) << std::string(1, '\0') << "trailing";
    CHECK_THROWS_AS(SshKey::load(nul), SshKeyError);
}

TEST_CASE("bad key files are reported with their path") {
    TempDir temp;
    const fs::path garbage = temp.path() / "garbage";
    std::ofstream(garbage) << "not a key\n";
    CHECK_THROWS_WITH_AS(SshKey::load(garbage), doctest::Contains(garbage.c_str()), SshKeyError);
    CHECK_THROWS_WITH_AS(SshKey::load(temp.path() / "missing"), doctest::Contains("no such file"),
                         SshKeyError);

    SshKey key = SshKey::generate_ed25519();
    CHECK_THROWS_AS(key.save_private(garbage), SshKeyError); // never overwrites
    CHECK(read_text(garbage) == "not a key\n");
}
