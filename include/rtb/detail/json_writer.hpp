// Writing JSON text: string quoting (RFC 8259), for rtb's --json output and
// the json_logger. Reading JSON is simdjson's job.
#pragma once

#include <array>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace rtb::detail {

/// Appends `s` as a JSON string literal. Invalid UTF-8 bytes become U+FFFD,
/// so the output is always valid JSON whatever a file name or engine sent.
inline void append_json_quoted(std::string& out, std::string_view s);

/// `s` as a JSON string literal (append_json_quoted into a new string).
inline std::string json_quote(std::string_view s) {
    std::string out;
    append_json_quoted(out, s);
    return out;
}

/// Appends an integer in decimal, as fmt's "{}" writes it.
template <class Int>
void append_decimal(std::string& out, Int v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// ---------------------------------------------------------------------------

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

/// The bytes a JSON string can hold as they are: printable ASCII but the
/// quote and the backslash. Everything else takes the careful path.
inline constexpr auto json_plain_bytes = [] {
    std::array<bool, 256> t{};
    for (unsigned c = 0x20; c < 0x7f; ++c) t[c] = true;
    t['"'] = t['\\'] = false;
    return t;
}();

inline void append_json_quoted(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    // runs of plain bytes are copied whole: most engine text is plain ASCII
    for (std::size_t i = 0; i < s.size(); ++i) {
        std::size_t run = i + printable_run(s.data() + i, s.data() + s.size(), '"', '\\');
        out.append(s.data() + i, run - i);
        if (run == s.size()) break;
        i = run;
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(esc, 6);
        } else {
            std::size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
            bool ok = len && i + len <= s.size();
            char32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
            for (std::size_t k = 1; ok && k < len; ++k) {
                const auto cont = static_cast<unsigned char>(s[i + k]);
                ok = (cont & 0xc0) == 0x80;
                cp = (cp << 6) | (cont & 0x3f);
            }
            if (ok) ok = !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) && !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
            if (ok) {
                out.append(s.substr(i, len));
                i += len - 1;
            } else {
                out += "\\ufffd";
            }
        }
    }
    out += '"';
}

}  // namespace rtb::detail
