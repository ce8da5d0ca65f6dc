// Walks the blocks of a raw deflate stream without inflating it, to find
// where its final block starts and where the stream ends. libdeflate only
// compresses whole buffers into a stream ending in a final block; the
// parallel gzip needs each piece to end as a non-final block instead, and
// this tells it which bit to clear.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace rtb::detail {

/// Bit positions (from the first byte's least significant bit) in a deflate
/// stream: the final block's BFINAL bit and the bit after its end-of-block code.
struct deflate_final_block {
    std::size_t header_bit = 0;
    std::size_t end_bit = 0;
};

/// Where the final block of `stream` starts and ends, or nothing when the
/// bytes are not exactly one complete, well-formed deflate stream (so a
/// caller never patches what it did not understand).
inline std::optional<deflate_final_block> find_final_block(std::span<const unsigned char> stream);

// ---------------------------------------------------------------------------

namespace deflate_walk {

inline constexpr unsigned primary_bits = 11;

/// A canonical Huffman code: a primary table for codes up to primary_bits
/// long, and counts/symbols for the rare longer ones (decoded bit by bit).
struct code {
    /// (symbol << 10) | (code length << 5) | (code length + the symbol's extra
    /// bits); 0 for longer codes and unused ones.
    std::array<std::uint32_t, 1u << primary_bits> table{};
    std::array<std::uint16_t, 16> counts{};
    std::array<std::uint16_t, 320> symbols{};

    /// False for an over-subscribed code. Incomplete codes are accepted (a
    /// lone distance code is legal); their unused codes fail when met.
    bool build(const std::uint8_t* lengths, unsigned n, const std::uint8_t* extra_bits = nullptr) {
        counts.fill(0);
        for (unsigned s = 0; s < n; ++s) ++counts[lengths[s]];
        counts[0] = 0;
        int left = 1;
        for (unsigned len = 1; len < 16; ++len) {
            left = left * 2 - counts[len];
            if (left < 0) return false;
        }
        std::array<std::uint16_t, 16> offsets{};
        for (unsigned len = 1; len < 15; ++len) offsets[len + 1] = static_cast<std::uint16_t>(offsets[len] + counts[len]);
        for (unsigned s = 0; s < n; ++s)
            if (lengths[s]) symbols[offsets[lengths[s]]++] = static_cast<std::uint16_t>(s);
        table.fill(0);
        // canonical codes, in order of (length, symbol), bit-reversed for an LSB-first reader
        unsigned next = 0, index = 0;
        for (unsigned len = 1; len <= primary_bits; ++len) {
            for (unsigned k = 0; k < counts[len]; ++k, ++next, ++index) {
                unsigned rev = 0;
                for (unsigned b = 0; b < len; ++b) rev |= ((next >> b) & 1u) << (len - 1 - b);
                const unsigned sym = symbols[index];
                const auto entry = static_cast<std::uint32_t>((sym << 10) | (len << 5) | (len + (extra_bits ? extra_bits[sym] : 0)));
                for (unsigned fill = rev; fill < table.size(); fill += 1u << len) table[fill] = entry;
            }
            next <<= 1;
        }
        return true;
    }
};

/// LSB-first bits over a byte span; reads past the end as zeros, and the
/// caller checks the position against the length.
class bits {
public:
    explicit bits(std::span<const unsigned char> s) : p_(s.data()), n_(s.size()) {}
    /// At least 56 upcoming bits, the next one in bit 0.
    std::uint64_t peek() const noexcept {
        const std::size_t byte = pos_ >> 3;
        std::uint64_t v = 0;
        if (byte + 8 <= n_) {
            std::memcpy(&v, p_ + byte, 8);
            if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
        } else {
            for (std::size_t i = 0; byte + i < n_ && i < 8; ++i) v |= std::uint64_t{p_[byte + i]} << (8 * i);
        }
        return v >> (pos_ & 7);
    }
    unsigned take(unsigned n) noexcept {
        const auto v = static_cast<unsigned>(peek() & ((std::uint64_t{1} << n) - 1));
        pos_ += n;
        return v;
    }
    void skip(std::size_t n) noexcept { pos_ += n; }
    void align() noexcept { pos_ = (pos_ + 7) & ~std::size_t{7}; }
    std::size_t pos() const noexcept { return pos_; }
    std::size_t size_bits() const noexcept { return n_ * 8; }
    bool overrun() const noexcept { return pos_ > n_ * 8; }

    /// The next symbol of `c`, or -1 for a code it does not have.
    int decode(const code& c) noexcept {
        const std::uint64_t v = peek();
        const auto entry = c.table[v & ((1u << primary_bits) - 1)];
        if (entry) {
            pos_ += (entry >> 5) & 31u;
            return static_cast<int>(entry >> 10);
        }
        // longer than the table: canonical decoding, one bit at a time
        int value = 0, first = 0, index = 0;
        for (unsigned len = 1; len < 16; ++len) {
            value |= static_cast<int>((v >> (len - 1)) & 1u);
            const int count = c.counts[len];
            if (value - count < first) {
                pos_ += len;
                return c.symbols[static_cast<std::size_t>(index + (value - first))];
            }
            index += count;
            first = (first + count) << 1;
            value <<= 1;
        }
        return -1;
    }

private:
    const unsigned char* p_;
    std::size_t n_;
    std::size_t pos_ = 0;
};

/// Extra bits after each literal/length symbol (0 for literals and the end
/// of block) and after each distance symbol.
inline constexpr auto length_extra = [] {
    std::array<std::uint8_t, 288> t{};
    constexpr std::uint8_t extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                        2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    for (unsigned s = 257; s < 286; ++s) t[s] = extra[s - 257];
    return t;
}();
inline constexpr std::array<std::uint8_t, 32> distance_extra = {0, 0, 0, 0, 1, 1, 2,  2,  3,  3,  4,  4,  5,  5,  6, 6,
                                                                 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 0, 0};

inline const code& fixed_literals() {
    static const code c = [] {
        std::uint8_t l[288];
        for (unsigned s = 0; s < 288; ++s) l[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
        code k;
        k.build(l, 288, length_extra.data());
        return k;
    }();
    return c;
}
inline const code& fixed_distances() {
    static const code c = [] {
        std::uint8_t l[30];
        std::memset(l, 5, sizeof l);
        code k;
        k.build(l, 30, distance_extra.data());
        return k;
    }();
    return c;
}

/// Reads a dynamic block's code lengths and builds its two codes.
inline bool read_dynamic_codes(bits& in, code& literals, code& distances) {
    const unsigned hlit = in.take(5) + 257, hdist = in.take(5) + 1, hclen = in.take(4) + 4;
    if (hlit > 286 || hdist > 30) return false;
    static constexpr std::uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    std::uint8_t cl[19] = {};
    for (unsigned i = 0; i < hclen; ++i) cl[order[i]] = static_cast<std::uint8_t>(in.take(3));
    code lengths_code;
    if (!lengths_code.build(cl, 19)) return false;
    std::uint8_t lengths[286 + 30] = {};
    for (unsigned i = 0; i < hlit + hdist;) {
        const int sym = in.decode(lengths_code);
        if (sym < 0 || in.overrun()) return false;
        if (sym < 16) {
            lengths[i++] = static_cast<std::uint8_t>(sym);
            continue;
        }
        unsigned repeat = 0;
        std::uint8_t value = 0;
        if (sym == 16) {
            if (i == 0) return false;
            value = lengths[i - 1];
            repeat = 3 + in.take(2);
        } else if (sym == 17) {
            repeat = 3 + in.take(3);
        } else {
            repeat = 11 + in.take(7);
        }
        if (i + repeat > hlit + hdist) return false;
        while (repeat--) lengths[i++] = value;
    }
    if (lengths[256] == 0) return false;  // no end-of-block code
    return literals.build(lengths, hlit, length_extra.data()) &&
           distances.build(lengths + hlit, hdist, distance_extra.data());
}

/// Skips the symbols of a Huffman-coded block up to its end-of-block code.
/// The hot loop of the walk. Literals and lengths come in no predictable
/// order, so the common case (codes that fit the primary tables, whose
/// entries hold the bits to skip, extra bits included) takes no branch on
/// which it was; several symbols come from one 56-bit peek. Long codes, the
/// block's end and anything invalid go the careful way.
inline bool skip_symbols(bits& in, const code& literals, const code& distances) {
    constexpr std::uint64_t mask = (1u << primary_bits) - 1;
    // a length and distance pair through the tables: at most 11 + 5 + 11 + 13 bits
    constexpr unsigned pair_bits = 2 * primary_bits + 5 + 13;
    const std::size_t limit = in.size_bits();
    while (true) {
        const std::uint64_t v = in.peek();
        unsigned used = 0;
        while (used + pair_bits <= 56) {
            const auto e = literals.table[(v >> used) & mask];
            const unsigned sym = e >> 10;
            const unsigned after_length = used + (e & 31u);
            const auto d = distances.table[(v >> after_length) & mask];
            const bool is_length = sym > 256;
            const bool careful = (e == 0) | (sym == 256) | (sym > 285) | (is_length & ((d == 0) | ((d >> 10) > 29)));
            if (careful) break;
            used = is_length ? after_length + (d & 31u) : after_length;
        }
        in.skip(used);
        if (in.pos() > limit) return false;
        if (used + pair_bits <= 56) {  // stopped at a symbol for the careful way
            const int sym = in.decode(literals);
            if (sym < 256) {
                if (sym < 0) return false;
            } else if (sym == 256) {
                return !in.overrun();
            } else {
                if (sym > 285) return false;
                in.skip(length_extra[static_cast<unsigned>(sym)]);
                const int ds = in.decode(distances);
                if (ds < 0 || ds > 29) return false;
                in.skip(distance_extra[static_cast<unsigned>(ds)]);
            }
            if (in.pos() > limit) return false;
        }
    }
}

}  // namespace deflate_walk

inline std::optional<deflate_final_block> find_final_block(std::span<const unsigned char> stream) {
    using namespace deflate_walk;
    bits in(stream);
    code literals, distances;
    while (true) {
        const std::size_t header = in.pos();
        const bool final = in.take(1) != 0;
        const unsigned type = in.take(2);
        if (type == 0) {  // stored
            in.align();
            const unsigned len = in.take(16), nlen = in.take(16);
            if (len != (~nlen & 0xffffu)) return std::nullopt;
            in.skip(std::size_t{len} * 8);
        } else if (type == 1) {
            if (!skip_symbols(in, fixed_literals(), fixed_distances())) return std::nullopt;
        } else if (type == 2) {
            if (!read_dynamic_codes(in, literals, distances) || !skip_symbols(in, literals, distances))
                return std::nullopt;
        } else {
            return std::nullopt;
        }
        if (in.overrun()) return std::nullopt;
        if (final) {
            // the stream must end in this block's last byte
            if ((in.pos() + 7) / 8 != stream.size()) return std::nullopt;
            return deflate_final_block{header, in.pos()};
        }
    }
}

}  // namespace rtb::detail
