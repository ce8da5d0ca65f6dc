// Shared by the fuzz targets: splitting one input into the parts a target
// needs, and the one rule every target checks (a parser may refuse input only
// with rtb::error; anything else escaping is a bug the fuzzer reports).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string_view>
#include <vector>

namespace rtb::fuzz {

/// The input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Takes leading bytes off an input to steer a target (chunk sizes, options),
/// leaving the rest as the document under test. Short inputs give zeros.
class steering {
public:
    steering(const std::uint8_t* data, std::size_t size) : text_(as_text(data, size)) {}

    std::uint8_t byte() {
        if (text_.empty()) return 0;
        const auto b = static_cast<std::uint8_t>(text_.front());
        text_.remove_prefix(1);
        return b;
    }
    /// Everything not taken yet.
    std::string_view rest() const { return text_; }

    /// Splits rest() at '\x01' markers: the way one input carries several
    /// strings (pattern and path, template and variable).
    std::vector<std::string_view> parts(char separator = '\x01') const {
        std::vector<std::string_view> out;
        std::string_view s = text_;
        for (;;) {
            const auto at = s.find(separator);
            out.push_back(s.substr(0, at));
            if (at == std::string_view::npos) return out;
            s.remove_prefix(at + 1);
        }
    }

private:
    std::string_view text_;
};

/// Chunk sizes from a seed byte: 1..max, varied, so decoders see lines and
/// JSON values cut at every kind of place.
inline std::vector<std::size_t> chunk_sizes(std::uint8_t seed, std::size_t total) {
    std::vector<std::size_t> out;
    std::uint32_t x = seed * 2654435761u + 1;
    for (std::size_t at = 0; at < total;) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        const std::size_t n = 1 + x % (seed % 64 + 1);
        out.push_back(n);
        at += n;
    }
    return out;
}

/// A property the target checks failed: report like a crash.
[[noreturn]] inline void property_failed(const char* what) {
    std::fprintf(stderr, "fuzz property failed: %s\n", what);
    std::abort();
}

}  // namespace rtb::fuzz
