// The rtb program's own small helpers for files and flag values: an owned
// file descriptor, errors that name the path, and a flag value refused by
// name. (The library's internals stay its own.)
#pragma once

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <unistd.h>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/json_text.hpp"
#include "rtb/text.hpp"

namespace rtb::cli {

/// An io_error that says what failed on which path.
[[noreturn]] inline void throw_io(std::string_view what, std::string_view path, int err = errno) {
    throw error(errc::io_error, fmt::format("cannot {} {}: {}", what, printable(path), std::strerror(err)));
}

/// A flag's value refused: `--memory "12q" is not a size...`, quoted as the
/// library's own flag errors are (rtb/resources.hpp), cut at 80 bytes.
[[noreturn]] inline void bad_value(std::string_view option, std::string_view text, std::string_view why) {
    const auto shown = text.size() <= 80 ? json_quote(text)
                                         : fmt::format("{}... ({} bytes)", json_quote(text.substr(0, 80)), text.size());
    throw error(errc::invalid_argument, fmt::format("{} {} {}", option, shown, why));
}

/// Owns a file descriptor (closed when it goes).
class file_descriptor {
public:
    file_descriptor() noexcept = default;
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    file_descriptor(file_descriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    file_descriptor& operator=(file_descriptor&& o) noexcept {
        if (this != &o) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

}  // namespace rtb::cli
