// Streaming hashers behind one small interface: XXH3-128 (xxHash) and the
// OpenSSL EVP digests (MD5, SHA-1, SHA-2; EVP picks SHA-NI where the CPU has it).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <variant>

#include <openssl/evp.h>
#include <xxhash.h>

#include "rtb/error.hpp"
#include "rtb/hash/digest.hpp"

namespace rtb {

/// Hasher: consumes bytes in any number of update() calls and produces a
/// digest. finish() leaves the hasher ready for reuse, so one hasher can hash
/// many files without reallocating.
template <class H>
concept Hasher = requires(H& h, std::span<const std::byte> bytes) {
    h.update(bytes);
    { h.finish() } -> std::same_as<digest>;
};

/// XXH3 with 128-bit output (canonical big-endian bytes, as xxhsum prints).
class xxh3_128_hasher {
public:
    xxh3_128_hasher() : state_(XXH3_createState()) {
        if (!state_) throw std::bad_alloc();
        XXH3_128bits_reset(state_.get());
    }
    void update(std::span<const std::byte> bytes) noexcept {
        XXH3_128bits_update(state_.get(), bytes.data(), bytes.size());
    }
    digest finish() noexcept {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(state_.get()));
        XXH3_128bits_reset(state_.get());
        return digest({c.digest, sizeof c.digest});
    }
    /// One-shot hash of a buffer (no state needed).
    static digest of(std::span<const std::byte> bytes) noexcept {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(bytes.data(), bytes.size()));
        return digest({c.digest, sizeof c.digest});
    }

private:
    struct free_state {
        void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
    };
    std::unique_ptr<XXH3_state_t, free_state> state_;
};

/// An OpenSSL EVP digest (md5, sha1, sha224, sha256, sha384, sha512).
class evp_hasher {
public:
    explicit evp_hasher(hash_algorithm a) : md_(fetch(a)), ctx_(EVP_MD_CTX_new()) {
        if (!ctx_) throw std::bad_alloc();
        init();
    }
    void update(std::span<const std::byte> bytes) noexcept { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
    digest finish() {
        std::uint8_t out[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(ctx_.get(), out, &n) != 1)
            throw error(errc::io_error, "OpenSSL failed to finish a digest");
        init();
        return digest({out, n});
    }

private:
    static const EVP_MD* fetch(hash_algorithm a) {
        // Fetched once per algorithm: implicit fetches in every init are slow in OpenSSL 3.
        auto get = [](const char* name) {
            const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
            if (!md) throw error(errc::unsupported_version, fmt::format("OpenSSL does not provide {}", name));
            return md;
        };
        switch (a) {
            case hash_algorithm::md5: { static const EVP_MD* md = get("MD5"); return md; }
            case hash_algorithm::sha1: { static const EVP_MD* md = get("SHA1"); return md; }
            case hash_algorithm::sha224: { static const EVP_MD* md = get("SHA224"); return md; }
            case hash_algorithm::sha256: { static const EVP_MD* md = get("SHA256"); return md; }
            case hash_algorithm::sha384: { static const EVP_MD* md = get("SHA384"); return md; }
            case hash_algorithm::sha512: { static const EVP_MD* md = get("SHA512"); return md; }
            case hash_algorithm::xxh3_128: break;
        }
        throw error(errc::invalid_argument, fmt::format("{} is not an OpenSSL digest", to_string(a)));
    }
    void init() {
        if (EVP_DigestInit_ex2(ctx_.get(), md_, nullptr) != 1)
            throw error(errc::io_error, "OpenSSL failed to start a digest");
    }
    struct free_ctx {
        void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
    };
    const EVP_MD* md_;
    std::unique_ptr<EVP_MD_CTX, free_ctx> ctx_;
};

/// A hasher chosen at run time (the CLI's --algorithm).
class any_hasher {
public:
    explicit any_hasher(hash_algorithm a) : algorithm_(a), impl_(make(a)) {}
    hash_algorithm algorithm() const noexcept { return algorithm_; }
    void update(std::span<const std::byte> bytes) {
        std::visit([&](auto& h) { h.update(bytes); }, impl_);
    }
    void update(std::string_view s) { update(std::as_bytes(std::span(s.data(), s.size()))); }
    digest finish() {
        return std::visit([](auto& h) { return h.finish(); }, impl_);
    }

private:
    using impl = std::variant<xxh3_128_hasher, evp_hasher>;
    static impl make(hash_algorithm a) {
        if (a == hash_algorithm::xxh3_128) return xxh3_128_hasher{};
        return evp_hasher{a};
    }
    hash_algorithm algorithm_;
    impl impl_;
};

static_assert(Hasher<xxh3_128_hasher> && Hasher<evp_hasher> && Hasher<any_hasher>);

/// Hashes a byte string in one go.
inline digest hash_bytes(hash_algorithm a, std::string_view bytes) {
    if (a == hash_algorithm::xxh3_128) return xxh3_128_hasher::of(std::as_bytes(std::span(bytes.data(), bytes.size())));
    any_hasher h(a);
    h.update(bytes);
    return h.finish();
}

}  // namespace rtb
