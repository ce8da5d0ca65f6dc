// Small RAII wrappers over POSIX file descriptors and directory streams, and
// error helpers that name the path involved. Internal.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/text.hpp"

namespace rtb::detail {

using rtb::printable;  // rtb/text.hpp


/// An io_error that names the path and says what failed.
[[noreturn]] inline void throw_io(std::string_view what, std::string_view path, int err = errno) {
    throw error(errc::io_error, fmt::format("cannot {} {}: {}", what, printable(path), std::strerror(err)));
}

/// Owns a file descriptor.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~unique_fd() { reset(); }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

/// Writes all `size` bytes of `data` to `fd`, again after a short write or
/// EINTR. Returns 0, or the errno of the write that failed (the caller
/// decides whether that throws, and cleans up first).
inline int write_all(int fd, const void* data, std::size_t size) noexcept {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const auto n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;  // no progress and no error: not a file that can be written
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return 0;
}

/// Owns a DIR* opened from a descriptor.
class dir_stream {
public:
    /// Opens directory `name` relative to `dirfd` without following a final symlink
    /// unless `follow` is set. Returns an empty stream and sets errno on failure.
    static dir_stream open_at(int dirfd, const char* name, bool follow = false) noexcept {
        const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
        const int fd = ::openat(dirfd, name, flags);
        if (fd < 0) return {};
        DIR* d = ::fdopendir(fd);
        if (!d) {
            const int e = errno;
            ::close(fd);
            errno = e;
            return {};
        }
        return dir_stream(d);
    }
    dir_stream() noexcept = default;
    dir_stream(dir_stream&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
    dir_stream& operator=(dir_stream&& o) noexcept {
        if (this != &o) {
            if (d_) ::closedir(d_);
            d_ = std::exchange(o.d_, nullptr);
        }
        return *this;
    }
    ~dir_stream() {
        if (d_) ::closedir(d_);
    }
    explicit operator bool() const noexcept { return d_ != nullptr; }
    int fd() const noexcept { return ::dirfd(d_); }
    /// Next entry other than "." and ".."; nullptr at the end (errno != 0 on error).
    const dirent* next() noexcept {
        while (true) {
            errno = 0;
            const dirent* e = ::readdir(d_);
            if (!e) return nullptr;
            const char* n = e->d_name;
            if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
            return e;
        }
    }

private:
    explicit dir_stream(DIR* d) noexcept : d_(d) {}
    DIR* d_ = nullptr;
};

/// Joins a relative path and a name with '/' ("" + "a" == "a").
inline std::string join_rel(std::string_view dir, std::string_view name) {
    if (dir.empty()) return std::string(name);
    std::string s;
    s.reserve(dir.size() + 1 + name.size());
    s.append(dir).append(1, '/').append(name);
    return s;
}

}  // namespace rtb::detail
