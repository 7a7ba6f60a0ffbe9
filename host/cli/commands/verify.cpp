// cloudhost verify FILE... [--public-key KEY]... [--digest SHA256]...:
// judge driver files exactly as the catalog would before loading them
// (permissions, ELF metadata, digest or signature), one line per file.
#include "../commands.hpp"

#include "catalog/file_bytes.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/printable.hpp"
#include "cloudhost/tag_rules.hpp"

#include <cctype>
#include <iostream>

namespace cloudhost::cli {
namespace {

struct VerifyFlags {
    std::vector<std::string> files;
    std::vector<std::string> public_keys;
    std::vector<std::string> digests;
};

// A key line ("ssh-ed25519 AAAA...") or a file holding one (vendor.pub).
TrustedKey read_key(const std::string &text) {
    std::string line = text;
    if (text.rfind("ssh-", 0) != 0) {
        // A .pub file is one line: bounded, regular files only.
        constexpr std::size_t max_public_key_file_bytes = 64 * 1024;
        try {
            const auto bytes = detail::read_file_bytes(text, max_public_key_file_bytes);
            line.assign(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        } catch (const LoadError &e) {
            throw UsageError("--public-key: cannot read key file \"" + printable(text) +
                             "\": " + e.what());
        }
        line = line.substr(0, line.find('\n'));
    }
    try {
        return TrustedKey::parse(line);
    } catch (const std::invalid_argument &e) {
        throw UsageError("--public-key \"" + text + "\": " + e.what());
    }
}

} // namespace

Command add_verify_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand(
        "verify", "Judge driver files as the catalog would (permissions, metadata, trust policy)");
    auto f = std::make_shared<VerifyFlags>();
    sub->add_option("file", f->files, "Driver file(s); signatures are read from FILE.sig")
        ->required();
    sub->add_option("--public-key", f->public_keys,
                    "Trusted ssh-ed25519 key or .pub file (repeatable; implies policy signed)")
        ->allow_extra_args(false);
    sub->add_option("--digest", f->digests, "Trusted SHA-256 (repeatable; implies policy digest)")
        ->allow_extra_args(false);
    return {sub, [&context, f] {
                if (!f->public_keys.empty() && !f->digests.empty())
                    throw UsageError("--public-key and --digest are different policies; give one");
                CatalogOptions options;
                options.trust = context.config().trust;
                if (!f->public_keys.empty()) {
                    options.trust.mode = TrustMode::signature;
                    options.trust.public_keys.clear();
                    for (const auto &key : f->public_keys)
                        options.trust.public_keys.push_back(read_key(key));
                }
                if (!f->digests.empty()) {
                    options.trust.mode = TrustMode::digest;
                    options.trust.digests.clear();
                    for (std::string digest : f->digests) {
                        for (char &ch : digest)
                            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                        if (digest.size() != 64 ||
                            digest.find_first_not_of("0123456789abcdef") != std::string::npos)
                            throw UsageError("--digest \"" + digest +
                                             "\": not a SHA-256 digest (64 hex digits)");
                        options.trust.digests.push_back(digest);
                    }
                }
                const Catalog catalog(options);
                bool all_ok = true;
                for (const auto &file : f->files) {
                    const DriverFile verdict = catalog.inspect(file);
                    all_ok = all_ok && verdict.ok;
                    std::cout << terminal_text(file) << ": "
                              << terminal_text(verdict.ok ? "ok (" + verdict.trust + ")"
                                                          : "refused: " + verdict.reason)
                              << "\n";
                }
                std::cout.flush();
                return int(all_ok ? exit_ok : exit_failed);
            }};
}

} // namespace cloudhost::cli
