// Build ids of the Runtime API server: "b-" and 32 lowercase hex digits, 128
// bits from the kernel's CSPRNG (getrandom(2)). An id is the only handle on
// a build, so it must not be guessable from others (no counter, no seeded
// generator); the owner check is the second line of defence.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <sys/random.h>

#include "rtb/error.hpp"

namespace rtb::serve {

/// Bits of randomness in a build id.
inline constexpr std::size_t build_id_bits = 128;

/// A new build id: "b-" + 32 hex digits from getrandom(2). Throws io_error
/// if the kernel cannot supply random bytes.
inline std::string new_build_id();

/// Whether `id` has the shape new_build_id() gives (a cheap refusal of
/// anything else before a lookup).
inline bool is_build_id(std::string_view id) noexcept;

// ---------------------------------------------------------------------------

namespace detail {

/// Fills `out` from getrandom(2), retrying on EINTR and short reads.
inline void random_bytes(std::span<std::uint8_t> out) {
    std::size_t have = 0;
    while (have < out.size()) {
        const auto n = ::getrandom(out.data() + have, out.size() - have, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw error(errc::io_error, "cannot read random bytes from the kernel (getrandom failed)");
        }
        have += static_cast<std::size_t>(n);
    }
}

}  // namespace detail

inline std::string new_build_id() {
    std::array<std::uint8_t, build_id_bits / 8> bytes{};
    detail::random_bytes(bytes);
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "b-";
    for (const auto b : bytes) {
        id += hex[b >> 4];
        id += hex[b & 0xf];
    }
    return id;
}

inline bool is_build_id(std::string_view id) noexcept {
    if (id.size() != 2 + build_id_bits / 4 || !id.starts_with("b-")) return false;
    for (const char c : id.substr(2))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace rtb::serve
