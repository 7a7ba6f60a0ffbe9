// The trust policies: digest lists and ed25519 signatures (FILE.sig made by
// `ssh-keygen -Y sign -n cloudhost-driver`), verified on the bytes loaded.
#include "trust_support.hpp"

#include "cloudhost/errors.hpp"
#include "cloudhost/trust.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include <sys/stat.h>

using namespace trust_test;
using cloudhost::Catalog;
using cloudhost::LoadError;
using cloudhost::TrustedKey;
using cloudhost::TrustMode;
using cloudhost::TrustPolicy;

namespace {

struct SignedTree : DriverTree {
    TempDir keys;
    SshKeyPair vendor = make_key(keys.path(), "vendor");
    SshKeyPair stranger = make_key(keys.path(), "stranger");

    TrustPolicy policy() const {
        TrustPolicy trust;
        trust.mode = TrustMode::signature;
        trust.public_keys = {TrustedKey::parse(vendor.public_line)};
        return trust;
    }
};

} // namespace

TEST_CASE("signed policy: valid signatures pass; each kind of bad one is refused") {
    SignedTree tree;
    sign(tree.add("fixture-1.0.0", "good.so"), tree.vendor);
    tree.add("fixture-1.1.0", "unsigned.so");
    sign(tree.add("fixture-1.1.0", "stranger.so"), tree.stranger);
    sign(tree.add("fixture-1.1.0", "other-namespace.so"), tree.vendor, "file");
    const fs::path tampered = tree.add("fixture-1.0.0", "tampered.so");
    sign(tampered, tree.vendor);
    fs::copy_file(catalog_test::fixture("fixture-1.1.0"), tampered,
                  fs::copy_options::overwrite_existing);
    tree.add("fixture-1.1.0", "garbage-sig.so");
    catalog_test::write_text(tree.drivers / "garbage-sig.so.sig", "not a signature\n");

    const auto files = scan(tree.options(tree.policy()));
    const std::string vendor_fp = TrustedKey::parse(tree.vendor.public_line).fingerprint();
    const std::string stranger_fp = TrustedKey::parse(tree.stranger.public_line).fingerprint();
    CHECK(files.at("good.so").ok);
    CHECK(files.at("good.so").trust == "signed by " + vendor_fp + " (vendor)");
    const auto refused = [&](const std::string &name) {
        CAPTURE(name);
        CHECK_FALSE(files.at(name).ok);
        CHECK_FALSE(files.at(name).trusted);
        CHECK(files.at(name).info.has_value()); // metadata still shown
        CHECK(files.at(name).reason == files.at(name).trust);
        return files.at(name).reason;
    };
    CHECK(refused("unsigned.so") == "untrusted: unsigned (no .sig file next to it)");
    CHECK(refused("stranger.so") == "untrusted: signed by unknown key " + stranger_fp);
    CHECK(refused("other-namespace.so") ==
          "untrusted: signature namespace is \"file\", not \"cloudhost-driver\"");
    CHECK(refused("tampered.so") ==
          "untrusted: bad signature: it does not match the file (key " + vendor_fp + ")");
    CHECK(refused("garbage-sig.so") ==
          "untrusted: signature is not an SSH signature (-----BEGIN SSH SIGNATURE-----)");

    // Only the signed 1.0.0 loads, although several 1.1.0 files are present.
    auto library = Catalog(tree.options(tree.policy())).load("fixture");
    CHECK(library->info().version == "1.0.0");
    CHECK(library->path().filename() ==
          catalog_test::file_sha256(tree.drivers / "good.so") + ".so");
}

TEST_CASE("digest policy: listed digests pass, others are refused") {
    DriverTree tree;
    tree.add("fixture-1.0.0", "listed.so");
    tree.add("fixture-1.1.0", "unlisted.so");
    TrustPolicy trust;
    trust.mode = TrustMode::digest;
    trust.digests = {catalog_test::file_sha256(tree.drivers / "listed.so")};
    const auto files = scan(tree.options(trust));
    CHECK(files.at("listed.so").ok);
    CHECK(files.at("listed.so").trust == "digest listed");
    CHECK(files.at("unlisted.so").reason ==
          "untrusted: digest " + catalog_test::file_sha256(tree.drivers / "unlisted.so") +
              " is not in the trusted list");
    CHECK(Catalog(tree.options(trust)).load("fixture")->info().version == "1.0.0");
}

TEST_CASE("a file replaced after the scan is verified again on load") {
    SignedTree tree;
    const fs::path path = tree.add("fixture-1.0.0", "fixture.so");
    sign(path, tree.vendor);
    const Catalog catalog(tree.options(tree.policy()));
    REQUIRE(catalog.scan().at(0).ok);
    // Swapped for other code that keeps the old signature file.
    fs::copy_file(catalog_test::fixture("fixture-1.1.0"), tree.drivers / "new",
                  fs::copy_options::overwrite_existing);
    fs::rename(tree.drivers / "new", path);
    CHECK_THROWS_WITH_AS(catalog.load("fixture"), doctest::Contains("bad signature"), LoadError);
}

TEST_CASE("while the file is swapped back and forth, only verified bytes are ever loaded") {
    SignedTree tree;
    const fs::path path = tree.add("fixture-1.0.0", "fixture.so");
    sign(path, tree.vendor);
    const std::string signed_sha = catalog_test::file_sha256(path);
    fs::copy_file(path, tree.drivers / "stage-good");
    fs::copy_file(catalog_test::fixture("fixture-1.1.0"), tree.drivers / "stage-evil");
    const Catalog catalog(tree.options(tree.policy()));

    std::atomic<bool> stop{false};
    std::thread swapper([&] {
        // rename() swaps atomically; link+rename keeps both staged copies.
        for (int i = 0; !stop && i < 100000; ++i) {
            const fs::path stage = tree.drivers / (i % 2 ? "stage-good" : "stage-evil");
            const fs::path next = tree.drivers / "next";
            std::error_code ec;
            fs::remove(next, ec);
            fs::create_hard_link(stage, next, ec);
            if (!ec)
                fs::rename(next, path, ec);
        }
    });
    int loaded = 0, refused = 0;
    for (int i = 0; i < 200; ++i) {
        try {
            auto library = catalog.load("fixture");
            ++loaded;
            CHECK(library->info().version == "1.0.0");
            CHECK(library->path().filename() == signed_sha + ".so");
            CHECK(catalog_test::file_sha256(library->path()) == signed_sha);
        } catch (const LoadError &e) {
            ++refused;
            const std::string what = e.what();
            CAPTURE(what);
            CHECK((what.find("bad signature") != std::string::npos ||
                   what.find("no driver named fixture") != std::string::npos ||
                   what.find("changed while loading") != std::string::npos ||
                   what.find("cannot open") != std::string::npos));
        }
    }
    stop = true;
    swapper.join();
    MESSAGE("loaded " << loaded << ", refused " << refused);
    CHECK(loaded + refused == 200);
}

TEST_CASE("public key lines: only ssh-ed25519, fingerprints as ssh-keygen prints them") {
    TempDir dir;
    const auto key = make_key(dir.path(), "vendor@example");
    const TrustedKey parsed = TrustedKey::parse(key.public_line);
    CHECK(parsed.comment == "vendor@example");
    const auto listed =
        run(std::string(SSH_KEYGEN) + " -lf " + quote(key.private_key.string() + ".pub"));
    CHECK(listed.out.find(parsed.fingerprint()) != std::string::npos);
    CHECK_THROWS_WITH(TrustedKey::parse("ssh-rsa AAAAB3NzaC1yc2E= x"),
                      doctest::Contains("only ssh-ed25519 keys are accepted"));
    CHECK_THROWS_WITH(TrustedKey::parse("ssh-ed25519 !!!"), doctest::Contains("base64"));
    CHECK_THROWS_WITH(TrustedKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"),
                      doctest::Contains("truncated"));
}

TEST_CASE("cloudhost verify judges files as the catalog does") {
    SignedTree tree;
    const fs::path good = tree.add("fixture-1.0.0", "good.so");
    sign(good, tree.vendor);
    const fs::path other = tree.add("fixture-1.1.0", "other.so");
    sign(other, tree.stranger);
    const std::string cli = CLOUDHOST_CLI;
    const std::string pub = quote(tree.vendor.private_key.string() + ".pub");

    auto ok = run(cli + " verify --public-key " + pub + " " + quote(good.string()));
    CHECK(ok.status == 0);
    CHECK(ok.out == good.string() + ": ok (signed by " +
                        TrustedKey::parse(tree.vendor.public_line).fingerprint() + " (vendor))\n");
    auto bad = run(cli + " verify --public-key " + pub + " " + quote(good.string()) + " " +
                   quote(other.string()));
    CHECK(bad.status == 1);
    CHECK(bad.out.find(other.string() + ": refused: untrusted: signed by unknown key") !=
          std::string::npos);

    const std::string sha = catalog_test::file_sha256(good);
    CHECK(run(cli + " verify --digest " + sha + " " + quote(good.string())).status == 0);
    CHECK(run(cli + " verify --digest " + sha + " " + quote(other.string())).status == 1);
    CHECK(run(cli + " verify --digest nothex " + quote(good.string())).status == 2);

    // A key file is read bounded and only if regular: one usage line each.
    const fs::path huge = tree.root / "huge.pub";
    std::ofstream(huge) << tree.vendor.public_line << "\n" << std::string(64 * 1024, '#');
    const fs::path fifo = tree.root / "fifo.pub";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    for (const auto &key_reason :
         {std::pair<std::string, std::string>{huge.string(), "file too large"},
          {"/dev/zero", "not a regular file"},
          {fifo.string(), "not a regular file"}}) {
        // (clang 14 cannot capture a structured binding in doctest's macros.)
        const std::string &key = key_reason.first;
        const std::string &reason = key_reason.second;
        CAPTURE(key);
        // stderr into out (the subshell's, which run() does not discard).
        auto refused = run("(" + cli + " verify --public-key " + quote(key) + " " +
                           quote(good.string()) + " 2>&1)");
        CHECK(refused.status == 2);
        CHECK(refused.out.find("--public-key: cannot read key file \"" + key + "\": " + reason) !=
              std::string::npos);
        CHECK(std::count(refused.out.begin(), refused.out.end(), '\n') == 1);
    }
}
