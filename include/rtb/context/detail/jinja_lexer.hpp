// The Jinja2 lexer: template text to tokens, following jinja2.lexer rule for
// rule (the order in which tag starts are tried, whitespace control with
// `-` and `+`, trim_blocks, lstrip_blocks, `{% raw %}`, comments, bracket
// balancing inside tags, Python string escapes and integer literals).
// Tokens point into the program's normalized source; nothing is copied but
// decoded string literals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/detail/jinja_text.hpp"

namespace rtb::detail::jinja {

/// An error at a place in the template: what the public layer turns into
/// "template NAME: line L, column C: MESSAGE (in `CONSTRUCT`)".
struct failure {
    std::size_t offset;                      ///< where, in the normalized source
    std::string message;
    std::size_t construct_begin = npos;      ///< the tag it is in, when known
    std::size_t construct_end = npos;
    static constexpr std::size_t npos = std::string_view::npos;
};

enum class tok : std::uint8_t { data, variable_begin, variable_end, block_begin, block_end, name, string, integer, op, eof };

enum class op : std::uint8_t {
    none, add, sub, div, floordiv, mul, mod, pow, tilde, lbracket, rbracket, lparen, rparen, lbrace, rbrace,
    eq, ne, gt, gteq, lt, lteq, assign, dot, colon, pipe, comma, semicolon
};

struct token {
    tok type = tok::eof;
    jinja::op op = op::none;
    std::uint32_t offset = 0;   ///< first byte in the source
    std::uint32_t end = 0;      ///< one past the last byte
    std::uint32_t tag = 0;      ///< index of the `{{ }}` / `{% %}` tag holding it
    std::string_view text;      ///< data, a name, or a string literal's decoded value
    std::int64_t integer = 0;
};

/// Where a tag starts and ends in the source, for error messages.
struct tag_span {
    std::uint32_t begin = 0, end = 0;
};

/// The lexer's output, owned by the compiled program (tokens point into it).
struct token_stream {
    std::string source;                ///< the template with newlines normalized to \n
    std::vector<token> tokens;
    std::vector<tag_span> tags;
    std::deque<std::string> strings;   ///< decoded string literals
};

/// What the lexer needs from the options.
struct lexer_settings {
    bool trim_blocks = false;
    bool lstrip_blocks = false;
    bool keep_trailing_newline = false;
};

/// Jinja2's newline handling: \r\n, \r and \n all become \n, and one final
/// newline is dropped unless `keep_trailing_newline`.
inline std::string normalize_newlines(std::string_view text, bool keep_trailing_newline) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            out += '\n';
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        } else {
            out += text[i];
        }
    }
    if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

/// Tokenizes `ts.source` into `ts.tokens`. Throws failure.
void tokenize(token_stream& ts, const lexer_settings& settings);

// ---------------------------------------------------------------------------

namespace lex {

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool is_name_start(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
inline bool is_name_char(char c) noexcept { return is_name_start(c) || is_digit(c); }

class lexer {
public:
    lexer(token_stream& ts, const lexer_settings& s) : ts_(ts), s_(ts.source), set_(s) {}

    void run() {
        if (s_.size() > std::numeric_limits<std::uint32_t>::max() / 2)
            throw failure{0, "the template is too large"};
        for (;;) {
            const auto next = find_tag(pos_);
            if (next.kind == tag_kind::none) {
                emit_data(pos_, s_.size());
                break;
            }
            lead_data(pos_, next);
            switch (next.kind) {
                case tag_kind::raw: raw(next); break;
                case tag_kind::comment: comment(next); break;
                case tag_kind::variable:
                case tag_kind::block: tag(next); break;
                case tag_kind::none: break;
            }
        }
        push(tok::eof, static_cast<std::uint32_t>(s_.size()), static_cast<std::uint32_t>(s_.size()));
    }

private:
    enum class tag_kind : std::uint8_t { none, raw, variable, comment, block };
    struct tag_start {
        tag_kind kind = tag_kind::none;
        std::size_t at = 0;    // where `{` is
        char sign = 0;         // '-', '+' or 0
        std::size_t body = 0;  // first byte after the opener (for raw: after the whole `{% raw %}`)
    };

    // Jinja2's root rule: the first position where `{% raw %}`, `{{`, `{#` or
    // `{%` starts, tried in that order at each position.
    tag_start find_tag(std::size_t from) const {
        for (std::size_t i = s_.find('{', from); i != std::string_view::npos && i + 1 < s_.size();
             i = s_.find('{', i + 1)) {
            const char c = s_[i + 1];
            if (c != '%' && c != '{' && c != '#') continue;
            tag_start t;
            t.at = i;
            t.sign = i + 2 < s_.size() && (s_[i + 2] == '-' || s_[i + 2] == '+') ? s_[i + 2] : 0;
            t.body = i + 2 + (t.sign ? 1 : 0);
            if (c == '%') {
                if (const auto end = raw_begin_end(i); end) {
                    t.kind = tag_kind::raw;
                    t.body = end;
                } else {
                    t.kind = tag_kind::block;
                }
            } else {
                t.kind = c == '{' ? tag_kind::variable : tag_kind::comment;
            }
            return t;
        }
        return {};
    }

    std::size_t skip_space(std::size_t i) const { return i + space_prefix(s_.substr(i)); }
    bool at(std::size_t i, std::string_view w) const { return s_.substr(i, w.size()) == w; }

    // `{%(-|+|)\s*raw\s*(-%}\s*|%})` at `i`: the end of the match, or 0.
    std::size_t raw_begin_end(std::size_t i) const {
        std::size_t j = i + 2;
        if (j < s_.size() && (s_[j] == '-' || s_[j] == '+')) ++j;
        j = skip_space(j);
        if (!at(j, "raw")) return 0;
        j = skip_space(j + 3);
        if (at(j, "-%}")) return skip_space(j + 3);
        if (at(j, "%}")) return j + 2;
        return 0;
    }

    // The text before a tag, with the tag's whitespace control applied:
    // `-` strips all whitespace before it; otherwise lstrip_blocks strips
    // the spaces between the line's start and a block or comment tag.
    void lead_data(std::size_t from, const tag_start& t) {
        std::string_view text = s_.substr(from, t.at - from);
        strip_before(text, t.sign, t.kind != tag_kind::variable);
        emit_data(from, from + text.size());
        line_starting_ = t.kind == tag_kind::raw && s_[t.body - 1] == '\n';
    }

    void strip_before(std::string_view& text, char sign, bool block_like) const {
        if (sign == '-') {
            text = py_rstrip(text);
        } else if (sign != '+' && set_.lstrip_blocks && block_like) {
            const auto nl = text.rfind('\n');
            const std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
            if ((l_pos > 0 || line_starting_) && all_space(text.substr(l_pos))) text = text.substr(0, l_pos);
        }
    }

    void raw(const tag_start& t) {
        // `{%(-|+|)\s*endraw\s*(+%}|-%}\s*|%}\n?)`, the first one after the opener.
        for (std::size_t j = s_.find("{%", t.body); j != std::string_view::npos; j = s_.find("{%", j + 1)) {
            std::size_t k = j + 2;
            const char sign = k < s_.size() && (s_[k] == '-' || s_[k] == '+') ? s_[k] : 0;
            if (sign) ++k;
            k = skip_space(k);
            if (!at(k, "endraw")) continue;
            k = skip_space(k + 6);
            std::size_t end = 0;
            if (at(k, "+%}")) end = k + 3;
            else if (at(k, "-%}")) end = skip_space(k + 3);
            else if (at(k, "%}")) end = k + 2 + (set_.trim_blocks && at(k + 2, "\n") ? 1 : 0);
            else continue;
            std::string_view text = s_.substr(t.body, j - t.body);
            strip_before(text, sign, true);
            emit_data(t.body, t.body + text.size());
            line_starting_ = s_[end - 1] == '\n';
            pos_ = end;
            return;
        }
        throw failure{t.at, "{% raw %} is never closed by {% endraw %}", t.at, t.body};
    }

    void comment(const tag_start& t) {
        for (std::size_t j = s_.find('#', t.body > 0 ? t.body - 1 : 0); j != std::string_view::npos; j = s_.find('#', j + 1)) {
            if (j < t.body || !at(j, "#}")) continue;
            // `(.*?)(\+#}|\-#}\s*|#}\n?)`: the sign belongs to the closer only
            // when it is inside the comment's text.
            std::size_t end;
            if (j > t.body && s_[j - 1] == '+') end = j + 2;
            else if (j > t.body && s_[j - 1] == '-') end = skip_space(j + 2);
            else end = j + 2 + (set_.trim_blocks && at(j + 2, "\n") ? 1 : 0);
            line_starting_ = s_[end - 1] == '\n';
            pos_ = end;
            return;
        }
        throw failure{t.at, "comment {# is never closed by #}", t.at, std::min(s_.size(), t.at + 40)};
    }

    void tag(const tag_start& t) {
        const bool block = t.kind == tag_kind::block;
        tag_index_ = static_cast<std::uint32_t>(ts_.tags.size());
        ts_.tags.push_back({static_cast<std::uint32_t>(t.at), static_cast<std::uint32_t>(s_.size())});
        push(block ? tok::block_begin : tok::variable_begin, t.at, t.body);
        std::size_t p = t.body;
        std::vector<char> balance;
        for (;;) {
            if (p >= s_.size())
                throw failure{t.at, fmt::format("{} is never closed by {}", block ? "{%" : "{{", block ? "%}" : "}}"),
                              t.at, s_.size()};
            if (balance.empty()) {
                if (const auto end = tag_end(p, block); end) {
                    push(block ? tok::block_end : tok::variable_end, p, end);
                    ts_.tags[tag_index_].end = static_cast<std::uint32_t>(end);
                    line_starting_ = s_[end - 1] == '\n';
                    pos_ = end;
                    return;
                }
            }
            const unsigned char c = static_cast<unsigned char>(s_[p]);
            if (const auto ws = space_prefix(s_.substr(p)); ws) {
                p += ws;
            } else if (is_digit(static_cast<char>(c))) {
                p = number(p, t);
            } else if (is_name_start(static_cast<char>(c))) {
                std::size_t e = p;
                while (e < s_.size() && is_name_char(s_[e])) ++e;
                if (e < s_.size() && static_cast<unsigned char>(s_[e]) >= 0x80 && !space_prefix(s_.substr(e)))
                    fail(p, "names are ASCII letters, digits and '_' (non-ASCII names are not supported)", t);
                push(tok::name, p, e).text = s_.substr(p, e - p);
                p = e;
            } else if (c == '\'' || c == '"') {
                p = string(p, t);
            } else if (c >= 0x80) {
                fail(p, "unexpected character (non-ASCII names are not supported)", t);
            } else {
                p = operator_(p, balance, t);
            }
        }
    }

    // `\+%}|\-%}\s*|%}\n?` (block) or `\-}}\s*|}}` (variable) at `p`: the end, or 0.
    std::size_t tag_end(std::size_t p, bool block) const {
        if (block) {
            if (at(p, "+%}")) return p + 3;
            if (at(p, "-%}")) return skip_space(p + 3);
            if (at(p, "%}")) return p + 2 + (set_.trim_blocks && at(p + 2, "\n") ? 1 : 0);
            return 0;
        }
        if (at(p, "-}}")) return skip_space(p + 3);
        if (at(p, "}}")) return p + 2;
        return 0;
    }

    // `(\d+_)*\d+` at `i`: its end, or i when there is no digit.
    std::size_t digit_run(std::size_t i) const {
        if (i >= s_.size() || !is_digit(s_[i])) return i;
        std::size_t e = i;
        for (;;) {
            while (e < s_.size() && is_digit(s_[e])) ++e;
            if (e + 1 < s_.size() && s_[e] == '_' && is_digit(s_[e + 1])) {
                ++e;
                continue;
            }
            return e;
        }
    }

    // Jinja2's float_re: digits, then a fraction and/or an exponent.
    bool float_at(std::size_t p) const {
        if (p > 0 && s_[p - 1] == '.') return false;
        std::size_t e = digit_run(p);
        auto exponent = [&](std::size_t i) {
            if (i >= s_.size() || (s_[i] != 'e' && s_[i] != 'E')) return false;
            ++i;
            if (i < s_.size() && (s_[i] == '+' || s_[i] == '-')) ++i;
            return digit_run(i) > i;
        };
        if (e < s_.size() && s_[e] == '.' && digit_run(e + 1) > e + 1) return true;
        return exponent(e);
    }

    std::size_t number(std::size_t p, const tag_start& t) {
        if (float_at(p)) fail(p, "floating-point numbers are not supported", t);
        // Jinja2's integer_re, alternatives in its order.
        auto run = [&](std::size_t i, auto digit) {  // (_?D)+ from i: the end, or i
            std::size_t e = i;
            for (;;) {
                std::size_t k = e;
                if (k < s_.size() && s_[k] == '_') ++k;
                if (k < s_.size() && digit(s_[k])) e = k + 1;
                else return e;
            }
        };
        auto lower = [](char c) { return static_cast<char>(c | 0x20); };
        std::size_t end = p;
        int base = 10;
        if (s_[p] == '0' && p + 1 < s_.size()) {
            const char x = lower(s_[p + 1]);
            auto bin = [](char c) { return c == '0' || c == '1'; };
            auto oct = [](char c) { return c >= '0' && c <= '7'; };
            auto hex = [&](char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); };
            if (x == 'b' && run(p + 2, bin) > p + 2) end = run(p + 2, bin), base = 2;
            else if (x == 'o' && run(p + 2, oct) > p + 2) end = run(p + 2, oct), base = 8;
            else if (x == 'x' && run(p + 2, hex) > p + 2) end = run(p + 2, hex), base = 16;
        }
        if (end == p) {
            if (s_[p] == '0') end = run(p + 1, [](char c) { return c == '0'; });
            else end = run(p + 1, [](char c) { return is_digit(c); });
        }
        std::uint64_t v = 0;
        for (std::size_t i = base == 10 ? p : p + 2; i < end; ++i) {
            if (s_[i] == '_') continue;
            const char c = lower(s_[i]);
            const unsigned d = is_digit(c) ? static_cast<unsigned>(c - '0') : static_cast<unsigned>(c - 'a' + 10);
            if (v > (static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - d) / static_cast<unsigned>(base))
                fail(p, "integer literal is too large (64-bit integers are supported)", t);
            v = v * static_cast<unsigned>(base) + d;
        }
        push(tok::integer, p, end).integer = static_cast<std::int64_t>(v);
        return end;
    }

    // A Python string literal with its escapes (what Jinja2 decodes with
    // the "unicode-escape" codec).
    std::size_t string(std::size_t p, const tag_start& t) {
        const char quote = s_[p];
        std::size_t e = p + 1;
        for (;; ++e) {
            if (e >= s_.size()) fail(p, "the string is never closed", t);
            if (s_[e] == '\\') {
                if (++e >= s_.size()) fail(p, "the string is never closed", t);
            } else if (s_[e] == quote) {
                break;
            }
        }
        std::string& out = ts_.strings.emplace_back();
        for (std::size_t i = p + 1; i < e; ++i) {
            if (s_[i] != '\\') {
                out += s_[i];
                continue;
            }
            const char c = s_[++i];
            auto hex_escape = [&](std::size_t digits) {
                char32_t cp = 0;
                for (std::size_t k = 1; k <= digits; ++k) {
                    const char h = i + k < e ? static_cast<char>(s_[i + k] | 0x20) : 0;
                    if (!is_digit(h) && !(h >= 'a' && h <= 'f'))
                        fail(i - 1, fmt::format("truncated \\{} escape in a string", c), t);
                    cp = cp * 16 + static_cast<char32_t>(is_digit(h) ? h - '0' : h - 'a' + 10);
                }
                if (cp > 0x10FFFF) fail(i - 1, "\\U escape beyond U+10FFFF in a string", t);
                if (cp >= 0xD800 && cp <= 0xDFFF) fail(i - 1, "surrogate code points in strings are not supported", t);
                append_utf8(out, cp);
                i += digits;
            };
            switch (c) {
                case '\n': break;  // a backslash before a newline joins the lines
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'v': out += '\v'; break;
                case 'x': hex_escape(2); break;
                case 'u': hex_escape(4); break;
                case 'U': hex_escape(8); break;
                case 'N': fail(i - 1, "\\N{...} escapes are not supported", t);
                default:
                    if (c >= '0' && c <= '7') {
                        char32_t cp = static_cast<char32_t>(c - '0');
                        for (int k = 0; k < 2 && i + 1 < e && s_[i + 1] >= '0' && s_[i + 1] <= '7'; ++k)
                            cp = cp * 8 + static_cast<char32_t>(s_[++i] - '0');
                        append_utf8(out, cp);
                    } else if (static_cast<unsigned char>(c) >= 0x80) {
                        fail(i - 1, "a backslash before a non-ASCII character is not supported", t);
                    } else {
                        out += '\\';  // Python keeps unknown escapes as they are
                        out += c;
                    }
            }
        }
        push(tok::string, p, e + 1).text = out;
        return e + 1;
    }

    std::size_t operator_(std::size_t p, std::vector<char>& balance, const tag_start& t) {
        static constexpr std::pair<std::string_view, jinja::op> two[] = {
            {"//", op::floordiv}, {"**", op::pow}, {"==", op::eq}, {"!=", op::ne}, {">=", op::gteq}, {"<=", op::lteq}};
        for (const auto& [text, o] : two)
            if (at(p, text)) {
                push(tok::op, p, p + 2).op = o;
                return p + 2;
            }
        jinja::op o = op::none;
        const char c = s_[p];
        switch (c) {
            case '+': o = op::add; break;
            case '-': o = op::sub; break;
            case '/': o = op::div; break;
            case '*': o = op::mul; break;
            case '%': o = op::mod; break;
            case '~': o = op::tilde; break;
            case '[': o = op::lbracket; break;
            case ']': o = op::rbracket; break;
            case '(': o = op::lparen; break;
            case ')': o = op::rparen; break;
            case '{': o = op::lbrace; break;
            case '}': o = op::rbrace; break;
            case '>': o = op::gt; break;
            case '<': o = op::lt; break;
            case '=': o = op::assign; break;
            case '.': o = op::dot; break;
            case ':': o = op::colon; break;
            case '|': o = op::pipe; break;
            case ',': o = op::comma; break;
            case ';': o = op::semicolon; break;
            default: fail(p, fmt::format("unexpected character {}", quote_char(c)), t);
        }
        if (c == '{' || c == '(' || c == '[') {
            if (balance.size() >= 256) fail(p, "brackets are nested too deeply", t);
            balance.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
        } else if (c == '}' || c == ')' || c == ']') {
            if (balance.empty()) fail(p, fmt::format("unexpected '{}'", c), t);
            if (balance.back() != c) fail(p, fmt::format("unexpected '{}', expected '{}'", c, balance.back()), t);
            balance.pop_back();
        }
        push(tok::op, p, p + 1).op = o;
        return p + 1;
    }

    static std::string quote_char(char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F ? fmt::format("\\x{:02x}", u) : fmt::format("'{}'", c);
    }

    [[noreturn]] void fail(std::size_t at, std::string message, const tag_start& t) const {
        throw failure{at, std::move(message), t.at, std::min(s_.size(), std::max(at + 1, t.at + 2))};
    }

    void emit_data(std::size_t b, std::size_t e) {
        if (e > b) push(tok::data, b, e).text = s_.substr(b, e - b);
    }

    token& push(tok type, std::size_t b, std::size_t e) {
        auto& t = ts_.tokens.emplace_back();
        t.type = type;
        t.offset = static_cast<std::uint32_t>(b);
        t.end = static_cast<std::uint32_t>(e);
        t.tag = tag_index_;
        return t;
    }

    token_stream& ts_;
    std::string_view s_;
    lexer_settings set_;
    std::size_t pos_ = 0;
    bool line_starting_ = true;
    std::uint32_t tag_index_ = 0;
};

}  // namespace lex

inline void tokenize(token_stream& ts, const lexer_settings& settings) { lex::lexer(ts, settings).run(); }

}  // namespace rtb::detail::jinja
