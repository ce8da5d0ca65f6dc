// What rtb serve's HTTP layer allows a peer, and the deadlines it sets: the
// numbers behind "every byte from a socket is hostile until checked". A peer
// may take at most header_timeout for a whole request head (set once, not
// renewed by each byte), must then keep its body coming at min_body_rate on
// average after a grace period, may sit idle between requests for
// idle_timeout, and holds at most max_connections_per_address of
// max_connections connections. Pure: the decisions are functions of these
// numbers, tested without sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "rtb/error.hpp"

namespace rtb::serve {

struct http_limits {
    std::uint32_t max_header_bytes = 16 * 1024;  ///< request line and every header field together
    std::size_t max_header_fields = 64;          ///< header lines in one request
    std::uint64_t max_small_body = 16 * 1024;    ///< the body of every request but an upload
    std::chrono::milliseconds header_timeout{10'000};  ///< a whole request head, from its first byte
    std::chrono::milliseconds idle_timeout{60'000};    ///< a kept-alive connection between requests
    std::chrono::milliseconds body_grace{10'000};      ///< before min_body_rate applies
    std::uint64_t min_body_rate = 16 * 1024;           ///< bytes per second, on average, after the grace
    std::chrono::milliseconds write_timeout{30'000};   ///< writing one answer
    std::chrono::milliseconds linger{5'000};  ///< draining (unread, never parsed) after an early answer ...
    std::uint64_t max_linger_bytes = std::uint64_t{64} << 20;  ///< ... at most this much
    std::size_t max_connections = 1024;
    std::size_t max_connections_per_address = 256;
};

/// Throws invalid_argument when a limit makes no sense (zero where a zero
/// would refuse everything, a rate of 0).
inline void validate(const http_limits& l) {
    auto bad = [](std::string_view what) { throw error(errc::invalid_argument, std::string(what)); };
    if (l.max_header_bytes < 1024) bad("the header limit must be at least 1024 bytes");
    if (l.max_header_fields < 8) bad("the header field limit must be at least 8");
    if (l.header_timeout.count() <= 0 || l.idle_timeout.count() <= 0 || l.write_timeout.count() <= 0)
        bad("HTTP timeouts must be positive");
    if (l.min_body_rate < 1) bad("the minimum body rate must be at least 1 byte per second");
    if (l.max_connections < 1 || l.max_connections_per_address < 1) bad("connection limits must be at least 1");
}

/// When reading a body must have got further than `received` bytes: the
/// grace after the body started, plus the time `received` bytes take at the
/// minimum rate. Each byte buys only 1/min_body_rate seconds, so a peer that
/// trickles is cut off once it falls behind; one that keeps the rate may
/// send its whole (bounded) body.
inline std::chrono::steady_clock::time_point body_deadline(std::chrono::steady_clock::time_point started,
                                                           std::uint64_t received, const http_limits& l) {
    const auto earned = std::chrono::microseconds(
        static_cast<std::int64_t>(static_cast<long double>(received) * 1e6L / static_cast<long double>(l.min_body_rate)));
    return started + l.body_grace + earned;
}

/// Whether a new connection from an address that holds `from_address`
/// connections may be taken while `open` are open: nullptr when it may,
/// else the reason (fixed words, a metric label).
inline const char* connection_refusal(std::size_t open, std::size_t from_address, const http_limits& l) noexcept {
    if (open >= l.max_connections) return "connection_limit";
    if (from_address >= l.max_connections_per_address) return "address_limit";
    return nullptr;
}

}  // namespace rtb::serve
