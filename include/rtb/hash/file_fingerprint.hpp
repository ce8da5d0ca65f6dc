// rtb::file_fingerprint: what a file held when a tag hashed it, small and fast
// to recompute: the number of bytes and their XXH3-128. The context stream
// recomputes it from the bytes it sends, so an image never holds other bytes
// than the ones its tags hashed (see hashed_files.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fmt/core.h>

#include "rtb/hash/digest.hpp"

namespace rtb {

/// A file's size and the XXH3-128 of its bytes, both from one read.
struct file_fingerprint {
    std::uint64_t size = 0;
    digest xxh3;

    friend bool operator==(const file_fingerprint& a, const file_fingerprint& b) noexcept {
        return a.size == b.size && a.xxh3 == b.xxh3;
    }
};

/// How the bytes sent differ from the bytes hashed, for an error message
/// ("hashed 9 bytes, sent 20"), or nothing when they are the same. Pure.
inline std::optional<std::string> fingerprint_difference(const file_fingerprint& hashed, const file_fingerprint& sent) {
    if (hashed.size != sent.size) return fmt::format("hashed {} bytes, sent {}", hashed.size, sent.size);
    if (!(hashed.xxh3 == sent.xxh3)) return fmt::format("hashed {} bytes, sent {} with other content", hashed.size, sent.size);
    return std::nullopt;
}

}  // namespace rtb
