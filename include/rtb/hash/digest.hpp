// rtb::digest: a hash value of up to 64 bytes, its algorithm, and hex output.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "rtb/error.hpp"

namespace rtb {

/// The hash functions rtb computes. xxh3_128 is the fast default for rtb's own
/// digests; md5 and the SHA family serve the Dirhash Standard and OpenHands.
enum class hash_algorithm : std::uint8_t { xxh3_128, md5, sha1, sha224, sha256, sha384, sha512 };

constexpr std::string_view to_string(hash_algorithm a) noexcept {
    switch (a) {
        case hash_algorithm::xxh3_128: return "xxh3";
        case hash_algorithm::md5: return "md5";
        case hash_algorithm::sha1: return "sha1";
        case hash_algorithm::sha224: return "sha224";
        case hash_algorithm::sha256: return "sha256";
        case hash_algorithm::sha384: return "sha384";
        case hash_algorithm::sha512: return "sha512";
    }
    return "?";
}

/// Digest size in bytes.
constexpr std::size_t digest_size(hash_algorithm a) noexcept {
    switch (a) {
        case hash_algorithm::xxh3_128: return 16;
        case hash_algorithm::md5: return 16;
        case hash_algorithm::sha1: return 20;
        case hash_algorithm::sha224: return 28;
        case hash_algorithm::sha256: return 32;
        case hash_algorithm::sha384: return 48;
        case hash_algorithm::sha512: return 64;
    }
    return 0;
}

/// Parses "xxh3" (or "xxh3_128", "xxh128"), "md5", "sha1", "sha224", "sha256",
/// "sha384", "sha512"; throws invalid_argument naming the accepted names.
inline hash_algorithm parse_hash_algorithm(std::string_view name) {
    if (name == "xxh3" || name == "xxh3_128" || name == "xxh128") return hash_algorithm::xxh3_128;
    for (auto a : {hash_algorithm::md5, hash_algorithm::sha1, hash_algorithm::sha224, hash_algorithm::sha256,
                   hash_algorithm::sha384, hash_algorithm::sha512})
        if (name == to_string(a)) return a;
    throw error(errc::invalid_argument,
                fmt::format("unknown hash algorithm \"{}\": use one of xxh3, md5, sha1, sha224, sha256, sha384, sha512",
                            name));
}

/// A hash value. Small and trivially copyable; compares bytewise.
class digest {
public:
    static constexpr std::size_t max_size = 64;

    constexpr digest() noexcept = default;
    explicit digest(std::span<const std::uint8_t> bytes) noexcept
        : size_(static_cast<std::uint8_t>(std::min(bytes.size(), max_size))) {
        std::copy_n(bytes.begin(), size_, bytes_.begin());
    }

    std::span<const std::uint8_t> bytes() const noexcept { return {bytes_.data(), size_}; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    /// Lowercase hexadecimal, as hashlib's hexdigest().
    std::string hex() const {
        static constexpr char digits[] = "0123456789abcdef";
        std::string s(2 * size_, '\0');
        for (std::size_t i = 0; i < size_; ++i) {
            s[2 * i] = digits[bytes_[i] >> 4];
            s[2 * i + 1] = digits[bytes_[i] & 0xf];
        }
        return s;
    }

    friend bool operator==(const digest& a, const digest& b) noexcept {
        return a.size_ == b.size_ && std::equal(a.bytes_.begin(), a.bytes_.begin() + a.size_, b.bytes_.begin());
    }

private:
    std::array<std::uint8_t, max_size> bytes_{};
    std::uint8_t size_ = 0;
};

}  // namespace rtb
