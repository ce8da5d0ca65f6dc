// Streaming base64 decoding (RFC 4648, standard alphabet), the inverse of
// base64_stream: text arrives in chunks split anywhere, decoded bytes leave
// as they are complete, so an upload of any size is decoded with bounded
// memory. Strict: a character outside the alphabet, padding anywhere but at
// the end, or a length that is not a whole number of quanta is an error
// naming the offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rtb/error.hpp"

namespace rtb {

class base64_decoder {
public:
    /// `what` names the input in errors ("uploaded context").
    explicit base64_decoder(std::string what = "base64 input") : what_(std::move(what)) {}

    /// Decodes `text`, appending the complete bytes to `out`. Line breaks
    /// (\r, \n) are skipped, as decoders commonly allow; anything else that is
    /// not base64 throws invalid_argument.
    void feed(std::string_view text, std::string& out) {
        for (const char c : text) {
            const std::uint64_t at = offset_++;
            if (c == '\r' || c == '\n') continue;
            if (c == '=') {
                if (quantum_ < 2) fail(at, "padding '=' where data was expected");
                ++padding_;
                if (quantum_ + padding_ > 4) fail(at, "too much padding");
                if (quantum_ + padding_ == 4) flush(out);
                continue;
            }
            if (padding_ > 0) fail(at, "data after the padding '='");
            const int v = value(c);
            if (v < 0)
                fail(at, fmt::format("character 0x{:02x} is not in the base64 alphabet", static_cast<unsigned char>(c)));
            acc_ = (acc_ << 6) | static_cast<std::uint32_t>(v);
            if (++quantum_ == 4) flush(out);
        }
    }

    /// Ends the input: a partial quantum without its padding is accepted only
    /// when it is a valid unpadded tail (2 or 3 characters).
    void finish(std::string& out) {
        if (done_padding_) return;
        if (padding_ > 0) fail(offset_, "incomplete padding at the end");
        if (quantum_ == 0) return;
        if (quantum_ == 1) fail(offset_, "the input ends in the middle of a byte (length is not valid base64)");
        flush(out);
    }

    /// Characters consumed so far.
    std::uint64_t consumed() const noexcept { return offset_; }

private:
    static int value(char c) noexcept {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    }
    // Emits the bytes of the current (possibly short) quantum.
    void flush(std::string& out) {
        const int chars = quantum_;
        std::uint32_t v = acc_ << (6 * (4 - chars));
        out += static_cast<char>((v >> 16) & 0xff);
        if (chars >= 3) out += static_cast<char>((v >> 8) & 0xff);
        if (chars == 4) out += static_cast<char>(v & 0xff);
        acc_ = 0;
        quantum_ = 0;
        if (padding_ > 0) done_padding_ = true;
    }
    [[noreturn]] void fail(std::uint64_t at, std::string_view why) const {
        throw error(errc::invalid_argument, fmt::format("{}: not valid base64 at offset {}: {}", what_, at, why));
    }

    std::string what_;
    std::uint32_t acc_ = 0;
    int quantum_ = 0;
    int padding_ = 0;
    bool done_padding_ = false;
    std::uint64_t offset_ = 0;
};

}  // namespace rtb
