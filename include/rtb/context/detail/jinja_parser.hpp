// The Jinja2 parser: tokens to the template tree, following jinja2.parser
// function for function (precedence, where conditional expressions and
// tuples are allowed, how tests take arguments) so that a template parses
// here exactly when, and exactly as, it parses in Jinja2. Constructs outside
// rtb's subset are refused with their place, never skipped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/detail/jinja_ast.hpp"

namespace rtb::detail::jinja {

/// Parses `prog.lexed.tokens` into `prog.body`. Throws failure.
void parse(program& prog, std::size_t max_nesting);

// ---------------------------------------------------------------------------

namespace syntax {

inline bool known_filter(std::string_view n, filter_id& id) {
    static constexpr std::pair<std::string_view, filter_id> table[] = {
        {"default", filter_id::default_}, {"d", filter_id::default_}, {"lower", filter_id::lower},
        {"upper", filter_id::upper},      {"trim", filter_id::trim},  {"replace", filter_id::replace},
        {"join", filter_id::join},        {"length", filter_id::length}, {"count", filter_id::length},
        {"first", filter_id::first},      {"last", filter_id::last},  {"string", filter_id::string}};
    for (const auto& [name, f] : table)
        if (name == n) return id = f, true;
    return false;
}

inline bool jinja_builtin_filter(std::string_view n) {
    static constexpr std::string_view names[] = {
        "abs", "attr", "batch", "capitalize", "center", "dictsort", "e", "escape", "filesizeformat", "float",
        "forceescape", "format", "groupby", "indent", "int", "items", "list", "map", "max", "min", "pprint",
        "random", "reject", "rejectattr", "reverse", "round", "safe", "select", "selectattr", "slice", "sort",
        "striptags", "sum", "title", "tojson", "truncate", "unique", "urlencode", "urlize", "wordcount",
        "wordwrap", "xmlattr"};
    return std::find(std::begin(names), std::end(names), n) != std::end(names);
}

inline bool jinja_builtin_test(std::string_view n) {
    static constexpr std::string_view names[] = {
        "boolean", "callable", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter", "float",
        "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne",
        "number", "odd", "sameas", "sequence", "string", "test", "true", "upper"};
    return std::find(std::begin(names), std::end(names), n) != std::end(names);
}

class parser {
public:
    parser(program& p, std::size_t max_nesting) : p_(p), toks_(p.lexed.tokens), max_nesting_(max_nesting) {}

    void run() {
        p_.body = subparse({});
        if (cur().type != tok::eof) fail(cur(), "internal parser error");  // subparse without end tags reads to the end
    }

private:
    struct open_block {
        std::string_view name;
        std::uint32_t offset, tag;
        std::vector<std::string_view> ends;
    };
    // Bounds the parser's recursion: blocks inside blocks, and expressions
    // inside expressions, each at most max_nesting deep.
    class nesting_guard {
    public:
        nesting_guard(parser& p, std::size_t& depth, const token& t) : depth_(depth) {
            if (++depth_ > p.max_nesting_) {
                --depth_;
                p.fail(t, fmt::format("the template nests blocks or expressions more than {} deep", p.max_nesting_));
            }
        }
        ~nesting_guard() { --depth_; }
        nesting_guard(const nesting_guard&) = delete;
        nesting_guard& operator=(const nesting_guard&) = delete;

    private:
        std::size_t& depth_;
    };

    // -- tokens

    const token& cur() const { return toks_[i_]; }
    const token& look() const { return toks_[std::min(i_ + 1, toks_.size() - 1)]; }
    const token& next() {
        const token& t = toks_[i_];
        if (t.type != tok::eof) ++i_;
        return t;
    }
    static bool is_name(const token& t, std::string_view n) { return t.type == tok::name && t.text == n; }
    static bool is_op(const token& t, op o) { return t.type == tok::op && t.op == o; }
    bool skip_name(std::string_view n) {
        if (!is_name(cur(), n)) return false;
        next();
        return true;
    }
    bool skip_op(op o) {
        if (!is_op(cur(), o)) return false;
        next();
        return true;
    }

    std::string describe(const token& t) const {
        switch (t.type) {
            case tok::data: return "template text";
            case tok::variable_begin: return "'{{'";
            case tok::variable_end: return "'}}'";
            case tok::block_begin: return "'{%'";
            case tok::block_end: return "'%}'";
            case tok::name: return fmt::format("'{}'", t.text);
            case tok::string: return "a string";
            case tok::integer: return fmt::format("{}", t.integer);
            case tok::op: return fmt::format("'{}'", p_.lexed.source.substr(t.offset, t.end - t.offset));
            case tok::eof: return "the end of the template";
        }
        return "a token";
    }

    [[noreturn]] void fail(const token& t, std::string message) const {
        // Data and the end of the template are in no tag.
        if (t.type == tok::data || t.type == tok::eof || t.tag >= p_.lexed.tags.size())
            throw failure{t.offset, std::move(message)};
        const auto& span = p_.lexed.tags[t.tag];
        throw failure{t.offset, std::move(message), span.begin, span.end};
    }

    [[noreturn]] void unsupported(const token& t, std::string_view what) const {
        fail(t, fmt::format("{} not supported", what));
    }

    void expect_op(op o, std::string_view text) {
        if (!is_op(cur(), o)) fail(cur(), fmt::format("expected '{}', got {}", text, describe(cur())));
        next();
    }
    const token& expect_name(std::string_view n = {}) {
        if (cur().type != tok::name || (!n.empty() && cur().text != n))
            fail(cur(), fmt::format("expected {}, got {}", n.empty() ? "a name" : fmt::format("'{}'", n), describe(cur())));
        return next();
    }
    void expect_block_end() {
        if (cur().type != tok::block_end) fail(cur(), fmt::format("expected '%}}', got {}", describe(cur())));
        next();
    }
    void expect_variable_end() {
        if (cur().type != tok::variable_end) fail(cur(), fmt::format("expected '}}}}', got {}", describe(cur())));
        next();
    }

    // -- statements

    expr* make(expr_kind k, const token& at) {
        auto& e = p_.exprs.emplace_back();
        e.kind = k;
        e.offset = at.offset;
        e.tag = at.tag;
        return &e;
    }
    stmt* make_stmt(stmt_kind k, const token& at) {
        auto& s = p_.stmts.emplace_back();
        s.kind = k;
        s.offset = at.offset;
        s.tag = at.tag;
        return &s;
    }

    std::vector<stmt*> subparse(std::vector<std::string_view> ends) {
        std::vector<stmt*> body;
        stmt* output = nullptr;
        auto add = [&](output_part part, const token& at) {
            if (!output) body.push_back(output = make_stmt(stmt_kind::output, at));
            output->parts.push_back(part);
        };
        while (cur().type != tok::eof) {
            const token& t = cur();
            if (t.type == tok::data) {
                add({t.text, nullptr}, t);
                next();
            } else if (t.type == tok::variable_begin) {
                next();
                add({{}, parse_tuple(false, true, {}, false)}, t);
                expect_variable_end();
            } else if (t.type == tok::block_begin) {
                output = nullptr;
                next();
                if (cur().type == tok::name && std::find(ends.begin(), ends.end(), cur().text) != ends.end())
                    return body;
                body.push_back(parse_statement());
                expect_block_end();
            } else {
                fail(t, fmt::format("unexpected {}", describe(t)));
            }
        }
        return body;
    }

    stmt* parse_statement() {
        const token& t = cur();
        if (t.type != tok::name) fail(t, fmt::format("expected a tag name, got {}", describe(t)));
        if (t.text == "if") return parse_if();
        if (t.text == "for") return parse_for();
        if (t.text == "set") return parse_set();
        if (t.text == "macro") return parse_macro();
        static constexpr std::string_view jinja_tags[] = {"block", "extends", "print", "include", "from", "import",
                                                          "with", "autoescape", "call", "filter"};
        if (std::find(std::begin(jinja_tags), std::end(jinja_tags), t.text) != std::end(jinja_tags))
            fail(t, fmt::format("the {{% {} %}} tag is not supported (supported: if, for, set, macro, raw)", t.text));
        unknown_tag(t);
    }

    [[noreturn]] void unknown_tag(const token& t) const {
        for (auto b = blocks_.rbegin(); b != blocks_.rend(); ++b)
            if (std::find(b->ends.begin(), b->ends.end(), t.text) != b->ends.end() || t.text == "end" + std::string(b->name)) {
                const auto& inner = blocks_.back();
                fail(t, fmt::format("unexpected {{% {} %}}: the innermost open block is {{% {} %}} at {}, which ends "
                                    "with {}",
                                    t.text, inner.name, where(inner.offset), expected(inner.ends)));
            }
        if (!blocks_.empty())
            fail(t, fmt::format("unknown tag '{}' (inside {{% {} %}} at {})", t.text, blocks_.back().name,
                                where(blocks_.back().offset)));
        fail(t, fmt::format("unknown tag '{}'", t.text));
    }

    std::string where(std::uint32_t offset) const {
        std::size_t line = 1, col = 1;
        const auto& s = p_.lexed.source;
        for (std::size_t k = 0; k < offset && k < s.size(); ++k) {
            if (s[k] == '\n') line = line + 1, col = 1;
            else if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) ++col;
        }
        return fmt::format("line {}, column {}", line, col);
    }

    static std::string expected(const std::vector<std::string_view>& ends) {
        std::string out;
        for (std::size_t k = 0; k < ends.size(); ++k) {
            if (k) out += k + 1 == ends.size() ? " or " : ", ";
            out += fmt::format("{{% {} %}}", ends[k]);
        }
        return out;
    }

    // jinja2's parse_statements: an optional ':', '%}', then the body up to one of `ends`.
    std::vector<stmt*> parse_statements(const token& opener, std::string_view name, std::vector<std::string_view> ends,
                                        bool drop_needle) {
        skip_op(op::colon);
        expect_block_end();
        nesting_guard guard(*this, block_depth_, opener);
        blocks_.push_back({name, opener.offset, opener.tag, ends});
        auto body = subparse(ends);
        if (cur().type == tok::eof) {
            const auto b = blocks_.back();
            throw failure{b.offset,
                          fmt::format("{{% {} %}} is never closed: the template ends before {}", b.name, expected(b.ends)),
                          p_.lexed.tags[b.tag].begin, p_.lexed.tags[b.tag].end};
        }
        blocks_.pop_back();
        if (drop_needle) next();
        return body;
    }

    stmt* parse_if() {
        const token& opener = next();
        stmt* result = make_stmt(stmt_kind::if_, opener);
        stmt* node = result;
        for (;;) {
            node->test = parse_tuple(false, false, {}, false);
            node->body = parse_statements(opener, "if", {"elif", "else", "endif"}, false);
            const token& end = next();
            if (end.text == "elif") {
                node = make_stmt(stmt_kind::if_, cur());
                result->elifs.push_back(node);
                continue;
            }
            if (end.text == "else") result->else_body = parse_statements(opener, "else", {"endif"}, true);
            return result;
        }
    }

    std::string_view assign_target(std::vector<std::string_view> extra_end) {
        // parse_assign_target(): a primary, which must be a name (tuples are not supported).
        const token& t = cur();
        expr* target = parse_tuple(true, true, std::move(extra_end), false);
        if (target->kind != expr_kind::name) {
            fail(t, target->kind == expr_kind::constant ? "cannot assign to a constant"
                                                        : "cannot assign to this (only to a name)");
        }
        return target->name;
    }

    stmt* parse_for() {
        const token& opener = next();
        stmt* s = make_stmt(stmt_kind::for_, opener);
        s->target = assign_target({"in"});
        expect_name("in");
        s->value = parse_tuple(false, false, {"recursive"}, false);
        if (is_name(cur(), "if")) unsupported(cur(), "loop filters ({% for x in seq if test %}) are");
        if (is_name(cur(), "recursive")) unsupported(cur(), "recursive loops are");
        s->body = parse_statements(opener, "for", {"endfor", "else"}, false);
        if (next().text == "else") s->else_body = parse_statements(opener, "for", {"endfor"}, true);
        return s;
    }

    stmt* parse_set() {
        const token& opener = next();
        stmt* s = make_stmt(stmt_kind::set, opener);
        if (cur().type == tok::name && is_op(look(), op::dot)) unsupported(look(), "namespace assignments (set ns.attr) are");
        s->target = assign_target({});
        if (!skip_op(op::assign))
            unsupported(cur(), "block assignments ({% set name %}...{% endset %}) are; use {% set name = value %}, which");
        s->value = parse_tuple(false, true, {}, false);
        return s;
    }

    stmt* parse_macro() {
        const token& opener = next();
        stmt* s = make_stmt(stmt_kind::macro, opener);
        s->target = name_target();
        expect_op(op::lparen, "(");
        while (!is_op(cur(), op::rparen)) {
            if (!s->params.empty()) expect_op(op::comma, ",");
            const token& at = cur();
            const auto param = name_target();
            if (std::find(s->params.begin(), s->params.end(), param) != s->params.end())
                fail(at, fmt::format("macro '{}' has two parameters named '{}'", s->target, param));
            if (skip_op(op::assign)) s->defaults.push_back(parse_expression(true));
            else if (!s->defaults.empty()) fail(at, "a parameter without a default follows one with a default");
            s->params.push_back(param);
        }
        next();
        s->body = parse_statements(opener, "macro", {"endmacro"}, true);
        return s;
    }

    std::string_view name_target() {
        const token& t = expect_name();
        static constexpr std::string_view constants[] = {"true", "false", "none", "True", "False", "None"};
        if (std::find(std::begin(constants), std::end(constants), t.text) != std::end(constants))
            fail(t, fmt::format("cannot assign to the constant '{}'", t.text));
        return t.text;
    }

    // -- expressions

    bool is_tuple_end(const std::vector<std::string_view>& extra) const {
        const token& t = cur();
        if (t.type == tok::variable_end || t.type == tok::block_end || is_op(t, op::rparen)) return true;
        return t.type == tok::name && std::find(extra.begin(), extra.end(), t.text) != extra.end();
    }

    // jinja2's parse_tuple: one expression, or (not supported) a tuple.
    expr* parse_tuple(bool simplified, bool with_condexpr, std::vector<std::string_view> extra, bool explicit_parens) {
        const token& start = cur();
        expr* first = nullptr;
        if (!is_tuple_end(extra)) {
            first = simplified ? parse_primary() : parse_expression(with_condexpr);
            if (is_op(cur(), op::comma)) unsupported(cur(), "tuples are");
            return first;
        }
        if (explicit_parens) unsupported(start, "empty tuples are");
        fail(start, fmt::format("expected an expression, got {}", describe(start)));
    }

    expr* parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

    expr* parse_condexpr() {
        nesting_guard guard(*this, expr_depth_, cur());
        expr* e1 = parse_or();
        while (is_name(cur(), "if")) {
            const token& t = next();
            expr* test = parse_or();
            expr* otherwise = skip_name("else") ? parse_condexpr() : nullptr;
            expr* c = make(expr_kind::condexpr, t);
            c->offset = e1->offset;
            c->a = e1;
            c->b = test;
            c->c = otherwise;
            e1 = checked_depth(c);
        }
        return e1;
    }

    expr* binary(expr_kind k, const token& at, expr* l, expr* r) {
        expr* e = make(k, at);
        e->offset = l->offset;
        e->a = l;
        e->b = r;
        return checked_depth(e);
    }

    expr* parse_or() {
        expr* left = parse_and();
        while (is_name(cur(), "or")) {
            const token& t = next();
            left = binary(expr_kind::or_, t, left, parse_and());
        }
        return left;
    }

    expr* parse_and() {
        expr* left = parse_not();
        while (is_name(cur(), "and")) {
            const token& t = next();
            left = binary(expr_kind::and_, t, left, parse_not());
        }
        return left;
    }

    expr* parse_not() {
        if (is_name(cur(), "not")) {
            nesting_guard guard(*this, expr_depth_, cur());
            const token& t = next();
            expr* e = make(expr_kind::not_, t);
            e->a = parse_not();
            return checked_depth(e);
        }
        return parse_compare();
    }

    expr* parse_compare() {
        const token& start = cur();
        expr* first = parse_math1();
        expr* e = nullptr;
        for (;;) {
            cmp_op o;
            const token& t = cur();
            if (t.type == tok::op && (t.op == op::eq || t.op == op::ne || t.op == op::lt || t.op == op::lteq ||
                                      t.op == op::gt || t.op == op::gteq)) {
                o = t.op == op::eq ? cmp_op::eq : t.op == op::ne ? cmp_op::ne : t.op == op::lt ? cmp_op::lt
                    : t.op == op::lteq ? cmp_op::lteq : t.op == op::gt ? cmp_op::gt : cmp_op::gteq;
                next();
            } else if (is_name(t, "in")) {
                o = cmp_op::in;
                next();
            } else if (is_name(t, "not") && is_name(look(), "in")) {
                o = cmp_op::notin;
                next();
                next();
            } else {
                break;
            }
            if (!e) {
                e = make(expr_kind::compare, start);
                e->a = first;
            }
            e->ops.push_back(o);
            e->args.push_back(parse_math1());
        }
        return e ? checked_depth(e) : first;
    }

    expr* parse_math1() {
        expr* left = parse_concat();
        if (is_op(cur(), op::add) || is_op(cur(), op::sub))
            unsupported(cur(), fmt::format("arithmetic ('{}') is", is_op(cur(), op::add) ? "+" : "-"));
        return left;
    }

    expr* parse_concat() {
        const token& start = cur();
        expr* first = parse_math2();
        if (!is_op(cur(), op::tilde)) return first;
        expr* e = make(expr_kind::concat, start);
        e->args.push_back(first);
        while (skip_op(op::tilde)) e->args.push_back(parse_math2());
        return checked_depth(e);
    }

    expr* parse_math2() {
        expr* left = parse_pow();
        const token& t = cur();
        if (is_op(t, op::mul) || is_op(t, op::div) || is_op(t, op::floordiv) || is_op(t, op::mod))
            unsupported(t, fmt::format("arithmetic ({}) is", describe(t)));
        return left;
    }

    expr* parse_pow() {
        expr* left = parse_unary();
        if (is_op(cur(), op::pow)) unsupported(cur(), "arithmetic ('**') is");
        return left;
    }

    // jinja2's parse_unary: `-x|f` is `(-x)|f`, `-x.y` is `-(x.y)`.
    expr* parse_unary(bool with_filter = true) {
        nesting_guard guard(*this, expr_depth_, cur());
        expr* node;
        if (is_op(cur(), op::sub) || is_op(cur(), op::add)) {
            const token& t = next();
            node = make(t.op == op::sub ? expr_kind::neg : expr_kind::pos, t);
            node->a = parse_unary(false);
            checked_depth(node);
        } else {
            node = parse_primary();
        }
        node = parse_postfix(node);
        return with_filter ? parse_filter_expr(node) : node;
    }

    expr* parse_primary() {
        const token& t = cur();
        if (t.type == tok::name) {
            next();
            expr* e;
            if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
                e = make(expr_kind::constant, t);
                e->constant = rtb::jinja::value(t.text == "true" || t.text == "True");
            } else if (t.text == "none" || t.text == "None") {
                e = make(expr_kind::constant, t);
            } else {
                e = make(expr_kind::name, t);
                e->name = t.text;
            }
            return e;
        }
        if (t.type == tok::string) {
            // Adjacent string literals are one string, as in Python.
            std::string joined(t.text);
            next();
            while (cur().type == tok::string) joined += next().text;
            expr* e = make(expr_kind::constant, t);
            e->constant = rtb::jinja::value(std::move(joined));
            return e;
        }
        if (t.type == tok::integer) {
            next();
            expr* e = make(expr_kind::constant, t);
            e->constant = rtb::jinja::value(t.integer);
            return e;
        }
        if (is_op(t, op::lparen)) {
            next();
            expr* e = parse_tuple(false, true, {}, true);
            expect_op(op::rparen, ")");
            return e;
        }
        if (is_op(t, op::lbracket)) return parse_list();
        if (is_op(t, op::lbrace)) unsupported(t, "dict literals are");
        fail(t, fmt::format("unexpected {}", describe(t)));
    }

    expr* parse_list() {
        const token& open = next();
        expr* e = make(expr_kind::list, open);
        while (!is_op(cur(), op::rbracket)) {
            if (!e->args.empty()) expect_op(op::comma, ",");
            if (is_op(cur(), op::rbracket)) break;
            e->args.push_back(parse_expression(true));
        }
        expect_op(op::rbracket, "]");
        return checked_depth(e);
    }

    expr* parse_postfix(expr* node) {
        for (;;) {
            if (is_op(cur(), op::dot) || is_op(cur(), op::lbracket)) node = parse_subscript(node);
            else if (is_op(cur(), op::lparen)) node = parse_call(node);
            else return node;
        }
    }

    expr* parse_filter_expr(expr* node) {
        for (;;) {
            if (is_op(cur(), op::pipe)) node = parse_filter(node);
            else if (is_name(cur(), "is")) node = parse_test(node);
            else if (is_op(cur(), op::lparen)) node = parse_call(node);
            else return node;
        }
    }

    expr* parse_subscript(expr* node) {
        const token& t = next();
        if (t.type == tok::op && t.op == op::dot) {
            const token& attr = next();
            if (attr.type == tok::name) {
                expr* e = make(expr_kind::getattr, t);
                e->offset = node->offset;
                e->a = node;
                e->name = attr.text;
                return checked_depth(e);
            }
            if (attr.type != tok::integer) fail(attr, fmt::format("expected a name or a number after '.', got {}", describe(attr)));
            expr* key = make(expr_kind::constant, attr);
            key->constant = rtb::jinja::value(attr.integer);
            expr* e = make(expr_kind::getitem, t);
            e->offset = node->offset;
            e->a = node;
            e->b = key;
            return checked_depth(e);
        }
        // '[': one key; slices and tuples are not supported.
        if (is_op(cur(), op::colon)) unsupported(cur(), "slices are");
        if (is_op(cur(), op::rbracket)) fail(cur(), "expected a key inside '[ ]'");
        expr* key = parse_expression(true);
        if (is_op(cur(), op::colon)) unsupported(cur(), "slices are");
        if (is_op(cur(), op::comma)) unsupported(cur(), "tuple keys are");
        expect_op(op::rbracket, "]");
        expr* e = make(expr_kind::getitem, t);
        e->offset = node->offset;
        e->a = node;
        e->b = key;
        return checked_depth(e);
    }

    void parse_call_args(expr* e) {
        const token& open = cur();
        expect_op(op::lparen, "(");
        bool require_comma = false;
        while (!is_op(cur(), op::rparen)) {
            if (require_comma) {
                expect_op(op::comma, ",");
                if (is_op(cur(), op::rparen)) break;
            }
            if (is_op(cur(), op::mul) || is_op(cur(), op::pow)) unsupported(cur(), "*args and **kwargs in calls are");
            if (cur().type == tok::name && is_op(look(), op::assign)) {
                const token& key = next();
                next();
                for (const auto& [k, v] : e->kwargs)
                    if (k == key.text) fail(key, fmt::format("keyword argument '{}' is given twice", key.text));
                e->kwargs.emplace_back(key.text, parse_expression(true));
            } else {
                if (!e->kwargs.empty()) fail(open, "a positional argument follows a keyword argument");
                e->args.push_back(parse_expression(true));
            }
            require_comma = true;
        }
        next();
    }

    expr* parse_call(expr* node) {
        expr* e = make(expr_kind::call, cur());
        e->offset = node->offset;
        e->a = node;
        parse_call_args(e);
        return checked_depth(e);
    }

    expr* parse_filter(expr* node) {
        next();  // '|'
        const token& name = expect_name();
        if (is_op(cur(), op::dot)) unsupported(cur(), "dotted filter names are");
        expr* e = make(expr_kind::filter, name);
        e->offset = node->offset;
        e->a = node;
        e->name = name.text;
        if (!known_filter(name.text, e->filter)) {
            if (jinja_builtin_filter(name.text))
                fail(name, fmt::format("the filter '{}' is not supported (supported: default, lower, upper, trim, "
                                       "replace, join, length, first, last, string)",
                                       name.text));
            fail(name, fmt::format("unknown filter '{}'", name.text));
        }
        if (is_op(cur(), op::lparen)) parse_call_args(e);
        return checked_depth(e);
    }

    expr* parse_test(expr* node) {
        const token& is = next();
        const bool negated = skip_name("not");
        const token& name = expect_name();
        if (is_op(cur(), op::dot)) unsupported(cur(), "dotted test names are");
        expr* e = make(expr_kind::test, is);
        e->offset = node->offset;
        e->a = node;
        e->name = name.text;
        if (name.text == "defined") e->test = test_id::defined;
        else if (name.text == "undefined") e->test = test_id::undefined;
        else if (name.text == "none") e->test = test_id::none;
        else if (jinja_builtin_test(name.text))
            fail(name, fmt::format("the test '{}' is not supported (supported: defined, undefined, none)", name.text));
        else
            fail(name, fmt::format("unknown test '{}'", name.text));
        // Arguments parse as in Jinja2 (`x is defined y` takes `y` as one, as
        // does `x is none not in z` with `not`); the supported tests take none,
        // so evaluating one with arguments fails, as it does in Jinja2.
        const token& after = cur();
        if (is_op(after, op::lparen)) {
            parse_call_args(e);
        } else if ((after.type == tok::name || after.type == tok::string || after.type == tok::integer ||
                    is_op(after, op::lparen) || is_op(after, op::lbracket) || is_op(after, op::lbrace)) &&
                   !is_name(after, "else") && !is_name(after, "or") && !is_name(after, "and")) {
            if (is_name(after, "is")) fail(after, "tests cannot be chained ('is ... is')");
            e->args.push_back(parse_postfix(parse_primary()));
        }
        checked_depth(e);
        if (!negated) return e;
        expr* n = make(expr_kind::not_, is);
        n->offset = node->offset;
        n->a = e;
        return checked_depth(n);
    }

    // Chains of `and`, `or`, filters and subscripts grow the tree without
    // recursing here; evaluation recurses on them, so their depth is bounded too.
    expr* checked_depth(expr* e) {
        std::size_t d = 0;
        for (const expr* c : {e->a, e->b, e->c})
            if (c) d = std::max<std::size_t>(d, depth_of(c));
        for (const expr* c : e->args) d = std::max<std::size_t>(d, depth_of(c));
        for (const auto& [k, c] : e->kwargs) d = std::max<std::size_t>(d, depth_of(c));
        if (d + 1 > max_nesting_)
            fail(toks_[std::min(i_, toks_.size() - 1)],
                 fmt::format("the template nests blocks or expressions more than {} deep", max_nesting_));
        e->depth = static_cast<std::uint32_t>(d + 1);
        return e;
    }
    static std::size_t depth_of(const expr* e) { return e->depth; }

    program& p_;
    const std::vector<token>& toks_;
    std::size_t i_ = 0;
    std::size_t max_nesting_;
    std::size_t block_depth_ = 0, expr_depth_ = 0;
    std::vector<open_block> blocks_;
};

}  // namespace syntax

inline void parse(program& prog, std::size_t max_nesting) { syntax::parser(prog, max_nesting).run(); }

}  // namespace rtb::detail::jinja
