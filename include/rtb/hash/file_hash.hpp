// Hashing one file's content: streamed through a bounded per-thread buffer,
// so a multi-gigabyte file costs no more memory than a small one.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "rtb/detail/posix.hpp"
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

/// Hashes everything readable from `fd` with `algorithm`. `display_path`
/// names the file in errors.
inline digest hash_fd(int fd, hash_algorithm algorithm, std::string_view display_path) {
    const auto buffer = detail::thread_read_buffer();
    std::size_t filled = 0;
    auto read_some = [&](std::span<std::byte> into) -> std::size_t {
        while (true) {
            const auto n = ::read(fd, into.data(), into.size());
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) detail::throw_io("read", display_path);
        }
    };
    // Small files (the common case) are hashed in one shot from one read.
    while (filled < buffer.size()) {
        const auto n = read_some(buffer.subspan(filled));
        if (n == 0) return hash_bytes(algorithm, {reinterpret_cast<const char*>(buffer.data()), filled});
        filled += n;
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    any_hasher h(algorithm);
    h.update(buffer.first(filled));
    while (const auto n = read_some(buffer)) h.update(buffer.first(n));
    return h.finish();
}

/// Opens `path` relative to `dirfd` (following symlinks unless `nofollow`)
/// and hashes it; fills `st` with the opened file's stat when given.
inline digest hash_file_at(int dirfd, const char* path, hash_algorithm algorithm, std::string_view display_path,
                           bool nofollow = false) {
    detail::unique_fd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0)));
    if (!fd) detail::throw_io("open", display_path);
    return hash_fd(fd.get(), algorithm, display_path);
}

}  // namespace rtb
