// Scanning text for runs of plain printable ASCII, 8 bytes at a time: the
// JSON writer and the event text writer copy such runs whole. Internal.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rtb::detail {

/// How many of the first bytes of [p, end) are printable ASCII (0x20-0x7e)
/// other than `not1` and `not2` (0: none), found 8 bytes at a time (engine text is
/// mostly such runs; a byte at a time, the scan cost more than the copy).
/// A tab or any other byte stops the run: callers look at it themselves.
inline std::size_t printable_run(const char* p, const char* end, unsigned char not1, unsigned char not2) noexcept {
    const char* const start = p;
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
        const std::uint64_t m1 = ones * not1, m2 = ones * not2;
        auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & highs; };
        while (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            // below 0x20; 0x7f and up; not1; not2 (the lowest flagged byte is exact)
            const std::uint64_t stop = ((w - ones * 0x20) & ~w & highs) | ((((w & ~highs) + ones) | w) & highs) |
                                       zero_byte(w ^ m1) | zero_byte(w ^ m2);
            if (stop) return static_cast<std::size_t>(p - start) + static_cast<std::size_t>(std::countr_zero(stop) / 8);
            p += 8;
        }
    }
    while (p < end) {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c >= 0x7f || c == not1 || c == not2) break;
        ++p;
    }
    return static_cast<std::size_t>(p - start);
}

}  // namespace rtb::detail
