// Streaming base64 (RFC 4648, standard alphabet, '=' padding, no line
// breaks) of a ByteSource: what the remote build API expects for a context
// (Python's base64.b64encode of the tar.gz), produced with bounded memory.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "rtb/context/byte_source.hpp"

namespace rtb {

/// Encodes `in` (whole) to base64.
inline std::string base64_encode(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (const std::size_t rest = in.size() - i) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

/// A ByteSource giving the base64 text of another.
template <ByteSource S>
class base64_stream {
public:
    explicit base64_stream(S source) : source_(std::move(source)) {}

    std::size_t read(std::span<std::byte> buf) {
        while (out_.empty() && !done_) {
            // keep a multiple of 3 input bytes per step, carrying the rest
            std::string in = std::move(carry_);
            carry_.clear();
            const std::size_t want = 48 * 1024;
            std::size_t filled = in.size();
            in.resize(want);
            while (filled < want) {
                const auto n = source_.read({reinterpret_cast<std::byte*>(in.data()) + filled, want - filled});
                if (n == 0) {
                    done_ = true;
                    break;
                }
                filled += n;
            }
            in.resize(filled);
            if (!done_) {
                const std::size_t keep = filled % 3;
                carry_.assign(in, filled - keep, keep);
                in.resize(filled - keep);
            }
            out_.append(base64_encode(in));
        }
        return out_.take(buf);
    }

private:
    S source_;
    std::string carry_;
    detail::byte_fifo out_;
    bool done_ = false;
};

}  // namespace rtb
