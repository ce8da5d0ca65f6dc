// Ports of the few Go standard library functions whose exact behaviour
// `.dockerignore` depends on: utf8 decoding, strings.TrimSpace, path.Clean
// and path/filepath.Match (Unix). Internal to the .dockerignore matcher.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rtb::detail::go {

inline constexpr char32_t rune_error = 0xFFFD;

/// utf8.DecodeRuneInString: the rune at the front of `s` and its width.
/// Invalid or truncated sequences, surrogates and overlong forms give
/// (U+FFFD, 1); an empty string gives (U+FFFD, 0).
struct decoded_rune {
    char32_t rune;
    std::size_t width;
};

inline decoded_rune decode_rune(std::string_view s) noexcept {
    if (s.empty()) return {rune_error, 0};
    const auto b0 = static_cast<unsigned char>(s[0]);
    if (b0 < 0x80) return {b0, 1};
    auto cont = [&](std::size_t i) { return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
    auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (!cont(1)) return {rune_error, 1};
        return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (at(1) & 0x3F)), 2};
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (!cont(1)) return {rune_error, 1};
        const auto b1 = at(1);
        if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F)) return {rune_error, 1};  // overlong, surrogate
        if (!cont(2)) return {rune_error, 1};
        return {static_cast<char32_t>(((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (at(2) & 0x3F)), 3};
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (!cont(1)) return {rune_error, 1};
        const auto b1 = at(1);
        if ((b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 > 0x8F)) return {rune_error, 1};
        if (!cont(2) || !cont(3)) return {rune_error, 1};
        return {static_cast<char32_t>(((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((at(2) & 0x3F) << 6) | (at(3) & 0x3F)),
                4};
    }
    return {rune_error, 1};
}

/// utf8.DecodeLastRuneInString.
inline decoded_rune decode_last_rune(std::string_view s) noexcept {
    if (s.empty()) return {rune_error, 0};
    const std::size_t end = s.size();
    std::size_t start = end - 1;
    if (static_cast<unsigned char>(s[start]) < 0x80) return {static_cast<unsigned char>(s[start]), 1};
    // back up over at most 3 continuation bytes to a possible start byte
    const std::size_t lim = end >= 4 ? end - 4 : 0;
    while (start > lim && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    const auto r = decode_rune(s.substr(start));
    if (start + r.width != end) return {rune_error, 1};
    return r;
}

/// Appends the UTF-8 encoding of `r` (Go's string(rune)).
inline void append_rune(std::string& out, char32_t r) {
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = rune_error;
    if (r < 0x80) {
        out.push_back(static_cast<char>(r));
    } else if (r < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (r >> 6)));
        out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
    } else if (r < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (r >> 12)));
        out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (r >> 18)));
        out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
    }
}

/// unicode.IsSpace.
constexpr bool is_space(char32_t r) noexcept {
    switch (r) {
        case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
        case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
            return true;
        default:
            return r >= 0x2000 && r <= 0x200A;
    }
}

/// strings.TrimSpace.
inline std::string_view trim_space(std::string_view s) noexcept {
    while (!s.empty()) {
        const auto r = decode_rune(s);
        if (!is_space(r.rune) || (r.rune == rune_error)) break;
        s.remove_prefix(r.width);
    }
    while (!s.empty()) {
        const auto r = decode_last_rune(s);
        if (!is_space(r.rune) || (r.rune == rune_error)) break;
        s.remove_suffix(r.width);
    }
    return s;
}

/// path.Clean (what filepath.Clean does on Unix): the shortest path
/// equivalent by purely lexical processing.
inline std::string clean(std::string_view path) {
    if (path.empty()) return ".";
    const bool rooted = path[0] == '/';
    const std::size_t n = path.size();
    std::string out;
    out.reserve(n);
    std::size_t r = 0, dotdot = 0;
    if (rooted) {
        out.push_back('/');
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            ++r;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            ++r;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (out.size() > dotdot) {
                out.pop_back();
                while (out.size() > dotdot && out.back() != '/') out.pop_back();
                // the loop above leaves the separator before the removed element
                if (out.size() > dotdot && out.back() == '/') out.pop_back();
            } else if (!rooted) {
                if (!out.empty()) out.push_back('/');
                out.append("..");
                dotdot = out.size();
            }
        } else {
            if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out.push_back('/');
            for (; r < n && path[r] != '/'; ++r) out.push_back(path[r]);
        }
    }
    if (out.empty()) return ".";
    return out;
}

/// filepath.Dir (Unix): everything but the last element, cleaned
/// ("a/b" -> "a", "a" -> ".", "/a" -> "/", "a/b/" -> "a/b").
inline std::string dir(std::string_view path) {
    const auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return ".";
    const std::string_view head = path.substr(0, slash + 1);
    // fast path: an already clean head ("a/b/") just loses its slash
    bool clean_head = slash > 0 && head[0] != '/';
    for (std::size_t i = 0; clean_head && i < slash; ++i) {
        if (head[i] == '/' && (head[i + 1] == '/' || i + 1 == slash)) clean_head = false;
        if (head[i] == '.' && (i == 0 || head[i - 1] == '/') &&
            (head[i + 1] == '/' || (head[i + 1] == '.' && head[i + 2] == '/')))
            clean_head = false;
    }
    if (clean_head) return std::string(path.substr(0, slash));
    return clean(head);
}

// ---------------------------------------------------------------------------
// path/filepath.Match (Unix), used by moby only for its error: a pattern is
// accepted when Match(pattern, ".") does not fail.

namespace match_detail {

struct chunk_result {
    std::string_view rest;
    bool ok = false;
    bool bad = false;  // filepath.ErrBadPattern
};

inline void scan_chunk(std::string_view& pattern, bool& star, std::string_view& chunk) {
    star = false;
    while (!pattern.empty() && pattern[0] == '*') {
        pattern.remove_prefix(1);
        star = true;
    }
    bool inrange = false;
    std::size_t i = 0;
    for (; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            if (i + 1 < pattern.size()) ++i;
        } else if (c == '[') {
            inrange = true;
        } else if (c == ']') {
            inrange = false;
        } else if (c == '*' && !inrange) {
            break;
        }
    }
    chunk = pattern.substr(0, i);
    pattern.remove_prefix(i);
}

// getEsc: one possibly escaped character of a class; false on a bad pattern.
inline bool get_esc(std::string_view& chunk, char32_t& r) {
    if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') return false;
    if (chunk[0] == '\\') {
        chunk.remove_prefix(1);
        if (chunk.empty()) return false;
    }
    const auto d = decode_rune(chunk);
    if (d.rune == rune_error && d.width == 1) return false;
    r = d.rune;
    chunk.remove_prefix(d.width);
    return !chunk.empty();
}

inline chunk_result match_chunk(std::string_view chunk, std::string_view s) {
    bool failed = false;
    while (!chunk.empty()) {
        if (!failed && s.empty()) failed = true;
        switch (chunk[0]) {
            case '[': {
                char32_t r = 0;
                if (!failed) {
                    const auto d = decode_rune(s);
                    r = d.rune;
                    s.remove_prefix(d.width);
                }
                chunk.remove_prefix(1);
                bool negated = false;
                if (!chunk.empty() && chunk[0] == '^') {
                    negated = true;
                    chunk.remove_prefix(1);
                }
                bool match = false;
                int nrange = 0;
                while (true) {
                    if (!chunk.empty() && chunk[0] == ']' && nrange > 0) {
                        chunk.remove_prefix(1);
                        break;
                    }
                    char32_t lo = 0, hi = 0;
                    if (!get_esc(chunk, lo)) return {{}, false, true};
                    hi = lo;
                    if (chunk[0] == '-') {
                        chunk.remove_prefix(1);
                        if (!get_esc(chunk, hi)) return {{}, false, true};
                    }
                    if (lo <= r && r <= hi) match = true;
                    ++nrange;
                }
                if (match == negated) failed = true;
                break;
            }
            case '?':
                if (!failed) {
                    if (s[0] == '/') failed = true;
                    s.remove_prefix(decode_rune(s).width);
                }
                chunk.remove_prefix(1);
                break;
            case '\\':
                chunk.remove_prefix(1);
                if (chunk.empty()) return {{}, false, true};
                [[fallthrough]];
            default:
                if (!failed) {
                    if (chunk[0] != s[0]) failed = true;
                    s.remove_prefix(1);
                }
                chunk.remove_prefix(1);
                break;
        }
    }
    if (failed) return {{}, false, false};
    return {s, true, false};
}

}  // namespace match_detail

/// filepath.Match: whether `name` matches the shell pattern; std::nullopt
/// for a malformed pattern (Go's ErrBadPattern).
inline std::optional<bool> filepath_match(std::string_view pattern, std::string_view name) {
    using namespace match_detail;
    while (!pattern.empty()) {
        bool star = false;
        std::string_view chunk;
        scan_chunk(pattern, star, chunk);
        if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
        auto res = match_chunk(chunk, name);
        if (res.ok && (res.rest.empty() || !pattern.empty())) {
            name = res.rest;
            continue;
        }
        if (res.bad) return std::nullopt;
        bool advanced = false;
        if (star) {
            for (std::size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
                auto t = match_chunk(chunk, name.substr(i + 1));
                if (t.ok) {
                    if (pattern.empty() && !t.rest.empty()) continue;
                    name = t.rest;
                    advanced = true;
                    break;
                }
                if (t.bad) return std::nullopt;
            }
        }
        if (advanced) continue;
        // before answering false, check that the rest of the pattern is well formed
        while (!pattern.empty()) {
            scan_chunk(pattern, star, chunk);
            if (match_chunk(chunk, "").bad) return std::nullopt;
        }
        return false;
    }
    return name.empty();
}

}  // namespace rtb::detail::go
