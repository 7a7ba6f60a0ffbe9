// Trust policy and OpenSSH signature (PROTOCOL.sshsig) verification with
// OpenSSL's ed25519.
#include "cloudhost/trust.hpp"

#include "sha256.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace cloudhost {
namespace {

constexpr std::string_view ed25519_type = "ssh-ed25519";
constexpr std::string_view armor_begin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view armor_end = "-----END SSH SIGNATURE-----";
constexpr std::string_view sshsig_magic = "SSHSIG";
constexpr size_t ed25519_key_size = 32;
constexpr size_t ed25519_signature_size = 64;

[[noreturn]] void fail(const std::string &why) {
    throw std::invalid_argument(why);
}

// Base64 with line breaks allowed (OpenSSL's EVP decoder skips whitespace).
std::string base64_decode(std::string_view text, const char *what) {
    std::string out(text.size() / 4 * 3 + 3, '\0');
    std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> ctx(EVP_ENCODE_CTX_new(),
                                                                        EVP_ENCODE_CTX_free);
    if (!ctx || text.size() > INT32_MAX)
        fail(std::string(what) + " is not valid base64");
    EVP_DecodeInit(ctx.get());
    int n = 0, tail = 0;
    auto *dst = reinterpret_cast<unsigned char *>(out.data());
    if (EVP_DecodeUpdate(ctx.get(), dst, &n, reinterpret_cast<const unsigned char *>(text.data()),
                         static_cast<int>(text.size())) < 0 ||
        EVP_DecodeFinal(ctx.get(), dst + n, &tail) != 1)
        fail(std::string(what) + " is not valid base64");
    out.resize(static_cast<size_t>(n) + static_cast<size_t>(tail));
    return out;
}

std::string base64_encode_unpadded(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                                  reinterpret_cast<const unsigned char *>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    out.erase(out.find_last_not_of('=') + 1);
    return out;
}

// Reads SSH wire-format fields (RFC 4251 uint32 and string), bounds-checked.
class WireReader {
  public:
    WireReader(std::string_view data, const char *what) : data_(data), what_(what) {}

    uint32_t u32() {
        need(4);
        const auto *p = reinterpret_cast<const unsigned char *>(data_.data());
        const uint32_t v = uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
        data_.remove_prefix(4);
        return v;
    }
    std::string_view string() {
        const uint32_t size = u32();
        need(size);
        std::string_view s = data_.substr(0, size);
        data_.remove_prefix(size);
        return s;
    }
    std::string_view raw(size_t size) {
        need(size);
        std::string_view s = data_.substr(0, size);
        data_.remove_prefix(size);
        return s;
    }
    bool done() const { return data_.empty(); }

  private:
    void need(size_t size) const {
        if (data_.size() < size)
            fail(std::string(what_) + " is truncated");
    }
    std::string_view data_;
    const char *what_;
};

void put_string(std::string &out, std::string_view s) {
    const auto n = static_cast<uint32_t>(s.size());
    for (int shift = 24; shift >= 0; shift -= 8)
        out += static_cast<char>((n >> shift) & 0xff);
    out += s;
}

// The 32 raw key bytes of an ssh-ed25519 key blob.
std::string_view ed25519_key_of(std::string_view blob, const char *what) {
    WireReader r(blob, what);
    const std::string_view type = r.string();
    if (type != ed25519_type)
        fail(std::string("only ssh-ed25519 keys are accepted, not ") + std::string(type));
    const std::string_view key = r.string();
    if (key.size() != ed25519_key_size || !r.done())
        fail(std::string(what) + " is not a valid ssh-ed25519 key");
    return key;
}

std::string digest(std::string_view algorithm, std::span<const std::byte> bytes) {
    const EVP_MD *md = algorithm == "sha512"   ? EVP_sha512()
                       : algorithm == "sha256" ? EVP_sha256()
                                               : nullptr;
    if (!md)
        fail("unsupported signature hash \"" + std::string(algorithm) + "\"");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), out, &size, md, nullptr) != 1)
        fail("hashing failed (OpenSSL EVP_Digest)");
    return std::string(reinterpret_cast<const char *>(out), size);
}

bool ed25519_verify(std::string_view key, std::string_view signature, std::string_view message) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                    reinterpret_cast<const unsigned char *>(key.data()),
                                    key.size()),
        EVP_PKEY_free);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!pkey || !ctx ||
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1)
        return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char *>(message.data()),
                            message.size()) == 1;
}

std::string key_fingerprint(std::string_view blob) {
    return "SHA256:" + base64_encode_unpadded(detail::sha256_raw(std::as_bytes(std::span(blob))));
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos)
        return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

} // namespace

TrustedKey TrustedKey::parse(std::string_view line) {
    line = trim(line);
    const auto space = line.find_first_of(" \t");
    const std::string_view type = line.substr(0, space);
    if (type != ed25519_type)
        fail("only ssh-ed25519 keys are accepted, not \"" + std::string(type.substr(0, 40)) + "\"");
    std::string_view rest = space == std::string_view::npos ? "" : trim(line.substr(space));
    const auto end = rest.find_first_of(" \t");
    TrustedKey key;
    key.blob = base64_decode(rest.substr(0, end), "the ssh-ed25519 key");
    ed25519_key_of(key.blob, "the ssh-ed25519 key");
    if (end != std::string_view::npos)
        key.comment = std::string(trim(rest.substr(end)));
    return key;
}

std::string TrustedKey::fingerprint() const {
    return key_fingerprint(blob);
}

std::string_view trust_mode_name(TrustMode mode) {
    switch (mode) {
    case TrustMode::allow_all:
        return "allow-all";
    case TrustMode::digest:
        return "digest";
    case TrustMode::signature:
        return "signed";
    }
    return "?";
}

TrustMode parse_trust_mode(std::string_view name) {
    for (TrustMode m : {TrustMode::allow_all, TrustMode::digest, TrustMode::signature})
        if (trust_mode_name(m) == name)
            return m;
    fail("policy must be \"allow-all\", \"digest\" or \"signed\"");
}

std::string verify_driver_signature(std::span<const std::byte> bytes, std::string_view signature,
                                    const std::vector<TrustedKey> &keys) {
    signature = trim(signature);
    if (signature.substr(0, armor_begin.size()) != armor_begin ||
        signature.size() < armor_begin.size() + armor_end.size() ||
        signature.substr(signature.size() - armor_end.size()) != armor_end)
        fail("signature is not an SSH signature (-----BEGIN SSH SIGNATURE-----)");
    const std::string blob =
        base64_decode(signature.substr(armor_begin.size(),
                                       signature.size() - armor_begin.size() - armor_end.size()),
                      "the signature");

    WireReader r(blob, "the signature");
    if (r.raw(sshsig_magic.size()) != sshsig_magic)
        fail("signature is not an SSHSIG blob");
    if (const uint32_t version = r.u32(); version != 1)
        fail("unsupported SSH signature version " + std::to_string(version));
    const std::string_view public_key = r.string();
    const std::string_view name_space = r.string();
    const std::string_view reserved = r.string();
    const std::string_view hash = r.string();
    const std::string_view wrapped = r.string();
    if (!r.done())
        fail("the signature has trailing data");
    if (name_space != driver_signature_namespace)
        fail("signature namespace is \"" + std::string(name_space.substr(0, 64)) + "\", not \"" +
             std::string(driver_signature_namespace) + "\"");
    const std::string_view raw_key = ed25519_key_of(public_key, "the signature's key");

    WireReader s(wrapped, "the signature");
    if (s.string() != ed25519_type)
        fail("signature algorithm is not ssh-ed25519");
    const std::string_view raw_signature = s.string();
    if (raw_signature.size() != ed25519_signature_size || !s.done())
        fail("the ed25519 signature is malformed");

    const auto known = std::find_if(keys.begin(), keys.end(),
                                    [&](const TrustedKey &k) { return k.blob == public_key; });
    if (known == keys.end())
        fail("signed by unknown key " + key_fingerprint(public_key));

    std::string message(sshsig_magic);
    put_string(message, name_space);
    put_string(message, reserved);
    put_string(message, hash);
    put_string(message, digest(hash, bytes));
    if (!ed25519_verify(raw_key, raw_signature, message))
        fail("bad signature: it does not match the file (key " + known->fingerprint() + ")");
    return known->fingerprint() + (known->comment.empty() ? "" : " (" + known->comment + ")");
}

TrustVerdict judge_trust(const TrustPolicy &policy, std::span<const std::byte> bytes,
                         const std::string &sha256, const std::string *signature) {
    switch (policy.mode) {
    case TrustMode::allow_all:
        return {true, "allow-all"};
    case TrustMode::digest:
        if (std::find(policy.digests.begin(), policy.digests.end(), sha256) != policy.digests.end())
            return {true, "digest listed"};
        return {false, "digest " + sha256 + " is not in the trusted list"};
    case TrustMode::signature:
        if (!signature)
            return {false, "unsigned (no .sig file next to it)"};
        try {
            return {true,
                    "signed by " + verify_driver_signature(bytes, *signature, policy.public_keys)};
        } catch (const std::invalid_argument &e) {
            return {false, e.what()};
        }
    }
    return {false, "unknown trust policy"};
}

} // namespace cloudhost
