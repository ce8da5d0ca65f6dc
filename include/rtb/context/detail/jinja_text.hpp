// Text the way Python's str sees it, over UTF-8 bytes: code points,
// Python's whitespace, case mapping, repr(), and a linear-time substring
// search. The Jinja2 renderer is built on these so that lengths, strips and
// printed lists match jinja2 byte for byte. Where exact Python behaviour
// would need Unicode tables rtb does not carry (case mapping beyond
// Latin-1, repr() beyond Cyrillic), the functions report "unsupported"
// instead of guessing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtb::detail::jinja {

/// Offset of the first byte that does not start a valid UTF-8 sequence
/// (overlong forms, surrogates and code points above U+10FFFF are invalid,
/// as for Python's decoder), or npos when all of `s` is valid.
inline std::size_t first_invalid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0, min = 0;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return i;
        if (i + len > n) return i;
        for (std::size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return std::string_view::npos;
}

/// Decodes the code point at `i` of valid UTF-8 and moves `i` past it.
inline char32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
        ++i;
        return c;
    }
    std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    char32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    return cp;
}

/// The length in bytes of the code point starting at `i` (never past the end).
inline std::size_t code_point_bytes(std::string_view s, std::size_t i) noexcept {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    return n < s.size() - i ? n : s.size() - i;
}

inline void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// Python's str.isspace() (and the `\s` of its regular expressions).
inline bool is_py_space(char32_t c) noexcept {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// The number of bytes of Python whitespace at the start of `s` (valid UTF-8).
inline std::size_t space_prefix(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t j = i;
        if (!is_py_space(next_code_point(s, j))) break;
        i = j;
    }
    return i;
}

/// Whether `s` is not empty and all Python whitespace.
inline bool all_space(std::string_view s) noexcept { return !s.empty() && space_prefix(s) == s.size(); }

/// Python's s.rstrip(): `s` without its trailing whitespace.
inline std::string_view py_rstrip(std::string_view s) noexcept {
    std::size_t end = 0, i = 0;
    while (i < s.size()) {
        if (!is_py_space(next_code_point(s, i))) end = i;
    }
    return s.substr(0, end);
}

/// Python's len() of a str.
inline std::size_t code_point_count(std::string_view s) noexcept {
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

/// Python's s.strip(chars), or s.strip() without `chars`.
inline std::string_view py_strip(std::string_view s, std::optional<std::string_view> chars) {
    std::vector<char32_t> set;
    if (chars)
        for (std::size_t i = 0; i < chars->size();) set.push_back(next_code_point(*chars, i));
    auto strip = [&](char32_t c) {
        if (!chars) return is_py_space(c);
        for (char32_t x : set)
            if (x == c) return true;
        return false;
    };
    std::size_t begin = 0;
    while (begin < s.size()) {
        std::size_t j = begin;
        if (!strip(next_code_point(s, j))) break;
        begin = j;
    }
    std::size_t end = begin, i = begin;
    while (i < s.size()) {
        if (!strip(next_code_point(s, i))) end = i;
    }
    return s.substr(begin, end - begin);
}

/// Python's str.upper() / str.lower() for Latin-1 text and what its case
/// mapping leads to (ß -> SS, ÿ <-> Ÿ, µ -> Μ <-> μ), a set closed under
/// both; nullopt when `s` holds any other code point above U+00FF, whose
/// mapping needs Unicode's tables.
inline std::optional<std::string> py_change_case(std::string_view s, bool upper) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char32_t c = next_code_point(s, i);
        if (c > 0xFF && c != 0x178 && c != 0x39C && c != 0x3BC) return std::nullopt;
        if (upper) {
            if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7)) c -= 0x20;
            else if (c == 0xDF) {
                out += "SS";
                continue;
            } else if (c == 0xFF) c = 0x178;
            else if (c == 0xB5 || c == 0x3BC) c = 0x39C;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) {
            c += 0x20;
        } else if (c == 0x178) {
            c = 0xFF;
        } else if (c == 0x39C) {
            c = 0x3BC;
        }
        append_utf8(out, c);
    }
    return out;
}

/// Whether Python's str.isprintable() holds for `c`, for c <= U+052F (Latin,
/// IPA, Greek, Cyrillic: as far as rtb carries Unicode's tables; Python 3.11,
/// Unicode 14).
inline bool py_printable(char32_t c) noexcept {
    if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
    return !(c == 0x378 || c == 0x379 || (c >= 0x380 && c <= 0x383) || c == 0x38B || c == 0x38D || c == 0x3A2);
}

/// The highest code point append_py_repr() handles.
inline constexpr char32_t py_repr_max = 0x52F;

/// Appends Python's repr() of a str. False (and nothing appended) when `s`
/// holds a code point above py_repr_max, whose printability needs Unicode
/// tables rtb does not carry.
inline bool append_py_repr(std::string& out, std::string_view s) {
    for (std::size_t i = 0; i < s.size();)
        if (next_code_point(s, i) > py_repr_max) return false;
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    out += quote;
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < s.size();) {
        const char32_t c = next_code_point(s, i);
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (!py_printable(c)) {
            out += c < 0x100 ? "\\x" : "\\u";  // \xad, \u0378
            for (int shift = c < 0x100 ? 4 : 12; shift >= 0; shift -= 4) out += hex[(c >> shift) & 0xF];
        } else {
            append_utf8(out, c);
        }
    }
    out += quote;
    return true;
}

/// Finds one needle in text in time linear in their sizes (Knuth-Morris-
/// Pratt), so `in` and `replace` cost O(text) whatever the strings hold.
class substring_search {
public:
    explicit substring_search(std::string_view needle) : needle_(needle), table_(needle.size(), 0) {
        for (std::size_t i = 1, k = 0; i < needle.size(); ++i) {
            while (k > 0 && needle[i] != needle[k]) k = table_[k - 1];
            if (needle[i] == needle[k]) ++k;
            table_[i] = k;
        }
    }
    /// The first occurrence at or after `from`, or npos. An empty needle is found at `from`.
    std::size_t find(std::string_view hay, std::size_t from = 0) const noexcept {
        if (needle_.empty()) return from <= hay.size() ? from : std::string_view::npos;
        for (std::size_t i = from, k = 0; i < hay.size(); ++i) {
            while (k > 0 && hay[i] != needle_[k]) k = table_[k - 1];
            if (hay[i] == needle_[k]) ++k;
            if (k == needle_.size()) return i + 1 - k;
        }
        return std::string_view::npos;
    }

private:
    std::string_view needle_;
    std::vector<std::size_t> table_;
};

}  // namespace rtb::detail::jinja
