// Hashing one file's content: streamed through a bounded per-thread buffer,
// so a multi-gigabyte file costs no more memory than a small one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "rtb/detail/posix.hpp"
#include "rtb/hash/file_fingerprint.hpp"
#include "rtb/hash/hasher.hpp"

namespace rtb {

namespace detail {
inline constexpr std::size_t read_buffer_size = std::size_t{1} << 20;

inline std::span<std::byte> thread_read_buffer() {
    thread_local std::unique_ptr<std::byte[]> buffer;
    if (!buffer) buffer = std::make_unique_for_overwrite<std::byte[]>(read_buffer_size);
    return {buffer.get(), read_buffer_size};
}
}  // namespace detail

namespace detail {
/// Reads everything readable from `fd` through the thread's buffer: `whole`
/// gets the content when it fits in one buffer (the common case: hashed in
/// one shot), else `part` gets each piece in order. Returns the byte count.
template <class Whole, class Part>
std::uint64_t read_whole_file(int fd, std::string_view display_path, Whole&& whole, Part&& part) {
    const auto buffer = thread_read_buffer();
    std::size_t filled = 0;
    auto read_some = [&](std::span<std::byte> into) -> std::size_t {
        while (true) {
            const auto n = ::read(fd, into.data(), into.size());
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) throw_io("read", display_path);
        }
    };
    while (filled < buffer.size()) {
        const auto n = read_some(buffer.subspan(filled));
        if (n == 0) {
            whole(std::span<const std::byte>(buffer.first(filled)));
            return filled;
        }
        filled += n;
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::uint64_t total = filled;
    part(std::span<const std::byte>(buffer.first(filled)));
    while (const auto n = read_some(buffer)) {
        part(std::span<const std::byte>(buffer.first(n)));
        total += n;
    }
    return total;
}
}  // namespace detail

/// Hashes everything readable from `fd` with `algorithm`. `display_path`
/// names the file in errors.
inline digest hash_fd(int fd, hash_algorithm algorithm, std::string_view display_path) {
    digest out;
    std::optional<any_hasher> h;
    detail::read_whole_file(
        fd, display_path,
        [&](std::span<const std::byte> b) { out = hash_bytes(algorithm, {reinterpret_cast<const char*>(b.data()), b.size()}); },
        [&](std::span<const std::byte> b) {
            if (!h) h.emplace(algorithm);
            h->update(b);
        });
    return h ? h->finish() : out;
}

/// A file's digest and, from the same read, its fingerprint.
struct fingerprinted_digest {
    digest value;
    file_fingerprint fingerprint;
};

/// Hashes everything readable from `fd` with `algorithm` and fingerprints
/// the same bytes (XXH3-128 and their count): one read, so the fingerprint
/// is of exactly the bytes the digest covers. With xxh3_128 the digest is
/// the fingerprint's; otherwise XXH3 runs beside it (a few percent of MD5's
/// time).
inline fingerprinted_digest hash_fd_fingerprinted(int fd, hash_algorithm algorithm, std::string_view display_path) {
    fingerprinted_digest out;
    const bool same = algorithm == hash_algorithm::xxh3_128;
    std::optional<any_hasher> h;
    std::optional<xxh3_128_hasher> x;
    out.fingerprint.size = detail::read_whole_file(
        fd, display_path,
        [&](std::span<const std::byte> b) {
            out.value = hash_bytes(algorithm, {reinterpret_cast<const char*>(b.data()), b.size()});
            out.fingerprint.xxh3 = same ? out.value : xxh3_128_hasher::of(b);
        },
        [&](std::span<const std::byte> b) {
            if (!h) {
                h.emplace(algorithm);
                if (!same) x.emplace();
            }
            h->update(b);
            if (x) x->update(b);
        });
    if (h) {
        out.value = h->finish();
        out.fingerprint.xxh3 = x ? x->finish() : out.value;
    }
    return out;
}

/// Opens `path` relative to `dirfd` (following symlinks unless `nofollow`)
/// and hashes it; fills `st` with the opened file's stat when given.
inline digest hash_file_at(int dirfd, const char* path, hash_algorithm algorithm, std::string_view display_path,
                           bool nofollow = false) {
    detail::unique_fd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0)));
    if (!fd) detail::throw_io("open", display_path);
    return hash_fd(fd.get(), algorithm, display_path);
}

/// hash_file_at with the fingerprint of the same bytes.
inline fingerprinted_digest hash_file_at_fingerprinted(int dirfd, const char* path, hash_algorithm algorithm,
                                                       std::string_view display_path, bool nofollow = false) {
    detail::unique_fd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0)));
    if (!fd) detail::throw_io("open", display_path);
    return hash_fd_fingerprinted(fd.get(), algorithm, display_path);
}

}  // namespace rtb
