// Go's regexp syntax (RE2, Perl flags: one-line, classes match newline, `.`
// does not), as far as moby's patternmatcher can produce it from a
// .dockerignore pattern, matched by a Pike VM in time linear in the input.
// Internal to the .dockerignore matcher.
//
// Supported: literals, escapes (punctuation, \a \f \t \n \r \v, octal, \x),
// \Q...\E, `.`, classes (ranges, negation, [:posix:] names, \d \s \w and
// their negations), ^ $ \A \z \b \B, groups ( ) (?: ) (?P<n> ) (?<n> ),
// alternation, * + ? {n} {n,} {n,m} (greedy or not: only whether a match
// exists matters here). Not supported, reported as errors: Unicode classes
// (\p, \P) other than \p{Any}, and flag groups such as (?i).
#pragma once

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/context/detail/go_text.hpp"

namespace rtb::detail::go {

/// A syntax error, worded as Go words it ("missing closing ]: `[a`"), or an
/// unsupported construct (then `unsupported` is set).
struct regexp_error {
    std::string message;
    bool unsupported = false;
};

class regexp {
public:
    /// Compiles `expr`; on failure returns false and fills `err`.
    static bool compile(std::string_view expr, regexp& out, regexp_error& err);

    /// regexp.MatchString: whether any substring of `text` matches.
    bool match(std::string_view text) const;

    std::size_t program_size() const noexcept { return prog_.size(); }

    /// The largest program compile() accepts (Go rejects huge ones too).
    static constexpr std::size_t max_program = 50'000;
    /// Nesting depth limit, as Go's parser (1000).
    static constexpr int max_depth = 1000;

private:
    struct char_class {
        std::bitset<128> ascii;
        std::vector<std::pair<char32_t, char32_t>> ranges;  // sorted, merged, >= 128 parts
        bool contains(char32_t c) const noexcept {
            if (c < 128) return ascii.test(c);
            auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                                       [](char32_t v, const auto& r) { return v < r.first; });
            return it != ranges.begin() && c <= std::prev(it)->second;
        }
    };
    enum class op : std::uint8_t {
        cls,            // a = class index
        any_not_nl,
        split,          // a, b
        jmp,            // a
        begin_text,
        end_text,
        word_boundary,
        not_word_boundary,
        match,
    };
    struct instr {
        op code;
        std::uint32_t a = 0, b = 0;
    };
    bool run(std::string_view text) const;

    std::vector<instr> prog_;
    std::vector<char_class> classes_;
    bool anchored_start_ = false;  // program begins with begin_text: only try position 0
    // Literal text every match must start / end with (UTF-8), from a
    // top-level "^lit..." / "...lit$": a cheap rejection before the VM.
    std::string required_prefix_, required_suffix_;

    friend class regexp_parser;
};

// ---------------------------------------------------------------------------

using rune_ranges = std::vector<std::pair<char32_t, char32_t>>;

inline void normalize_ranges(rune_ranges& r) {
    std::sort(r.begin(), r.end());
    rune_ranges out;
    for (const auto& x : r) {
        if (!out.empty() && x.first <= out.back().second + 1) out.back().second = std::max(out.back().second, x.second);
        else out.push_back(x);
    }
    r = std::move(out);
}

inline rune_ranges negate_ranges(const rune_ranges& in) {
    rune_ranges out;
    char32_t next = 0;
    for (const auto& [lo, hi] : in) {
        if (lo > next) out.emplace_back(next, lo - 1);
        next = hi + 1;
    }
    if (next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
    return out;
}

class regexp_parser {
public:
    explicit regexp_parser(std::string_view expr) : whole_(expr), t_(expr) {}

    bool run(regexp& out, regexp_error& err) {
        try {
            const int root = parse_alternation(0);
            if (!t_.empty()) {
                // only a stray ')' stops the top level early
                fail("unexpected ): `" + std::string(whole_) + "`");
            }
            compile(root, out);
            return true;
        } catch (const regexp_error& e) {
            err = e;
            return false;
        }
    }

private:
    enum class kind : std::uint8_t {
        empty, cls, any_not_nl, begin_text, end_text, word_b, not_word_b, concat, alternate, repeat
    };
    struct node {
        kind k;
        rune_ranges ranges;      // cls
        std::vector<int> subs;   // concat, alternate, repeat (1)
        int min = 0, max = -1;   // repeat; max -1: unbounded
    };

    [[noreturn]] static void fail(std::string message, bool unsupported = false) {
        throw regexp_error{std::move(message), unsupported};
    }
    static std::string quote(std::string_view s) {
        std::string q;
        q.reserve(s.size() + 2);
        q.push_back('`');
        q.append(s);
        q.push_back('`');
        return q;
    }

    int add(node n) {
        nodes_.push_back(std::move(n));
        return static_cast<int>(nodes_.size() - 1);
    }
    int literal(char32_t r) { return add({kind::cls, {{r, r}}, {}, 0, -1}); }

    char32_t next_rune(std::string_view& t) {
        const auto d = decode_rune(t);
        if (d.rune == rune_error && d.width == 1) fail("invalid UTF-8: " + quote(t));
        t.remove_prefix(d.width);
        return d.rune;
    }

    static bool is_alnum(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
    static int unhex(char32_t c) {
        if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
        return -1;
    }

    // parseEscape: `s` starts at the backslash.
    char32_t parse_escape(std::string_view& s) {
        const std::string_view start = s;
        std::string_view t = s.substr(1);
        if (t.empty()) fail("trailing backslash at end of expression: ``");
        char32_t c = next_rune(t);
        auto invalid = [&]() -> char32_t {
            fail("invalid escape sequence: " + quote(start.substr(0, start.size() - t.size())));
        };
        switch (c) {
            case '1': case '2': case '3': case '4': case '5': case '6': case '7':
                if (t.empty() || t[0] < '0' || t[0] > '7') return invalid();
                [[fallthrough]];
            case '0': {
                char32_t r = c - '0';
                for (int i = 1; i < 3; ++i) {
                    if (t.empty() || t[0] < '0' || t[0] > '7') break;
                    r = r * 8 + static_cast<char32_t>(t[0] - '0');
                    t.remove_prefix(1);
                }
                s = t;
                return r;
            }
            case 'x': {
                if (t.empty()) return invalid();
                c = next_rune(t);
                if (c == '{') {
                    int nhex = 0;
                    char32_t r = 0;
                    while (true) {
                        if (t.empty()) return invalid();
                        c = next_rune(t);
                        if (c == '}') break;
                        const int v = unhex(c);
                        if (v < 0) return invalid();
                        r = r * 16 + static_cast<char32_t>(v);
                        if (r > 0x10FFFF) return invalid();
                        ++nhex;
                    }
                    if (nhex == 0) return invalid();
                    s = t;
                    return r;
                }
                const int x = unhex(c);
                if (t.empty()) return invalid();
                c = next_rune(t);
                const int y = unhex(c);
                if (x < 0 || y < 0) return invalid();
                s = t;
                return static_cast<char32_t>(x * 16 + y);
            }
            case 'a': s = t; return '\a';
            case 'f': s = t; return '\f';
            case 'n': s = t; return '\n';
            case 'r': s = t; return '\r';
            case 't': s = t; return '\t';
            case 'v': s = t; return '\v';
            default:
                if (c < 0x80 && !is_alnum(c)) {
                    s = t;
                    return c;
                }
                return invalid();
        }
    }

    // \d \D \s \S \w \W; returns false when `t` does not start with one.
    static bool perl_class(std::string_view& t, rune_ranges& r) {
        if (t.size() < 2 || t[0] != '\\') return false;
        rune_ranges g;
        bool neg = false;
        switch (t[1]) {
            case 'd': neg = false; g = {{'0', '9'}}; break;
            case 'D': neg = true; g = {{'0', '9'}}; break;
            case 's': neg = false; g = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}}; break;
            case 'S': neg = true; g = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}}; break;
            case 'w': neg = false; g = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; break;
            case 'W': neg = true; g = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; break;
            default: return false;
        }
        if (neg) g = negate_ranges(g);
        r.insert(r.end(), g.begin(), g.end());
        t.remove_prefix(2);
        return true;
    }

    // \p{Any} only; every other Unicode class is reported unsupported.
    bool unicode_class(std::string_view& t, rune_ranges& r) {
        if (t.size() < 2 || t[0] != '\\' || (t[1] != 'p' && t[1] != 'P')) return false;
        const bool neg_p = t[1] == 'P';
        std::string_view rest = t.substr(2);
        std::string_view seq;
        std::string name;
        if (rest.empty()) fail("invalid character class range: " + quote(t));
        if (rest[0] == '{') {
            const auto end = rest.find('}');
            if (end == std::string_view::npos) fail("invalid character class range: " + quote(t));
            name = std::string(rest.substr(1, end - 1));
            seq = t.substr(0, 2 + end + 1);
            rest.remove_prefix(end + 1);
        } else {
            std::string_view tmp = rest;
            next_rune(tmp);
            name = std::string(rest.substr(0, rest.size() - tmp.size()));
            seq = t.substr(0, 2 + name.size());
            rest = tmp;
        }
        bool neg = neg_p;
        if (!name.empty() && name[0] == '^') {
            neg = !neg;
            name.erase(0, 1);
        }
        if (name != "Any")
            fail("Unicode class " + quote(seq) + " (Go regexp syntax) is not supported", true);
        rune_ranges g{{0, 0x10FFFF}};
        if (neg) g.clear();
        r.insert(r.end(), g.begin(), g.end());
        t = rest;
        return true;
    }

    // [:alpha:] and friends; returns false when `t` is not a POSIX class.
    static bool posix_class(std::string_view& t, rune_ranges& r) {
        if (t.size() < 2 || t[0] != '[' || t[1] != ':') return false;
        const auto i = t.substr(2).find(":]");
        if (i == std::string_view::npos) return false;
        const std::string_view name = t.substr(0, i + 4);
        struct group {
            std::string_view name;
            rune_ranges ranges;
        };
        static const std::array<group, 14> groups{{
            {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}},
            {"alpha", {{'A', 'Z'}, {'a', 'z'}}},
            {"ascii", {{0, 0x7F}}},
            {"blank", {{'\t', '\t'}, {' ', ' '}}},
            {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}},
            {"digit", {{'0', '9'}}},
            {"graph", {{'!', '~'}}},
            {"lower", {{'a', 'z'}}},
            {"print", {{' ', '~'}}},
            {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}},
            {"space", {{'\t', '\r'}, {' ', ' '}}},
            {"upper", {{'A', 'Z'}}},
            {"word", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}},
            {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}},
        }};
        std::string_view inner = name.substr(2, name.size() - 4);
        bool neg = false;
        if (!inner.empty() && inner[0] == '^') {
            neg = true;
            inner.remove_prefix(1);
        }
        for (const auto& g : groups) {
            if (g.name == inner) {
                const auto rr = neg ? negate_ranges(g.ranges) : g.ranges;
                r.insert(r.end(), rr.begin(), rr.end());
                t.remove_prefix(name.size());
                return true;
            }
        }
        fail("invalid character class range: " + quote(name));
    }

    char32_t class_char(std::string_view& t, std::string_view whole_class) {
        if (t.empty()) fail("missing closing ]: " + quote(whole_class));
        if (t[0] == '\\') return parse_escape(t);
        return next_rune(t);
    }

    // parseClass: t_ starts at '['.
    int parse_class() {
        const std::string_view whole_class = t_;
        std::string_view t = t_.substr(1);
        rune_ranges r;
        bool neg = false;
        if (!t.empty() && t[0] == '^') {
            neg = true;
            t.remove_prefix(1);
        }
        bool first = true;  // ']' is literal as the first character
        while (t.empty() || t[0] != ']' || first) {
            first = false;
            if (t.empty()) fail("missing closing ]: " + quote(whole_class));
            if (t.size() > 2 && t[0] == '[' && t[1] == ':' && posix_class(t, r)) continue;
            if (unicode_class(t, r)) continue;
            if (perl_class(t, r)) continue;
            const std::string_view range_start = t;
            const char32_t lo = class_char(t, whole_class);
            char32_t hi = lo;
            if (t.size() >= 2 && t[0] == '-' && t[1] != ']') {
                t.remove_prefix(1);
                hi = class_char(t, whole_class);
                if (hi < lo)
                    fail("invalid character class range: " +
                         quote(range_start.substr(0, range_start.size() - t.size())));
            }
            r.emplace_back(lo, hi);
        }
        t.remove_prefix(1);  // ']'
        t_ = t;
        normalize_ranges(r);
        if (neg) r = negate_ranges(r);  // classes match '\n' (Go's ClassNL)
        return add({kind::cls, std::move(r), {}, 0, -1});
    }

    static bool parse_int(std::string_view& s, int& v) {
        if (s.empty() || s[0] < '0' || s[0] > '9') return false;
        if (s.size() >= 2 && s[0] == '0' && s[1] >= '0' && s[1] <= '9') return false;  // no leading zeros
        v = 0;
        while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
            if (v < 100'000'000) v = v * 10 + (s[0] - '0');
            else v = 100'000'000;  // Go reports -1 for overflow; both fail the size check
            s.remove_prefix(1);
        }
        return true;
    }
    // parseRepeat: `{n}`, `{n,}`, `{n,m}` at the front of s.
    static bool parse_repeat(std::string_view s, int& min, int& max, std::string_view& after) {
        if (s.empty() || s[0] != '{') return false;
        s.remove_prefix(1);
        if (!parse_int(s, min)) return false;
        if (s.empty()) return false;
        if (s[0] != ',') {
            max = min;
        } else {
            s.remove_prefix(1);
            if (s.empty()) return false;
            if (s[0] == '}') max = -1;
            else if (!parse_int(s, max)) return false;
        }
        if (s.empty() || s[0] != '}') return false;
        s.remove_prefix(1);
        after = s;
        return true;
    }

    int parse_alternation(int depth) {
        if (depth > regexp::max_depth) fail("expression nests too deeply");
        std::vector<int> alts{parse_concat(depth)};
        while (!t_.empty() && t_[0] == '|') {
            t_.remove_prefix(1);
            alts.push_back(parse_concat(depth));
        }
        if (alts.size() == 1) return alts[0];
        return add({kind::alternate, {}, std::move(alts), 0, -1});
    }

    int parse_concat(int depth) {
        std::vector<int> items;
        std::string_view last_repeat;  // text of the previous repetition operator
        while (!t_.empty() && t_[0] != '|' && t_[0] != ')') {
            const std::string_view before = t_;
            const char c = t_[0];
            std::string_view repeat_text;
            auto apply_repeat = [&](int min, int max, std::string_view after) {
                if (!after.empty() && after[0] == '?') after.remove_prefix(1);  // non-greedy
                const std::string_view op_text = before.substr(0, before.size() - after.size());
                if (!last_repeat.empty())
                    fail("invalid nested repetition operator: " +
                         quote(last_repeat.substr(0, last_repeat.size() - after.size())));
                if (items.empty()) fail("missing argument to repetition operator: " + quote(op_text));
                const int sub = items.back();
                items.back() = add({kind::repeat, {}, {sub}, min, max});
                t_ = after;
                repeat_text = before;
            };
            switch (c) {
                case '(': {
                    if (t_.size() >= 2 && t_[1] == '?') {
                        std::string_view r = t_.substr(2);
                        if (!r.empty() && r[0] == ':') {
                            t_ = r.substr(1);
                        } else if ((r.size() >= 2 && r[0] == 'P' && r[1] == '<') || (!r.empty() && r[0] == '<')) {
                            const auto end = r.find('>');
                            if (end == std::string_view::npos) fail("invalid named capture: " + quote(t_));
                            t_ = r.substr(end + 1);
                        } else {
                            fail("flag group " + quote(t_.substr(0, std::min<std::size_t>(t_.size(), 6))) +
                                     " (Go regexp syntax) is not supported",
                                 true);
                        }
                    } else {
                        t_.remove_prefix(1);
                    }
                    const int sub = parse_alternation(depth + 1);
                    if (t_.empty() || t_[0] != ')') fail("missing closing ): " + quote(whole_));
                    t_.remove_prefix(1);
                    items.push_back(sub);
                    break;
                }
                case '^': t_.remove_prefix(1); items.push_back(add({kind::begin_text, {}, {}, 0, -1})); break;
                case '$': t_.remove_prefix(1); items.push_back(add({kind::end_text, {}, {}, 0, -1})); break;
                case '.': t_.remove_prefix(1); items.push_back(add({kind::any_not_nl, {}, {}, 0, -1})); break;
                case '[': items.push_back(parse_class()); break;
                case '*': apply_repeat(0, -1, t_.substr(1)); break;
                case '+': apply_repeat(1, -1, t_.substr(1)); break;
                case '?': apply_repeat(0, 1, t_.substr(1)); break;
                case '{': {
                    int min = 0, max = 0;
                    std::string_view after;
                    if (!parse_repeat(t_, min, max, after)) {
                        t_.remove_prefix(1);
                        items.push_back(literal('{'));
                        break;
                    }
                    if (min > 1000 || max > 1000 || (max >= 0 && min > max))
                        fail("invalid repeat count: " + quote(t_.substr(0, t_.size() - after.size())));
                    apply_repeat(min, max, after);
                    break;
                }
                case '\\': {
                    if (t_.size() >= 2) {
                        switch (t_[1]) {
                            case 'A': t_.remove_prefix(2); items.push_back(add({kind::begin_text, {}, {}, 0, -1})); continue;
                            case 'z': t_.remove_prefix(2); items.push_back(add({kind::end_text, {}, {}, 0, -1})); continue;
                            case 'b': t_.remove_prefix(2); items.push_back(add({kind::word_b, {}, {}, 0, -1})); continue;
                            case 'B': t_.remove_prefix(2); items.push_back(add({kind::not_word_b, {}, {}, 0, -1})); continue;
                            case 'C': fail("invalid escape sequence: " + quote(t_.substr(0, 2)));
                            case 'Q': {
                                std::string_view lit = t_.substr(2);
                                const auto end = lit.find("\\E");
                                if (end == std::string_view::npos) {
                                    t_ = {};
                                } else {
                                    t_ = lit.substr(end + 2);
                                    lit = lit.substr(0, end);
                                }
                                while (!lit.empty()) items.push_back(literal(next_rune(lit)));
                                continue;
                            }
                            default: break;
                        }
                    }
                    rune_ranges r;
                    if (unicode_class(t_, r) || perl_class(t_, r)) {
                        normalize_ranges(r);
                        items.push_back(add({kind::cls, std::move(r), {}, 0, -1}));
                        break;
                    }
                    items.push_back(literal(parse_escape(t_)));
                    break;
                }
                default: items.push_back(literal(next_rune(t_))); break;
            }
            last_repeat = repeat_text;
        }
        if (items.empty()) return add({kind::empty, {}, {}, 0, -1});
        if (items.size() == 1) return items[0];
        return add({kind::concat, {}, std::move(items), 0, -1});
    }

    // --- compilation to a Pike VM program -----------------------------------

    using instr = regexp::instr;
    using op = regexp::op;

    std::uint32_t emit(regexp& re, instr i) {
        if (re.prog_.size() >= regexp::max_program) fail("expression too large");
        re.prog_.push_back(i);
        return static_cast<std::uint32_t>(re.prog_.size() - 1);
    }
    std::uint32_t here(const regexp& re) const { return static_cast<std::uint32_t>(re.prog_.size()); }

    void gen(int id, regexp& re) {
        const node& n = nodes_[static_cast<std::size_t>(id)];
        switch (n.k) {
            case kind::empty: break;
            case kind::cls: {
                regexp::char_class c;
                for (const auto& [lo, hi] : n.ranges) {
                    for (char32_t x = lo; x <= hi && x < 128; ++x) c.ascii.set(x);
                    if (hi >= 128) c.ranges.emplace_back(std::max<char32_t>(lo, 128), hi);
                }
                re.classes_.push_back(std::move(c));
                emit(re, {op::cls, static_cast<std::uint32_t>(re.classes_.size() - 1), 0});
                break;
            }
            case kind::any_not_nl: emit(re, {op::any_not_nl, 0, 0}); break;
            case kind::begin_text: emit(re, {op::begin_text, 0, 0}); break;
            case kind::end_text: emit(re, {op::end_text, 0, 0}); break;
            case kind::word_b: emit(re, {op::word_boundary, 0, 0}); break;
            case kind::not_word_b: emit(re, {op::not_word_boundary, 0, 0}); break;
            case kind::concat:
                for (int s : n.subs) gen(s, re);
                break;
            case kind::alternate: {
                std::vector<std::uint32_t> jumps;
                for (std::size_t i = 0; i < n.subs.size(); ++i) {
                    if (i + 1 < n.subs.size()) {
                        const auto split = emit(re, {op::split, 0, 0});
                        re.prog_[split].a = here(re);
                        gen(n.subs[i], re);
                        jumps.push_back(emit(re, {op::jmp, 0, 0}));
                        re.prog_[split].b = here(re);
                    } else {
                        gen(n.subs[i], re);
                    }
                }
                for (auto j : jumps) re.prog_[j].a = here(re);
                break;
            }
            case kind::repeat: {
                const int sub = n.subs[0];
                for (int i = 0; i < n.min; ++i) gen(sub, re);
                if (n.max < 0) {
                    // star: L: split(body, out); body; jmp L
                    const auto split = emit(re, {op::split, 0, 0});
                    re.prog_[split].a = here(re);
                    gen(sub, re);
                    emit(re, {op::jmp, split, 0});
                    re.prog_[split].b = here(re);
                } else {
                    std::vector<std::uint32_t> splits;
                    for (int i = n.min; i < n.max; ++i) {
                        const auto split = emit(re, {op::split, 0, 0});
                        re.prog_[split].a = here(re);
                        splits.push_back(split);
                        gen(sub, re);
                    }
                    for (auto s : splits) re.prog_[s].b = here(re);
                }
                break;
            }
        }
    }

    void compile(int root, regexp& re) {
        re.prog_.clear();
        re.classes_.clear();
        gen(root, re);
        emit(re, {op::match, 0, 0});
        re.anchored_start_ = !re.prog_.empty() && re.prog_[0].code == op::begin_text;
        required_literals(root, re);
    }

    // A single-rune class that is not U+FFFD (which also stands for any
    // invalid byte, so it cannot be compared as bytes).
    bool literal_rune(int id, char32_t& r) const {
        const node& n = nodes_[static_cast<std::size_t>(id)];
        if (n.k != kind::cls || n.ranges.size() != 1 || n.ranges[0].first != n.ranges[0].second) return false;
        r = n.ranges[0].first;
        return r != rune_error;
    }
    void required_literals(int root, regexp& re) const {
        const node& n = nodes_[static_cast<std::size_t>(root)];
        if (n.k != kind::concat) return;
        const auto& subs = n.subs;
        char32_t r = 0;
        if (!subs.empty() && nodes_[static_cast<std::size_t>(subs.front())].k == kind::begin_text) {
            for (std::size_t i = 1; i < subs.size() && literal_rune(subs[i], r); ++i) append_rune(re.required_prefix_, r);
        }
        if (!subs.empty() && nodes_[static_cast<std::size_t>(subs.back())].k == kind::end_text) {
            std::vector<char32_t> tail;
            for (std::size_t i = subs.size() - 1; i-- > 0 && literal_rune(subs[i], r);) tail.push_back(r);
            for (auto it = tail.rbegin(); it != tail.rend(); ++it) append_rune(re.required_suffix_, *it);
        }
    }

    std::string_view whole_;
    std::string_view t_;
    std::vector<node> nodes_;
};

inline bool regexp::compile(std::string_view expr, regexp& out, regexp_error& err) {
    // Go rejects invalid UTF-8 anywhere in the expression.
    for (std::string_view s = expr; !s.empty();) {
        const auto d = decode_rune(s);
        if (d.rune == rune_error && d.width == 1) {
            err = {"invalid UTF-8: `" + std::string(s) + "`", false};
            return false;
        }
        s.remove_prefix(d.width);
    }
    regexp_parser p(expr);
    return p.run(out, err);
}

inline bool regexp::match(std::string_view text) const {
    if (!text.starts_with(required_prefix_) || !text.ends_with(required_suffix_)) return false;
    return run(text);
}

inline bool regexp::run(std::string_view text) const {
    // Pike VM over runes; threads deduplicated per position, so the work is
    // O(text length x program size) whatever the pattern.
    struct scratch {
        std::vector<std::uint32_t> clist, pending, stack, mark;
        std::uint32_t generation = 0;
    };
    thread_local scratch s;
    const std::size_t n = prog_.size();
    if (s.mark.size() < n) {
        s.mark.assign(n, 0);
        s.generation = 0;
    }
    auto is_word = [](char32_t r) {
        return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_';
    };
    bool matched = false;
    // Follows empty-width instructions from pc at the current position.
    auto add_thread = [&](std::uint32_t pc, bool at_begin, bool at_end, bool prev_word, bool next_word) {
        s.stack.clear();
        s.stack.push_back(pc);
        while (!s.stack.empty()) {
            const auto p = s.stack.back();
            s.stack.pop_back();
            if (s.mark[p] == s.generation) continue;
            s.mark[p] = s.generation;
            const instr& i = prog_[p];
            switch (i.code) {
                case op::jmp: s.stack.push_back(i.a); break;
                case op::split:
                    s.stack.push_back(i.b);
                    s.stack.push_back(i.a);
                    break;
                case op::begin_text: if (at_begin) s.stack.push_back(p + 1); break;
                case op::end_text: if (at_end) s.stack.push_back(p + 1); break;
                case op::word_boundary: if (prev_word != next_word) s.stack.push_back(p + 1); break;
                case op::not_word_boundary: if (prev_word == next_word) s.stack.push_back(p + 1); break;
                case op::match: matched = true; break;
                default: s.clist.push_back(p); break;
            }
        }
    };

    s.pending.clear();
    std::size_t pos = 0;
    bool prev_word = false;
    while (true) {
        const bool at_end = pos >= text.size();
        const decoded_rune cur = at_end ? decoded_rune{0, 0} : decode_rune(text.substr(pos));
        if (++s.generation == 0) {  // wrapped: forget old marks
            std::fill(s.mark.begin(), s.mark.end(), 0);
            s.generation = 1;
        }
        const bool next_word = !at_end && is_word(cur.rune);
        s.clist.clear();
        for (auto pc : s.pending) add_thread(pc, pos == 0, at_end, prev_word, next_word);
        if (pos == 0 || !anchored_start_) add_thread(0, pos == 0, at_end, prev_word, next_word);
        if (matched) return true;
        if (at_end || (anchored_start_ && s.clist.empty())) return false;
        s.pending.clear();
        for (auto pc : s.clist) {
            const instr& i = prog_[pc];
            const bool ok = i.code == op::cls ? classes_[i.a].contains(cur.rune) : cur.rune != '\n';
            if (ok) s.pending.push_back(pc + 1);
        }
        prev_word = is_word(cur.rune);
        pos += cur.width;
    }
}

}  // namespace rtb::detail::go
