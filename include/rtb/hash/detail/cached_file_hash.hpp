// One file's digest in a tree hash: from the stat cache when it proves the
// file unchanged, else read (and then remembered). When the caller wants the
// file's fingerprint as well, the cache keeps it after the digest, so a warm
// cache still reads nothing.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "rtb/hash/digest.hpp"
#include "rtb/hash/file_fingerprint.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/stat_cache.hpp"

namespace rtb::detail {

/// A cached value: the digest, then (when the run recorded fingerprints and
/// both fit in a digest) the fingerprint's 16-byte XXH3.
struct cached_parts {
    digest value;
    std::optional<digest> xxh3;
};

/// Splits a cached value for an algorithm whose digests have `digest_bytes`
/// bytes; nothing when it is neither a digest nor a digest and an XXH3. Pure.
inline std::optional<cached_parts> split_cached_value(const digest& cached, std::size_t digest_bytes) {
    const auto b = cached.bytes();
    if (b.size() == digest_bytes) return cached_parts{cached, std::nullopt};
    if (b.size() == digest_bytes + 16)
        return cached_parts{digest(b.first(digest_bytes)), digest(b.subspan(digest_bytes))};
    return std::nullopt;
}

/// The value to cache: the digest, followed by the fingerprint's XXH3 when
/// there is one and both fit. Pure.
inline digest cached_value(const digest& value, const file_fingerprint* fingerprint) {
    if (!fingerprint || value.size() + fingerprint->xxh3.size() > digest::max_size) return value;
    std::array<std::uint8_t, digest::max_size> joined{};
    const auto a = value.bytes();
    const auto x = fingerprint->xxh3.bytes();
    std::copy(a.begin(), a.end(), joined.begin());
    std::copy(x.begin(), x.end(), joined.begin() + static_cast<std::ptrdiff_t>(a.size()));
    return digest(std::span<const std::uint8_t>(joined.data(), a.size() + x.size()));
}

/// The digest of `name` in `dirfd` (`display` names it in errors; links
/// followed unless `nofollow`). With a cache and the file's `stamp`, a
/// trusted entry answers without reading. With `fingerprint`, it receives
/// the size and XXH3-128 of exactly the bytes the digest covers: read in the
/// same pass, or kept in the cache beside the digest (an entry without one
/// is read again).
inline digest cached_file_digest(int dirfd, const char* name, std::string_view display, bool nofollow,
                                 hash_algorithm algorithm, stat_cache* cache, std::string_view relative,
                                 const file_stamp* stamp, file_fingerprint* fingerprint) {
    const bool same = algorithm == hash_algorithm::xxh3_128;  // the digest is the fingerprint's XXH3
    if (cache && stamp) {
        if (const auto hit = cache->lookup(relative, *stamp)) {
            if (const auto parts = split_cached_value(*hit, digest_size(algorithm))) {
                if (!fingerprint) return parts->value;
                if (parts->xxh3 || same) {
                    *fingerprint = {stamp->size, parts->xxh3 ? *parts->xxh3 : parts->value};
                    return parts->value;
                }
            }
        }
    }
    digest value;
    if (fingerprint) {
        const auto r = hash_file_at_fingerprinted(dirfd, name, algorithm, display, nofollow);
        value = r.value;
        *fingerprint = r.fingerprint;
    } else {
        value = hash_file_at(dirfd, name, algorithm, display, nofollow);
    }
    if (cache && stamp) cache->record(relative, *stamp, cached_value(value, fingerprint && !same ? fingerprint : nullptr));
    return value;
}

}  // namespace rtb::detail
