// Where rtb serve listens: `--listen HOST:PORT` (a numeric address or
// localhost; a name only with --allow-non-loopback, since what a name
// resolves to can change), `--listen fd:N` (a listening socket handed over
// by whoever started the server), or systemd-style socket activation
// (LISTEN_PID/LISTEN_FDS: fd 3). The loopback check is made on the address
// that is actually bound (or, for a handed-over socket, the one it is bound
// to), never on the text.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb::serve {

/// What --listen names.
struct listen_spec {
    std::string host;  ///< an address form: the host ("::1" without brackets)
    int port = 0;      ///< 0: any free port
    int fd = -1;       ///< fd:N: an inherited listening socket
};

/// Parses "HOST:PORT", "[IPV6]:PORT" or "fd:N". Throws invalid_argument.
inline listen_spec parse_listen(std::string_view text);

/// The socket systemd-style activation hands this process: fd 3 when
/// `listen_pid` is `pid` and `listen_fds` is 1; std::nullopt when the
/// variables are absent or name another process (they were inherited).
/// Throws invalid_argument for values that cannot be meant (LISTEN_FDS of 2
/// or more: rtb serve takes one socket). Pure.
inline std::optional<int> activation_fd(const char* listen_pid, const char* listen_fds, pid_t pid);

/// Whether an address is a loopback address (127.0.0.0/8, ::1, or an
/// IPv4-mapped 127.x.y.z).
inline bool is_loopback(const sockaddr* a) noexcept;

/// A bound or to-be-bound address.
struct socket_address {
    sockaddr_storage storage{};
    socklen_t length = 0;
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    /// "127.0.0.1:8000", "[::1]:8000".
    std::string str() const;
    int port() const noexcept;
};

/// The address `spec` binds: a numeric address as written, "localhost" as
/// 127.0.0.1, any other name only when `allow_non_loopback` (resolved
/// then). Refuses (invalid_argument, "not a loopback address") whatever
/// would bind beyond loopback unless `allow_non_loopback`.
inline socket_address listen_address(const listen_spec& spec, bool allow_non_loopback);

/// A listening TCP socket bound to `a` (close-on-exec, SO_REUSEADDR).
inline rtb::detail::unique_fd open_listener(const socket_address& a, int backlog = 1024);

/// Checks a handed-over socket: a listening TCP stream socket, bound to
/// loopback unless `allow_non_loopback`; makes it close-on-exec. Returns the
/// address it is bound to.
inline socket_address check_inherited_listener(int fd, bool allow_non_loopback);

// ---------------------------------------------------------------------------

inline listen_spec parse_listen(std::string_view text) {
    auto bad = [&](std::string_view why) -> void {
        throw error(errc::invalid_argument, fmt::format("--listen {}: {}", rtb::detail::printable(text), why));
    };
    auto number = [&](std::string_view s, int max, std::string_view what) {
        int v = 0;
        if (s.empty() || s.size() > 9) bad(fmt::format("{} is not a number", what));
        for (const char c : s) {
            if (c < '0' || c > '9') bad(fmt::format("{} is not a number", what));
            v = v * 10 + (c - '0');
        }
        if (v > max) bad(fmt::format("{} is larger than {}", what, max));
        return v;
    };
    listen_spec s;
    if (text.starts_with("fd:")) {
        s.fd = number(text.substr(3), 1 << 20, "the file descriptor");
        if (s.fd < 3) bad("fd 0, 1 and 2 are standard input, output and error, not a listening socket");
        return s;
    }
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        bad("is not HOST:PORT (e.g. 127.0.0.1:8000) or fd:N (a listening socket handed to rtb serve)");
    auto host = text.substr(0, colon);
    if (host.starts_with('[')) {
        if (!host.ends_with(']') || host.size() < 3) bad("an IPv6 address is written [ADDRESS]:PORT");
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        bad("an IPv6 address is written [ADDRESS]:PORT");
    }
    s.host = std::string(host);
    s.port = number(text.substr(colon + 1), 65535, "the port");
    return s;
}

inline std::optional<int> activation_fd(const char* listen_pid, const char* listen_fds, pid_t pid) {
    if (!listen_pid || !listen_fds || !*listen_pid || !*listen_fds) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long named = std::strtol(listen_pid, &end, 10);
    if (errno != 0 || *end != '\0' || named != static_cast<long>(pid)) return std::nullopt;
    const long count = std::strtol(listen_fds, &end, 10);
    if (*end != '\0' || count < 1)
        throw error(errc::invalid_argument,
                    fmt::format("LISTEN_FDS={} names no socket (socket activation hands over 1)",
                                rtb::detail::printable(listen_fds)));
    if (count > 1)
        throw error(errc::invalid_argument,
                    fmt::format("LISTEN_FDS={}: rtb serve takes one listening socket (fd 3)",
                                rtb::detail::printable(listen_fds)));
    return 3;
}

inline bool is_loopback(const sockaddr* a) noexcept {
    if (a->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(a);
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a);
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

inline std::string socket_address::str() const {
    char text[INET6_ADDRSTRLEN] = "";
    if (storage.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return fmt::format("{}:{}", text, ntohs(in->sin_port));
    }
    if (storage.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
    }
    return "(not an IP address)";
}

inline int socket_address::port() const noexcept {
    if (storage.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    if (storage.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return 0;
}

inline socket_address listen_address(const listen_spec& spec, bool allow_non_loopback) {
    socket_address out;
    const auto shown = rtb::detail::printable(spec.host);
    auto not_loopback = [&](std::string_view why) -> void {
        throw error(errc::invalid_argument,
                    fmt::format("refusing to listen on {}: not a loopback address ({}; the service would be "
                                "reachable from other machines: ask for it with --allow-non-loopback)",
                                shown, why));
    };
    auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    const std::string host = spec.host == "localhost" ? "127.0.0.1" : spec.host;
    if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(static_cast<std::uint16_t>(spec.port));
        out.length = sizeof(sockaddr_in);
    } else if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<std::uint16_t>(spec.port));
        out.length = sizeof(sockaddr_in6);
    } else {
        // A name: what it resolves to is not ours to vouch for (DNS can
        // answer 127.0.0.1 today and anything tomorrow).
        if (!allow_non_loopback) not_loopback("a host name other than localhost");
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
        addrinfo* found = nullptr;
        const auto port = std::to_string(spec.port);
        if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0 || !found)
            throw error(errc::invalid_argument,
                        fmt::format("--listen {}: cannot resolve it: {}", shown, ::gai_strerror(rc)));
        std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
        out.length = found->ai_addrlen;
        ::freeaddrinfo(found);
        return out;
    }
    if (!allow_non_loopback && !is_loopback(out.get())) not_loopback("it is not in 127.0.0.0/8 or ::1");
    return out;
}

inline rtb::detail::unique_fd open_listener(const socket_address& a, int backlog) {
    rtb::detail::unique_fd fd(::socket(a.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw error(errc::io_error, fmt::format("cannot create a socket: {}", std::strerror(errno)));
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.storage.ss_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), a.get(), a.length) != 0)
        throw error(errc::io_error, fmt::format("cannot listen on {}: {} (in use, or not an address of this machine)",
                                                a.str(), std::strerror(errno)));
    if (::listen(fd.get(), backlog) != 0)
        throw error(errc::io_error, fmt::format("cannot listen on {}: {}", a.str(), std::strerror(errno)));
    return fd;
}

inline socket_address check_inherited_listener(int fd, bool allow_non_loopback) {
    auto bad = [&](std::string_view why) -> void {
        throw error(errc::invalid_argument, fmt::format("fd {} {}", fd, why));
    };
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        bad(fmt::format("is not a socket ({}); hand rtb serve a listening TCP socket", std::strerror(errno)));
    len = sizeof listening;
    if (type != SOCK_STREAM || ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        bad("is not a listening stream socket");
    socket_address a;
    a.length = sizeof a.storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0)
        bad(fmt::format("has no address: {}", std::strerror(errno)));
    if (a.storage.ss_family != AF_INET && a.storage.ss_family != AF_INET6) bad("is not a TCP (IPv4 or IPv6) socket");
    if (!allow_non_loopback && !is_loopback(a.get()))
        throw error(errc::invalid_argument,
                    fmt::format("refusing to serve on fd {}: not a loopback address (it is bound to {}; the service "
                                "would be reachable from other machines: ask for it with --allow-non-loopback)",
                                fd, a.str()));
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) bad(fmt::format("cannot be made close-on-exec: {}", std::strerror(errno)));
    return a;
}

}  // namespace rtb::serve
