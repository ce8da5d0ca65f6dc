// Finds the '\n's of a buffer in order, 64 bytes per step, without a call
// per line (lines in build logs are ~40 bytes; memchr per line pays its call
// and set-up each time). SSE2 where the target has it, portable code
// elsewhere. Reads only inside [begin, end). Internal.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rtb::detail {

class newline_finder {
public:
    newline_finder(const char* begin, const char* end) noexcept
        : begin_(begin), size_(static_cast<std::size_t>(end - begin)) {
        load();
    }

    /// The next '\n', or nullptr when there is none left.
    const char* next() noexcept {
        // Offsets, not a moving pointer: a pointer stepped 64 past the end
        // (or off a null empty buffer) is undefined behaviour (UBSan).
        while (!mask_) {
            at_ += 64;
            if (at_ >= size_) return nullptr;
            load();
        }
        const int i = std::countr_zero(mask_);
        mask_ &= mask_ - 1;
        return begin_ + at_ + i;
    }

private:
    void load() noexcept {
        if (size_ == 0) return;
        const char* block = begin_ + at_;
        if (size_ - at_ >= 64) {
#if defined(__SSE2__)
            const __m128i nl = _mm_set1_epi8('\n');
            auto bits = [&](int k) {
                const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * k));
                return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl))));
            };
            mask_ = bits(0) | bits(1) << 16 | bits(2) << 32 | bits(3) << 48;
#else
            std::uint64_t m = 0;
            for (int i = 0; i < 64; ++i) m |= static_cast<std::uint64_t>(block[i] == '\n') << i;
            mask_ = m;
#endif
        } else {
            std::uint64_t m = 0;
            for (std::size_t i = 0; i < size_ - at_; ++i) m |= static_cast<std::uint64_t>(block[i] == '\n') << i;
            mask_ = m;
        }
    }

    const char* begin_;
    std::size_t size_;
    std::size_t at_ = 0;
    std::uint64_t mask_ = 0;
};

}  // namespace rtb::detail
