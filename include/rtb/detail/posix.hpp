// Small RAII wrappers over POSIX file descriptors and directory streams, and
// error helpers that name the path involved. Internal.
#pragma once

#include <cerrno>
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

namespace rtb::detail {

/// A path or name as it can be shown to a person: printable ASCII and UTF-8
/// kept, control bytes and invalid bytes escaped, quoted.
inline std::string printable(std::string_view s) {
    std::string out = "'";
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\'' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
        else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else if (c < 0x80) out += static_cast<char>(c);
        else {
            // keep a well-formed UTF-8 sequence, escape anything else
            std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
            bool ok = len && i + len <= s.size();
            for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
            if (ok) { out.append(s.substr(i, len)); i += len - 1; }
            else out += fmt::format("\\x{:02x}", c);
        }
    }
    return out + "'";
}

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
