#include "key_fingerprint.hpp"

#include "crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <sstream>
#include <stdexcept>

namespace cloudhost::ec2 {
namespace {

// Reads one SSH wire-format string (uint32 length, bytes).
std::string read_wire_string(const std::string &blob, std::size_t &at) {
    if (blob.size() - at < 4)
        throw std::invalid_argument("public key blob is truncated");
    const auto *p = reinterpret_cast<const unsigned char *>(blob.data() + at);
    const std::size_t len = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                            (std::size_t{p[2]} << 8) | std::size_t{p[3]};
    at += 4;
    if (len > blob.size() - at)
        throw std::invalid_argument("public key blob is truncated");
    std::string out = blob.substr(at, len);
    at += len;
    return out;
}

std::string rsa_spki_der(const std::string &blob) {
    std::size_t at = 0;
    (void)read_wire_string(blob, at); // "ssh-rsa"
    const std::string e = read_wire_string(blob, at), n = read_wire_string(blob, at);
    const auto bn = [](const std::string &bytes) {
        BIGNUM *b = BN_bin2bn(reinterpret_cast<const unsigned char *>(bytes.data()),
                              static_cast<int>(bytes.size()), nullptr);
        if (!b)
            throw std::invalid_argument("bad RSA key number");
        return std::unique_ptr<BIGNUM, decltype(&BN_free)>(b, &BN_free);
    };
    const auto bn_e = bn(e), bn_n = bn(n);
    std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> build(OSSL_PARAM_BLD_new(),
                                                                          &OSSL_PARAM_BLD_free);
    if (!build || !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
        !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
        throw std::runtime_error("OpenSSL: cannot build RSA parameters");
    std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(
        OSSL_PARAM_BLD_to_param(build.get()), &OSSL_PARAM_free);
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), &EVP_PKEY_CTX_free);
    EVP_PKEY *raw = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        throw std::invalid_argument("bad RSA public key");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, &EVP_PKEY_free);
    unsigned char *der = nullptr;
    const int len = i2d_PUBKEY(key.get(), &der);
    if (len <= 0)
        throw std::runtime_error("OpenSSL: cannot encode RSA public key");
    std::string out(reinterpret_cast<const char *>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

} // namespace

KeyFingerprint key_fingerprint(const std::string &public_key) {
    std::istringstream in(public_key);
    std::string type, encoded;
    if (!(in >> type >> encoded))
        throw std::invalid_argument("public key is not \"TYPE BASE64 [COMMENT]\"");
    const std::string blob = base64_decode(encoded);
    std::size_t at = 0;
    if (read_wire_string(blob, at) != type)
        throw std::invalid_argument("public key blob does not match its type " + type);
    KeyFingerprint fp;
    fp.key_type = type;
    if (type == "ssh-rsa") {
        const std::string der = rsa_spki_der(blob);
        fp.primary = hex_with_colons(md5(der));
        fp.lookup_forms = {fp.primary, hex_with_colons(sha1(der))};
    } else {
        const std::string padded = base64_encode(sha256(blob));
        std::string unpadded = padded;
        while (!unpadded.empty() && unpadded.back() == '=')
            unpadded.pop_back();
        fp.primary = padded;
        fp.lookup_forms = {padded, unpadded, "SHA256:" + unpadded, "SHA256:" + padded};
    }
    return fp;
}

std::string key_pair_name(const KeyFingerprint &fingerprint) {
    return "cloudhost-keypair-" + fingerprint.primary;
}

} // namespace cloudhost::ec2
