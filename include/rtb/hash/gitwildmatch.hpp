// Gitignore-style ("gitwildmatch") path patterns, matched exactly as
// dirhash-python matches its `match=` / `ignore=` patterns: pathspec's
// GitWildMatchPattern translation to a Python regular expression, evaluated
// with Python `re` semantics (code points, `.` not matching a newline, `$`
// also matching before a final newline).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"

namespace rtb {

/// One compiled pattern. Null operations (blank lines, `#` comments, a lone
/// `/`) compile to std::nullopt, as in pathspec.
class gitwildmatch_pattern {
public:
    /// Compiles `pattern`; throws invalid_argument for a malformed one (a
    /// trailing backslash, a reversed range such as `[z-a]`, `!` alone).
    static std::optional<gitwildmatch_pattern> compile(std::string_view pattern);

    /// False for a negated (`!`) pattern: a match excludes instead of includes.
    bool include() const noexcept { return include_; }
    const std::string& text() const noexcept { return text_; }

    /// Matches a path already decoded to code points (see decode_path).
    bool matches(std::u32string_view path) const;
    bool matches(std::string_view path) const;
    /// matches() without the shortcuts for common shapes (tests compare the two).
    bool matches_by_program(std::u32string_view path) const;

    /// Decodes a path's bytes as Python's os.fsdecode does on Linux: UTF-8,
    /// each undecodable byte mapped to U+DC80+byte (surrogateescape).
    static std::u32string decode_path(std::string_view bytes);

private:
    enum class op : std::uint8_t { literal, not_slash, not_newline, char_class, split, jump, end_anchor, match };
    struct instr {
        op code;
        std::uint32_t a = 0;  // literal code point, class index, or jump target
        std::uint32_t b = 0;  // second split target
    };
    struct char_class {
        bool negate = false;
        std::vector<std::pair<char32_t, char32_t>> ranges;
        bool contains(char32_t c) const noexcept {
            bool in = false;
            for (auto [lo, hi] : ranges)
                if (c >= lo && c <= hi) { in = true; break; }
            return in != negate;
        }
    };
    class builder;

    /// Common shapes matched on path components directly instead of by the
    /// program (the reuse decision runs OpenHands' `.*/`, `__pycache__/` and
    /// `*.pyc` on every source file): `*`, `*LIT`, `LIT/`, `LIT*/`.
    enum class shape : std::uint8_t { general, any_name, name_suffix, dir_name, dir_prefix };
    std::optional<bool> match_shape(std::u32string_view path) const;

    std::string text_;
    shape shape_ = shape::general;
    std::u32string literal_;  // LIT of the shape
    bool include_ = true;
    std::vector<instr> program_;
    std::vector<char_class> classes_;
};

/// An ordered list of patterns with pathspec's match_file rule: the last
/// pattern that matches decides (include for a plain pattern, exclude for a
/// `!` pattern); no match means not matched.
class gitwildmatch_spec {
public:
    gitwildmatch_spec() = default;
    explicit gitwildmatch_spec(std::span<const std::string> patterns) {
        for (const auto& p : patterns)
            if (auto c = gitwildmatch_pattern::compile(p)) patterns_.push_back(std::move(*c));
    }

    bool empty() const noexcept { return patterns_.empty(); }
    const std::vector<gitwildmatch_pattern>& patterns() const noexcept { return patterns_; }

    bool match(std::u32string_view path) const {
        bool matched = false;
        for (const auto& p : patterns_)
            if (p.include() != matched && p.matches(path)) matched = p.include();
        return matched;
    }
    bool match(std::string_view path) const { return match(gitwildmatch_pattern::decode_path(path)); }

private:
    std::vector<gitwildmatch_pattern> patterns_;
};

// ---------------------------------------------------------------------------

inline std::u32string gitwildmatch_pattern::decode_path(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    for (std::size_t i = 0; i < s.size();) {
        const unsigned c = byte(i);
        if (c < 0x80) {
            out.push_back(c);
            ++i;
            continue;
        }
        std::size_t len = 0;
        char32_t cp = 0, min = 0;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
        bool ok = len != 0 && i + len <= s.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            const unsigned cont = byte(i + k);
            if ((cont & 0xc0) != 0x80) ok = false;
            else cp = (cp << 6) | (cont & 0x3f);
        }
        if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
        if (ok) {
            out.push_back(cp);
            i += len;
        } else {
            out.push_back(0xdc00 + c);  // surrogateescape
            ++i;
        }
    }
    return out;
}

/// Builds the program for one pattern: a port of pathspec 0.11's
/// GitWildMatchPattern.pattern_to_regex, emitting instructions instead of a
/// regex string. Comments name the regex each step stands for.
class gitwildmatch_pattern::builder {
public:
    explicit builder(gitwildmatch_pattern& p, std::string_view original) : p_(p), original_(original) {}

    [[noreturn]] void invalid(std::string_view why) const {
        throw error(errc::invalid_argument, fmt::format("invalid ignore pattern \"{}\": {}", original_, why));
    }

    std::uint32_t pc() const noexcept { return static_cast<std::uint32_t>(p_.program_.size()); }
    std::uint32_t emit(op code, std::uint32_t a = 0, std::uint32_t b = 0) {
        p_.program_.push_back({code, a, b});
        return pc() - 1;
    }
    void literal(char32_t c) { emit(op::literal, c); }

    // x*  (greedy; the order of alternatives does not change a yes/no answer)
    template <class Atom>
    void star(Atom atom) {
        const auto loop = emit(op::split);
        p_.program_[loop].a = pc();
        atom();
        emit(op::jump, loop);
        p_.program_[loop].b = pc();
    }
    // x+
    template <class Atom>
    void plus(Atom atom) {
        const auto start = pc();
        atom();
        emit(op::split, start, pc() + 1);
    }
    // (?:...)?
    template <class Body>
    void optional(Body body) {
        const auto s = emit(op::split);
        p_.program_[s].a = pc();
        body();
        p_.program_[s].b = pc();
    }
    void not_slash() { emit(op::not_slash); }      // [^/]
    void not_newline() { emit(op::not_newline); }  // .

    // (?:(?P<ps_d>/).*)?
    void optional_slash_any() {
        optional([&] {
            literal('/');
            star([&] { not_newline(); });
        });
    }

    /// _translate_segment_glob: one path segment's glob.
    void segment_glob(const std::u32string& seg) {
        bool escape = false;
        std::size_t i = 0;
        const std::size_t end = seg.size();
        while (i < end) {
            const char32_t ch = seg[i++];
            if (escape) {
                escape = false;
                literal(ch);
            } else if (ch == U'\\') {
                escape = true;
            } else if (ch == U'*') {
                star([&] { not_slash(); });  // [^/]*
            } else if (ch == U'?') {
                not_slash();  // [^/]
            } else if (ch == U'[') {
                std::size_t j = i;
                if (j < end && seg[j] == U'!') ++j;
                if (j < end && seg[j] == U']') ++j;
                while (j < end && seg[j] != U']') ++j;
                if (j < end) {
                    ++j;
                    // The regex text pathspec builds: '[' + ('^' | '\^' | '') + seg[i:j] with '\' doubled.
                    std::u32string expr;
                    if (seg[i] == U'!') {
                        expr += U'^';
                        ++i;
                    } else if (seg[i] == U'^') {
                        expr += U"\\^";
                        ++i;
                    }
                    for (std::size_t k = i; k < j; ++k) {
                        if (seg[k] == U'\\') expr += U'\\';
                        expr += seg[k];
                    }
                    python_class(expr);
                    i = j;
                } else {
                    literal(U'[');
                }
            } else {
                literal(ch);
            }
        }
        if (escape) invalid("it ends with a backslash that escapes nothing");
    }

    /// Parses the inside of a Python regex character set (after '['), as
    /// Python's sre_parse does, and emits it.
    void python_class(const std::u32string& s) {
        char_class cls;
        std::size_t pos = 0;
        if (pos < s.size() && s[pos] == U'^') {
            cls.negate = true;
            ++pos;
        }
        auto get = [&](char32_t& out) -> bool {  // one set item (an escape is two code points)
            if (pos >= s.size()) return false;
            out = s[pos++];
            if (out == U'\\') {
                if (pos >= s.size()) invalid("unterminated escape in a character class");
                out = s[pos++];  // only `\\` and `\^` reach here: both literal
            }
            return true;
        };
        bool has_items = false;
        while (true) {
            if (pos >= s.size()) invalid("unterminated character class");
            const bool raw_close = s[pos] == U']';
            char32_t lo;
            get(lo);
            if (raw_close && has_items) break;
            if (pos < s.size() && s[pos] == U'-') {
                ++pos;
                if (pos >= s.size()) invalid("unterminated character class");
                if (s[pos] == U']') {
                    ++pos;
                    cls.ranges.emplace_back(lo, lo);
                    cls.ranges.emplace_back(U'-', U'-');
                    break;
                }
                char32_t hi;
                get(hi);
                if (hi < lo) invalid(fmt::format("bad character range in a class (U+{:04X} > U+{:04X})",
                                                 static_cast<std::uint32_t>(lo), static_cast<std::uint32_t>(hi)));
                cls.ranges.emplace_back(lo, hi);
            } else {
                cls.ranges.emplace_back(lo, lo);
            }
            has_items = true;
        }
        p_.classes_.push_back(std::move(cls));
        emit(op::char_class, static_cast<std::uint32_t>(p_.classes_.size() - 1));
    }

private:
    gitwildmatch_pattern& p_;
    std::string_view original_;
};

inline std::optional<gitwildmatch_pattern> gitwildmatch_pattern::compile(std::string_view original) {
    // str.strip(): Unicode whitespace at both ends.
    const std::u32string decoded = decode_path(original);
    auto is_space = [](char32_t c) {
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
               (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
               c == 0x3000;
    };
    std::size_t b = 0, e = decoded.size();
    while (b < e && is_space(decoded[b])) ++b;
    while (e > b && is_space(decoded[e - 1])) --e;
    std::u32string pattern = decoded.substr(b, e - b);

    if (pattern.empty() || pattern[0] == U'#' || pattern == U"/") return std::nullopt;

    gitwildmatch_pattern result;
    result.text_ = std::string(original);
    builder out(result, original);
    if (pattern[0] == U'!') {
        result.include_ = false;
        pattern.erase(0, 1);
    }

    const auto plain = [](std::u32string_view t) {
        return !t.empty() && std::none_of(t.begin(), t.end(), [](char32_t c) {
            return c == U'*' || c == U'?' || c == U'[' || c == U']' || c == U'\\' || c == U'/' || c == U'!' ||
                   c == U'#' || c == U'\n';
        });
    };
    const std::u32string_view pv(pattern);
    if (pv == U"*") {
        result.shape_ = shape::any_name;
    } else if (pv.size() >= 2 && pv.front() == U'*' && plain(pv.substr(1))) {
        result.shape_ = shape::name_suffix;
        result.literal_ = pv.substr(1);
    } else if (pv.size() >= 3 && pv.ends_with(U"*/") && plain(pv.substr(0, pv.size() - 2))) {
        result.shape_ = shape::dir_prefix;
        result.literal_ = pv.substr(0, pv.size() - 2);
    } else if (pv.size() >= 2 && pv.back() == U'/' && plain(pv.substr(0, pv.size() - 1))) {
        result.shape_ = shape::dir_name;
        result.literal_ = pv.substr(0, pv.size() - 1);
    }

    std::vector<std::u32string> segs;
    for (std::size_t start = 0;;) {
        const auto slash = pattern.find(U'/', start);
        segs.push_back(pattern.substr(start, slash == std::u32string::npos ? std::u32string::npos : slash - start));
        if (slash == std::u32string::npos) break;
        start = slash + 1;
    }
    // Collapse runs of '**' segments.
    for (std::size_t i = segs.size() - 1; i > 0; --i)
        if (segs[i - 1] == U"**" && segs[i] == U"**") segs.erase(segs.begin() + static_cast<std::ptrdiff_t>(i));

    // '**/' matches everything except files directly in the root: ^.+(?P<ps_d>/).*$
    const bool override_dirs_only = segs.size() == 2 && segs[0] == U"**" && segs[1].empty();

    if (segs[0].empty()) {
        segs.erase(segs.begin());  // a leading '/' anchors at the root
    } else if (segs.size() == 1 || (segs.size() == 2 && segs[1].empty())) {
        if (segs[0] != U"**") segs.insert(segs.begin(), U"**");  // 'name' or 'name/' match at any depth
    }
    if (segs.empty()) out.invalid("nothing is left to match after removing '!' and '/'");
    if (segs.back().empty() && segs.size() > 1) segs.back() = U"**";  // 'dir/' matches what is below dir

    if (override_dirs_only) {
        out.plus([&] { out.not_newline(); });
        out.literal('/');
        out.star([&] { out.not_newline(); });
    } else {
        bool need_slash = false;
        const std::size_t end = segs.size() - 1;
        for (std::size_t i = 0; i <= end; ++i) {
            const auto& seg = segs[i];
            if (seg == U"**") {
                if (i == 0 && i == end) {  // [^/]+(?:(?P<ps_d>/).*)?
                    out.plus([&] { out.not_slash(); });
                    out.optional_slash_any();
                } else if (i == 0) {  // (?:.+/)?
                    out.optional([&] {
                        out.plus([&] { out.not_newline(); });
                        out.literal('/');
                    });
                    need_slash = false;
                } else if (i == end) {  // (?P<ps_d>/).*
                    out.literal('/');
                    out.star([&] { out.not_newline(); });
                } else {  // (?:/.+)?
                    out.optional([&] {
                        out.literal('/');
                        out.plus([&] { out.not_newline(); });
                    });
                    need_slash = true;
                }
            } else if (seg == U"*") {
                if (need_slash) out.literal('/');
                out.plus([&] { out.not_slash(); });  // [^/]+
                if (i == end) out.optional_slash_any();
                need_slash = true;
            } else {
                if (need_slash) out.literal('/');
                out.segment_glob(seg);
                if (i == end) out.optional_slash_any();
                need_slash = true;
            }
        }
    }
    out.emit(op::end_anchor);
    out.emit(op::match);
    return result;
}

inline bool gitwildmatch_pattern::matches(std::string_view path) const { return matches(decode_path(path)); }

inline std::optional<bool> gitwildmatch_pattern::match_shape(std::u32string_view s) const {
    // Only for well-formed relative paths: non-empty, no leading '/', no empty
    // component inside, no newline (Python's `.` and `$` treat it specially).
    if (shape_ == shape::general || s.empty() || s.front() == U'/') return std::nullopt;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] == U'\n' || (s[i] == U'/' && i + 1 < s.size() && s[i + 1] == U'/')) return std::nullopt;
    if (shape_ == shape::any_name) return true;  // (?:.+/)?[^/]+(?:/.*)?$
    // Each component; `last` when no '/' follows it.
    for (std::size_t start = 0; start < s.size();) {
        const auto slash = s.find(U'/', start);
        const bool last = slash == std::u32string_view::npos;
        const auto name = s.substr(start, last ? std::u32string_view::npos : slash - start);
        switch (shape_) {
            case shape::name_suffix:  // (?:.+/)?[^/]*LIT(?:/.*)?$
                if (name.ends_with(literal_)) return true;
                break;
            case shape::dir_name:  // (?:.+/)?LIT/.*$
                if (!last && name == literal_) return true;
                break;
            case shape::dir_prefix:  // (?:.+/)?LIT[^/]*/.*$
                if (!last && name.starts_with(literal_)) return true;
                break;
            default:
                break;
        }
        if (last) break;
        start = slash + 1;
    }
    return false;
}

inline bool gitwildmatch_pattern::matches(std::u32string_view s) const {
    if (const auto shortcut = match_shape(s)) return *shortcut;
    return matches_by_program(s);
}

inline bool gitwildmatch_pattern::matches_by_program(std::u32string_view s) const {
    // Backtracking over (pc, position) states with a visited set: each state
    // is explored once, so the cost is at most |program| x |path|.
    const std::size_t n = s.size(), width = n + 1;
    thread_local std::vector<std::uint64_t> visited;
    thread_local std::vector<std::pair<std::uint32_t, std::uint32_t>> stack;
    const std::size_t states = program_.size() * width;
    visited.assign((states + 63) / 64, 0);
    stack.clear();
    stack.emplace_back(0u, 0u);
    while (!stack.empty()) {
        auto [pc, pos] = stack.back();
        stack.pop_back();
        while (true) {
            const std::size_t key = pc * width + pos;
            if (visited[key / 64] & (std::uint64_t{1} << (key % 64))) break;
            visited[key / 64] |= std::uint64_t{1} << (key % 64);
            const instr& in = program_[pc];
            bool advance = false;
            switch (in.code) {
                case op::literal: advance = pos < n && s[pos] == in.a; break;
                case op::not_slash: advance = pos < n && s[pos] != U'/'; break;
                case op::not_newline: advance = pos < n && s[pos] != U'\n'; break;
                case op::char_class: advance = pos < n && classes_[in.a].contains(s[pos]); break;
                case op::split:
                    stack.emplace_back(in.b, pos);
                    pc = in.a;
                    continue;
                case op::jump:
                    pc = in.a;
                    continue;
                case op::end_anchor:  // Python's `$`: at the end, or before a final newline
                    if (pos == n || (pos + 1 == n && s[pos] == U'\n')) {
                        ++pc;
                        continue;
                    }
                    break;
                case op::match: return true;
            }
            if (!advance) break;
            ++pc;
            ++pos;
        }
    }
    return false;
}

}  // namespace rtb
