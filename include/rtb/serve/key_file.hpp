// Reading rtb serve's API key file as ssh reads a private key: it must be a
// regular file that only its owner can read or write (a key file others can
// read gives their keys away; one they can write lets them add a key), owned
// by the user the server runs as or by root, and it is read with a size
// limit (`--api-key-file /dev/zero` fails at once, never reads forever).
#pragma once

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb::serve {

/// A key file larger than this is refused unread past it.
inline constexpr std::size_t max_key_file = std::size_t{1} << 20;

/// Why a key file of this type, mode and owner must not be used (`path` for
/// the message, `euid` the server's user), or std::nullopt. Pure.
inline std::optional<std::string> key_file_problem(std::string_view path, mode_t mode, uid_t owner, uid_t euid) {
    const auto shown = rtb::detail::printable(path);
    if (!S_ISREG(mode))
        return fmt::format("the API key file {} is not a regular file (a device, FIFO or folder cannot hold keys)",
                           shown);
    if ((mode & 077) != 0)
        return fmt::format("the API key file {} can be read or written by group or others (mode {:04o}); it holds "
                           "secrets: run chmod 600 {}",
                           shown, mode & 07777, shown);
    if (owner != euid && owner != 0)
        return fmt::format("the API key file {} belongs to uid {}, neither the user rtb serve runs as (uid {}) nor "
                           "root: anyone who owns it can change the keys; chown it",
                           shown, owner, euid);
    return std::nullopt;
}

/// The key file's text, after key_file_problem() found nothing wrong with
/// the file opened (no race between the check and the read). Throws
/// invalid_argument (a file refused) or io_error (cannot be read).
inline std::string read_key_file(const std::string& path, std::size_t max = max_key_file) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    rtb::detail::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) rtb::detail::throw_io("open the API key file", path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) rtb::detail::throw_io("inspect the API key file", path);
    if (const auto problem = key_file_problem(path, st.st_mode, st.st_uid, ::geteuid()))
        throw error(errc::invalid_argument, *problem);
    std::string text;
    char buffer[16 * 1024];
    while (true) {
        const auto n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            rtb::detail::throw_io("read the API key file", path);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > max)
            throw error(errc::invalid_argument, fmt::format("the API key file {} is larger than {} bytes",
                                                            rtb::detail::printable(path), max));
    }
    return text;
}

}  // namespace rtb::serve
