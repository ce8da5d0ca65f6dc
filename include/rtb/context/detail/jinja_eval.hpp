// The Jinja2 evaluator: runs an analyzed template with Python's semantics
// for what the subset can express (truthiness, ==, ordering, `in`, str() and
// repr() of values, attribute and item lookup, macro argument binding, the
// loop variable, the filters and tests), as jinja2 with autoescape off does.
// Every step is counted and every string created is measured, so a hostile
// template stops at a limit with an error instead of running away.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/detail/jinja_ast.hpp"
#include "rtb/context/detail/jinja_text.hpp"
#include "rtb/context/jinja_options.hpp"
#include "rtb/context/jinja_value.hpp"

namespace rtb::detail::jinja {

/// Renders an analyzed program with `vars`. Throws failure.
std::string render(const program& prog, const rtb::jinja::variables& vars, const rtb::jinja::options& options);

// ---------------------------------------------------------------------------

namespace eval {

using rtb::jinja::value;
using vk = value::kind;

/// What an undefined value knows about itself, for messages and for the
/// one case where it stays lenient in strict mode.
struct undefined_info {
    std::string name;         ///< the name that was not defined
    std::string hint;         ///< Jinja2's own text ("No first item, sequence was empty.")
    std::string owner;        ///< the type an attribute or key was missing from
    std::string member;       ///< that attribute or key
    bool always_lenient = false;  ///< an inline if without else: jinja2.Undefined even in strict mode
};

/// The variables of one running function (the template, or a macro call),
/// and the activation it was defined in: Python's frame and closure.
struct activation {
    std::vector<std::optional<value>> slots;
    activation* enclosing = nullptr;
};

/// A macro value: its definition and the activation that defined it. A
/// macro value cannot outlive that activation (macros return text, and only
/// the template's own sets reach the context), so the link does not own it.
struct macro_object {
    const stmt* def;
    activation* closure;
};

struct loop_state {
    std::size_t index0 = 0, length = 0;
};

/// How deeply lists and dicts may nest in a value (printing, comparing and
/// checking one recurses that deep).
inline constexpr std::int64_t max_value_nesting = 200;

inline const undefined_info& undef(const value& v) { return *static_cast<const undefined_info*>(v.payload()); }

inline std::string_view python_type(const value& v) {
    switch (v.type()) {
        case vk::none: return "NoneType";
        case vk::boolean: return "bool";
        case vk::integer: return "int";
        case vk::string: return "str";
        case vk::list: return "list";
        case vk::dict: return "dict";
        case vk::undefined: return "Undefined";
        case vk::macro: return "Macro";
        case vk::loop: return "LoopContext";
        case vk::global: return "function";
    }
    return "object";
}

/// Names of Python attributes (methods) of the builtin types: Jinja2 would
/// return a bound method for `text.upper`, which rtb does not model.
inline bool python_attribute(const value& v, std::string_view name) {
    static constexpr std::string_view str_attrs[] = {
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
        "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
        "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"};
    static constexpr std::string_view list_attrs[] = {"append", "clear",  "copy",   "count",   "extend", "index",
                                                      "insert", "pop",    "remove", "reverse", "sort"};
    static constexpr std::string_view dict_attrs[] = {"clear", "copy", "fromkeys", "get",        "items", "keys",
                                                      "pop",   "popitem", "setdefault", "update", "values"};
    static constexpr std::string_view int_attrs[] = {"as_integer_ratio", "bit_count", "bit_length", "conjugate", "denominator",
                                                     "from_bytes",       "imag",      "numerator",  "real",      "to_bytes"};
    if (name.substr(0, 2) == "__") return true;
    auto in = [&](const auto& list) { return std::find(std::begin(list), std::end(list), name) != std::end(list); };
    switch (v.type()) {
        case vk::string: return in(str_attrs);
        case vk::list: return in(list_attrs);
        case vk::dict: return in(dict_attrs);
        case vk::integer:
        case vk::boolean: return in(int_attrs);
        default: return false;
    }
}

inline bool jinja_global(std::string_view name) {
    return name == "range" || name == "dict" || name == "lipsum" || name == "cycler" || name == "joiner" ||
           name == "namespace";
}

/// A sequence being iterated: a list's items, a str's characters, a dict's
/// keys. Characters are found by walking the UTF-8 (no table of offsets: a
/// big string costs no extra memory); walking in order is O(1) a step.
class sequence {
public:
    sequence() = default;
    explicit sequence(const value& v) : v_(v) {
        if (v.is(vk::string)) size_ = code_point_count(v.as_string());
    }
    std::size_t size() const {
        switch (v_.type()) {
            case vk::list: return v_.as_list().size();
            case vk::dict: return v_.as_dict().size();
            case vk::string: return size_;
            default: return 0;
        }
    }
    value at(std::size_t i) const {
        switch (v_.type()) {
            case vk::list: return v_.as_list()[i];
            case vk::dict: return value(v_.as_dict()[i].first);
            case vk::string: {
                const std::string_view s = v_.as_string();
                if (i + 1 == size_ && i != next_) {  // the last character: from the end
                    std::size_t b = s.size() - 1;
                    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
                    return value(s.substr(b));
                }
                if (i < next_) next_ = 0, offset_ = 0;
                for (; next_ < i; ++next_) offset_ += code_point_bytes(s, offset_);
                const std::size_t n = code_point_bytes(s, offset_);
                value c(s.substr(offset_, n));
                offset_ += n;
                ++next_;
                return c;
            }
            default: return {};
        }
    }

private:
    value v_;
    std::size_t size_ = 0;
    mutable std::size_t next_ = 0, offset_ = 0;  // where the walk through a string stands
};

class renderer {
public:
    renderer(const program& p, const rtb::jinja::variables& vars, const rtb::jinja::options& o)
        : p_(p), vars_(vars), lim_(o.limits), strict_(o.undefined == rtb::jinja::undefined_behavior::strict) {}

    std::string run() {
        std::string out;
        activation root;
        root.slots.resize(static_cast<std::size_t>(p_.root_slots));
        current_ = &root;
        out_ = &out;
        enter(p_.root_frame);
        exec(p_.body);
        return out;
    }

private:
    // -- errors and bounds

    std::pair<std::size_t, std::size_t> span(std::uint32_t tag) const {
        if (tag >= p_.lexed.tags.size()) return {failure::npos, failure::npos};
        return {p_.lexed.tags[tag].begin, p_.lexed.tags[tag].end};
    }
    [[noreturn]] void fail_at(std::uint32_t offset, std::uint32_t tag, std::string message) const {
        const auto [b, e] = span(tag);
        throw failure{offset, std::move(message), b, e};
    }
    [[noreturn]] void fail(const expr& at, std::string message) const { fail_at(at.offset, at.tag, std::move(message)); }
    [[noreturn]] void unsupported(const expr& at, std::string_view what) const { fail(at, fmt::format("{} not supported", what)); }

    [[noreturn]] void undefined_error(const value& u, const expr& at) const {
        const auto& info = undef(u);
        if (!info.hint.empty()) fail(at, info.hint);
        if (!info.owner.empty()) fail(at, fmt::format("'{}' has no attribute or key {}", info.owner, info.member));
        fail(at, fmt::format("'{}' is undefined", info.name));
    }

    bool strict_undefined(const value& v) const { return v.is(vk::undefined) && strict_ && !undef(v).always_lenient; }
    // jinja2.StrictUndefined refuses to be printed, tested, compared, iterated or measured.
    void check_defined(const value& v, const expr& at) const {
        if (strict_undefined(v)) undefined_error(v, at);
    }

    void step(const expr& at, std::uint64_t n = 1) {
        steps_ += n;
        if (steps_ > lim_.max_steps)
            fail(at, fmt::format("the template takes more than {} evaluation steps (a loop or recursion too large?)",
                                 lim_.max_steps));
    }
    void charge(const expr& at, std::size_t bytes) {
        string_bytes_ += bytes;
        if (string_bytes_ > lim_.max_string_bytes)
            fail(at, fmt::format("the template creates more than {} bytes of text", lim_.max_string_bytes));
        steps_ += bytes / 64;
        if (steps_ > lim_.max_steps)
            fail(at, fmt::format("the template takes more than {} evaluation steps (a loop or recursion too large?)",
                                 lim_.max_steps));
    }
    value make_string(const expr& at, std::string s) {
        charge(at, s.size());
        return value(std::move(s));
    }
    void check_nesting(const value& v, const expr& at) const {
        if (v.nesting() > max_value_nesting)
            fail(at, fmt::format("a value nests lists or dicts more than {} deep", max_value_nesting));
    }

    class recursion_guard {
    public:
        recursion_guard(renderer& r, std::uint32_t offset, std::uint32_t tag) : r_(r) {
            if (++r_.recursion_ > max_recursion) {
                --r_.recursion_;
                r_.fail_at(offset, tag, "the template nests too deeply at run time (macros within blocks within macros)");
            }
        }
        ~recursion_guard() { --r_.recursion_; }
        recursion_guard(const recursion_guard&) = delete;
        recursion_guard& operator=(const recursion_guard&) = delete;

    private:
        renderer& r_;
    };

    // -- variables

    std::optional<value>& slot(slot_ref s) const {
        activation* a = current_;
        for (std::uint32_t i = 0; i < s.hops; ++i) a = a->enclosing;
        return a->slots[static_cast<std::size_t>(s.index)];
    }

    std::optional<value> resolve(std::string_view name) const {
        if (const auto it = context_vars_.find(name); it != context_vars_.end()) return it->second;
        if (const auto it = vars_.find(name); it != vars_.end()) return it->second;
        if (jinja_global(name))
            return value::make_internal(vk::global, std::make_shared<std::string>(name));
        return std::nullopt;
    }

    void enter(const frame_code& f) {
        for (const auto& l : f.enter) {
            switch (l.how) {
                case frame_load::kind::resolve: slot(l.target) = resolve(l.name); break;
                case frame_load::kind::alias: slot(l.target) = slot(l.from); break;
                case frame_load::kind::undefined: slot(l.target).reset(); break;
            }
        }
    }
    void leave(const frame_code& f) {
        for (const auto& s : f.leave) slot(s).reset();
    }

    value undefined_named(std::string_view name) const {
        auto info = std::make_shared<undefined_info>();
        info->name = std::string(name);
        return value::make_internal(vk::undefined, std::move(info));
    }
    value undefined_hint(std::string hint, bool always_lenient = false, std::string_view name = {}) const {
        auto info = std::make_shared<undefined_info>();
        info->hint = std::move(hint);
        info->name = std::string(name);
        info->always_lenient = always_lenient;
        return value::make_internal(vk::undefined, std::move(info));
    }
    value undefined_member(const value& owner, std::string member) const {
        auto info = std::make_shared<undefined_info>();
        info->owner = fmt::format("{} object", python_type(owner));
        info->member = std::move(member);
        return value::make_internal(vk::undefined, std::move(info));
    }

    // -- Python's str(), repr(), bool(), ==, <, in

    void append_str(std::string& out, const value& v, const expr& at) {
        switch (v.type()) {
            case vk::none: out += "None"; break;
            case vk::boolean: out += v.as_bool() ? "True" : "False"; break;
            case vk::integer: out += fmt::format("{}", v.as_int()); break;
            case vk::string: out += v.as_string(); break;
            case vk::undefined: check_defined(v, at); break;
            case vk::global: unsupported(at, fmt::format("the Jinja2 global '{}' is", *static_cast<const std::string*>(v.payload())));
            default: append_repr(out, v, at);
        }
    }

    void append_repr(std::string& out, const value& v, const expr& at) {
        check_nesting(v, at);
        step(at);
        switch (v.type()) {
            case vk::string:
                if (!append_py_repr(out, v.as_string()))
                    unsupported(at, "printing text beyond U+052F inside a list or dict (Python's repr()) is");
                break;
            case vk::list: {
                out += '[';
                bool first = true;
                for (const auto& item : v.as_list()) {
                    if (!first) out += ", ";
                    first = false;
                    append_repr(out, item, at);
                }
                out += ']';
                break;
            }
            case vk::dict: {
                out += '{';
                bool first = true;
                for (const auto& [k, item] : v.as_dict()) {
                    if (!first) out += ", ";
                    first = false;
                    if (!append_py_repr(out, k))
                        unsupported(at, "printing text beyond U+052F inside a list or dict (Python's repr()) is");
                    out += ": ";
                    append_repr(out, item, at);
                }
                out += '}';
                break;
            }
            case vk::undefined: out += "Undefined"; break;
            case vk::macro: out += fmt::format("<Macro '{}'>", static_cast<const macro_object*>(v.payload())->def->target); break;
            case vk::loop: {
                const auto* l = static_cast<const loop_state*>(v.payload());
                out += fmt::format("<LoopContext {}/{}>", l->index0 + 1, l->length);
                break;
            }
            default: append_str(out, v, at);
        }
        if (out.size() > lim_.max_output_bytes)
            fail(at, fmt::format("a value prints as more than {} bytes", lim_.max_output_bytes));
    }

    std::string to_str(const value& v, const expr& at) {
        if (v.is(vk::string)) return v.as_string();
        std::string s;
        append_str(s, v, at);
        charge(at, s.size());
        return s;
    }

    bool truthy(const value& v, const expr& at) const {
        switch (v.type()) {
            case vk::none: return false;
            case vk::boolean:
            case vk::integer: return v.as_int() != 0;
            case vk::string: return !v.as_string().empty();
            case vk::list: return !v.as_list().empty();
            case vk::dict: return !v.as_dict().empty();
            case vk::undefined: check_defined(v, at); return false;
            default: return true;
        }
    }

    static bool numeric(const value& v) { return v.is(vk::integer) || v.is(vk::boolean); }

    bool equals(const value& a, const value& b, const expr& at) {
        step(at);
        if (a.is(vk::undefined)) {
            check_defined(a, at);
            return b.is(vk::undefined) && strict_undefined(a) == strict_undefined(b);
        }
        if (b.is(vk::undefined)) {
            check_defined(b, at);
            return false;
        }
        if (numeric(a) && numeric(b)) return a.as_int() == b.as_int();
        if (a.type() != b.type()) return false;
        switch (a.type()) {
            case vk::none: return true;
            case vk::string: step(at, a.as_string().size() / 64); return a.as_string() == b.as_string();
            case vk::list: {
                check_nesting(a, at);
                check_nesting(b, at);
                const auto &x = a.as_list(), &y = b.as_list();
                if (x.size() != y.size()) return false;
                for (std::size_t i = 0; i < x.size(); ++i)
                    if (!same_or_equal(x[i], y[i], at)) return false;
                return true;
            }
            case vk::dict: {
                check_nesting(a, at);
                check_nesting(b, at);
                const auto &x = a.as_dict(), &y = b.as_dict();
                if (x.size() != y.size()) return false;
                for (const auto& [k, v] : x) {
                    const value* other = b.find(k);
                    step(at, y.size() / 8);
                    if (!other || !same_or_equal(v, *other, at)) return false;
                }
                return true;
            }
            case vk::global:
                return *static_cast<const std::string*>(a.payload()) == *static_cast<const std::string*>(b.payload());
            default: return a.same_object(b);
        }
    }
    // Containers compare items by identity first, then == (CPython's PyObject_RichCompareBool).
    bool same_or_equal(const value& a, const value& b, const expr& at) { return a.same_object(b) || equals(a, b, at); }

    bool compare_order(const value& a, const value& b, cmp_op o, const expr& at) {
        step(at);
        if (a.is(vk::undefined)) undefined_error(a, at);
        if (b.is(vk::undefined)) undefined_error(b, at);
        auto apply = [o](auto x, auto y) {
            switch (o) {
                case cmp_op::lt: return x < y;
                case cmp_op::lteq: return x <= y;
                case cmp_op::gt: return x > y;
                default: return x >= y;
            }
        };
        if (numeric(a) && numeric(b)) return apply(a.as_int(), b.as_int());
        if (a.is(vk::string) && b.is(vk::string)) {
            step(at, std::min(a.as_string().size(), b.as_string().size()) / 64);
            return apply(a.as_string().compare(b.as_string()), 0);
        }
        if (a.is(vk::list) && b.is(vk::list)) {
            check_nesting(a, at);
            check_nesting(b, at);
            const auto &x = a.as_list(), &y = b.as_list();
            for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
                if (!same_or_equal(x[i], y[i], at)) return compare_order(x[i], y[i], o, at);
            return apply(x.size(), y.size());
        }
        static constexpr std::string_view symbols[] = {"", "", "<", "<=", ">", ">="};
        fail(at, fmt::format("'{}' not supported between instances of '{}' and '{}'",
                             symbols[static_cast<int>(o)], python_type(a), python_type(b)));
    }

    bool contains(const value& hay, const value& needle, const expr& at) {
        switch (hay.type()) {
            case vk::string:
                if (!needle.is(vk::string))
                    fail(at, fmt::format("'in <string>' requires string as left operand, not {}", python_type(needle)));
                step(at, (hay.as_string().size() + needle.as_string().size()) / 64);
                return substring_search(needle.as_string()).find(hay.as_string()) != std::string_view::npos;
            case vk::list:
                for (const auto& item : hay.as_list())
                    if (same_or_equal(needle, item, at)) return true;
                return false;
            case vk::dict:
                if (needle.is(vk::list) || needle.is(vk::dict))
                    fail(at, fmt::format("unhashable type: '{}'", python_type(needle)));
                check_defined(needle, at);
                step(at, hay.as_dict().size() / 8);
                return needle.is(vk::string) && hay.find(needle.as_string()) != nullptr;
            case vk::undefined: check_defined(hay, at); return false;
            case vk::loop:
            case vk::global: unsupported(at, fmt::format("'in' on a {} is", python_type(hay)));
            default: fail(at, fmt::format("argument of type '{}' is not iterable", python_type(hay)));
        }
    }

    sequence iterate(const value& v, const expr& at) {
        switch (v.type()) {
            case vk::list:
            case vk::dict: return sequence(v);
            case vk::string: step(at, v.as_string().size() / 32); return sequence(v);
            case vk::undefined: check_defined(v, at); return {};
            case vk::loop:
            case vk::global: unsupported(at, fmt::format("iterating over a {} is", python_type(v)));
            default: fail(at, fmt::format("'{}' object is not iterable", python_type(v)));
        }
    }

    // -- lookups (jinja2.Environment.getattr / getitem)

    value loop_attribute(const value& loop, std::string_view name, const expr& at) const {
        const auto& l = *static_cast<const loop_state*>(loop.payload());
        if (name == "index") return value(l.index0 + 1);
        if (name == "index0") return value(l.index0);
        if (name == "first") return value(l.index0 == 0);
        if (name == "last") return value(l.index0 + 1 == l.length);
        if (name == "length") return value(l.length);
        if (name == "revindex") return value(l.length - l.index0);
        if (name == "revindex0") return value(l.length - l.index0 - 1);
        if (name.substr(0, 1) == "_" || name == "cycle" || name == "changed" || name == "depth" || name == "depth0" ||
            name == "previtem" || name == "nextitem")
            unsupported(at, fmt::format("loop.{} is", name));
        return undefined_member(loop, fmt::format("'{}'", name));
    }

    value get_attr(const value& obj, std::string_view name, const expr& at) {
        step(at);
        switch (obj.type()) {
            case vk::undefined: undefined_error(obj, at);
            case vk::loop: return loop_attribute(obj, name, at);
            case vk::macro:
            case vk::global: unsupported(at, fmt::format("attributes of a {} are", python_type(obj)));
            default: break;
        }
        if (python_attribute(obj, name))
            unsupported(at, fmt::format("'{}' of a {} is a Python method or attribute; these are", name, python_type(obj)));
        if (obj.is(vk::dict)) {
            step(at, obj.as_dict().size() / 8);
            if (const value* v = obj.find(name)) return *v;
        }
        return undefined_member(obj, fmt::format("'{}'", name));
    }

    value get_item(const value& obj, const value& key, const expr& at) {
        step(at);
        if (obj.is(vk::undefined)) undefined_error(obj, at);
        if (obj.is(vk::macro) || obj.is(vk::global)) unsupported(at, fmt::format("subscripting a {} is", python_type(obj)));
        auto fallback = [&]() -> value {
            // jinja2 tries the attribute of that name when the item is missing.
            if (key.is(vk::string)) {
                if (obj.is(vk::loop)) return loop_attribute(obj, key.as_string(), at);
                if (python_attribute(obj, key.as_string()))
                    unsupported(at, fmt::format("'{}' of a {} is a Python method or attribute; these are",
                                                key.as_string(), python_type(obj)));
            }
            std::string shown;
            if (key.is(vk::string) && append_py_repr(shown, key.as_string())) return undefined_member(obj, shown);
            return undefined_member(obj, "(a key)");
        };
        switch (obj.type()) {
            case vk::dict:
                if (key.is(vk::list) || key.is(vk::dict)) return fallback();  // unhashable: TypeError, caught
                check_defined(key, at);
                step(at, obj.as_dict().size() / 8);
                if (key.is(vk::string))
                    if (const value* v = obj.find(key.as_string())) return *v;
                return fallback();
            case vk::list:
            case vk::string:
                if (numeric(key)) {
                    if (obj.is(vk::string)) step(at, obj.as_string().size() / 32);
                    const sequence seq(obj);
                    const auto n = static_cast<std::int64_t>(seq.size());
                    const auto i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
                    if (i >= 0 && i < n) return seq.at(static_cast<std::size_t>(i));
                }
                return fallback();
            default: return fallback();
        }
    }

    // -- expressions

    value eval(const expr& e) {
        recursion_guard guard(*this, e.offset, e.tag);
        step(e);
        switch (e.kind) {
            case expr_kind::constant: return e.constant;
            case expr_kind::name: {
                const auto& s = slot(e.slot);
                return s ? *s : undefined_named(e.name);
            }
            case expr_kind::list: {
                value::list_type items;
                items.reserve(e.args.size());
                for (const auto* x : e.args) items.push_back(eval(*x));
                value v(std::move(items));
                check_nesting(v, e);
                return v;
            }
            case expr_kind::getattr: return get_attr(eval(*e.a), e.name, e);
            case expr_kind::getitem: {
                const value obj = eval(*e.a);
                return get_item(obj, eval(*e.b), e);
            }
            case expr_kind::call: return call(e);
            case expr_kind::filter: return filter(e);
            case expr_kind::test: {
                const value v = eval(*e.a);
                for (const auto* x : e.args) eval(*x);
                for (const auto& [k, x] : e.kwargs) eval(*x);
                if (!e.args.empty() || !e.kwargs.empty())
                    fail(e, fmt::format("the test '{}' takes no arguments", e.name));
                switch (e.test) {
                    case test_id::defined: return value(!v.is(vk::undefined));
                    case test_id::undefined: return value(v.is(vk::undefined));
                    case test_id::none: return value(v.is(vk::none));
                }
                return {};
            }
            case expr_kind::not_: return value(!truthy(eval(*e.a), e));
            case expr_kind::neg:
            case expr_kind::pos: {
                // Integers only (and bools, which are integers in Python).
                const value v = eval(*e.a);
                if (v.is(vk::undefined)) undefined_error(v, e);
                if (!numeric(v))
                    fail(e, fmt::format("bad operand type for unary {}: '{}'", e.kind == expr_kind::neg ? '-' : '+',
                                        python_type(v)));
                if (e.kind == expr_kind::pos) return value(v.as_int());
                if (v.as_int() == std::numeric_limits<std::int64_t>::min()) fail(e, "integer overflow (64-bit integers are supported)");
                return value(-v.as_int());
            }
            case expr_kind::and_: {
                value l = eval(*e.a);
                return truthy(l, e) ? eval(*e.b) : l;
            }
            case expr_kind::or_: {
                value l = eval(*e.a);
                return truthy(l, e) ? l : eval(*e.b);
            }
            case expr_kind::compare: {
                value left = eval(*e.a);
                for (std::size_t i = 0; i < e.ops.size(); ++i) {
                    value right = eval(*e.args[i]);
                    bool ok;
                    switch (e.ops[i]) {
                        case cmp_op::eq: ok = equals(left, right, e); break;
                        case cmp_op::ne: ok = !equals(left, right, e); break;
                        case cmp_op::in: ok = contains(right, left, e); break;
                        case cmp_op::notin: ok = !contains(right, left, e); break;
                        default: ok = compare_order(left, right, e.ops[i], e);
                    }
                    if (!ok) return value(false);  // Python stops a chain at the first false
                    left = std::move(right);
                }
                return value(true);
            }
            case expr_kind::concat: {
                std::vector<value> parts;
                parts.reserve(e.args.size());
                for (const auto* x : e.args) parts.push_back(eval(*x));
                std::string s;
                for (const auto& v : parts) {
                    append_str(s, v, e);
                    // Checked as it grows: a thousand references to a big string must not be allocated first.
                    if (s.size() > lim_.max_string_bytes - std::min(string_bytes_, lim_.max_string_bytes))
                        fail(e, fmt::format("the template creates more than {} bytes of text", lim_.max_string_bytes));
                }
                return make_string(e, std::move(s));
            }
            case expr_kind::condexpr:
                if (truthy(eval(*e.b), e)) return eval(*e.a);
                if (e.c) return eval(*e.c);
                return undefined_hint("the inline if-expression evaluated to false and has no else section", true);
        }
        return {};
    }

    value call(const expr& e) {
        const value callee = eval(*e.a);
        std::vector<value> args;
        args.reserve(e.args.size());
        for (const auto* x : e.args) args.push_back(eval(*x));
        std::vector<std::pair<std::string_view, value>> kwargs;
        for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
        switch (callee.type()) {
            case vk::macro: return call_macro(*static_cast<const macro_object*>(callee.payload()), std::move(args),
                                              std::move(kwargs), e);
            case vk::undefined: undefined_error(callee, e);
            case vk::global:
                unsupported(e, fmt::format("the Jinja2 global '{}' is", *static_cast<const std::string*>(callee.payload())));
            default: fail(e, fmt::format("'{}' object is not callable", python_type(callee)));
        }
    }

    // jinja2.runtime.Macro.__call__'s binding: positional arguments first;
    // keywords fill only what positional ones left; nothing may be left over.
    value call_macro(const macro_object& m, std::vector<value> args,
                     std::vector<std::pair<std::string_view, value>> kwargs, const expr& at) {
        const stmt& def = *m.def;
        const macro_code& code = *def.macro;
        if (call_depth_ >= lim_.max_call_depth)
            fail(at, fmt::format("macros call macros more than {} deep", lim_.max_call_depth));
        const std::size_t n = code.params.size();
        std::vector<std::optional<value>> bound(n);
        const std::size_t positional = std::min(args.size(), n);
        for (std::size_t i = 0; i < positional; ++i) bound[i] = args[i];
        if (positional != n) {
            for (std::size_t i = positional; i < n; ++i) {
                const auto it = std::find_if(kwargs.begin(), kwargs.end(),
                                             [&](const auto& kv) { return kv.first == def.params[i]; });
                if (it != kwargs.end()) {
                    bound[i] = std::move(it->second);
                    kwargs.erase(it);
                }
            }
        }
        if (!kwargs.empty()) fail(at, fmt::format("macro '{}' takes no keyword argument '{}'", def.target, kwargs.front().first));
        if (args.size() > n) fail(at, fmt::format("macro '{}' takes not more than {} argument(s)", def.target, n));

        activation frame;
        frame.slots.resize(static_cast<std::size_t>(code.slot_count));
        frame.enclosing = m.closure;
        auto* saved_frame = current_;
        auto* saved_out = out_;
        std::string out;
        current_ = &frame;
        out_ = &out;
        ++call_depth_;
        struct restore {
            renderer& r;
            activation* frame;
            std::string* out;
            ~restore() {
                r.current_ = frame;
                r.out_ = out;
                --r.call_depth_;
            }
        } restore_on_exit{*this, saved_frame, saved_out};
        for (std::size_t i = 0; i < n; ++i)
            if (bound[i]) slot(code.params[i]) = std::move(bound[i]);
        enter(code.frame);
        const std::size_t first_default = n - def.defaults.size();
        for (std::size_t i = 0; i < n; ++i) {
            auto& s = slot(code.params[i]);
            if (s) continue;
            if (i >= first_default) {
                s = eval(*def.defaults[i - first_default]);
            } else {
                s = undefined_hint(fmt::format("parameter '{}' was not provided", def.params[i]), false, def.params[i]);
            }
        }
        exec(def.body);
        charge(at, out.size());
        return value(std::move(out));
    }

    // -- filters: Python's argument binding, then the filter

    std::vector<std::optional<value>> bind(const expr& e, std::initializer_list<std::string_view> params,
                                           std::size_t required, std::vector<value> args,
                                           std::vector<std::pair<std::string_view, value>> kwargs) const {
        if (args.size() > params.size())
            fail(e, fmt::format("the filter '{}' takes at most {} argument(s), {} given", e.name, params.size(), args.size()));
        std::vector<std::optional<value>> out(params.size());
        for (std::size_t i = 0; i < args.size(); ++i) out[i] = std::move(args[i]);
        for (auto& [k, v] : kwargs) {
            const auto it = std::find(params.begin(), params.end(), k);
            if (it == params.end()) fail(e, fmt::format("the filter '{}' has no argument '{}'", e.name, k));
            auto& target = out[static_cast<std::size_t>(it - params.begin())];
            if (target) fail(e, fmt::format("the filter '{}' got two values for '{}'", e.name, k));
            target = std::move(v);
        }
        for (std::size_t i = 0; i < required; ++i)
            if (!out[i]) fail(e, fmt::format("the filter '{}' needs the argument '{}'", e.name, *(params.begin() + i)));
        return out;
    }

    value filter(const expr& e) {
        const value v = eval(*e.a);
        std::vector<value> args;
        for (const auto* x : e.args) args.push_back(eval(*x));
        std::vector<std::pair<std::string_view, value>> kwargs;
        for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
        switch (e.filter) {
            case filter_id::default_: {
                auto a = bind(e, {"default_value", "boolean"}, 0, std::move(args), std::move(kwargs));
                const value fallback = a[0] ? *a[0] : value("");
                const bool boolean = a[1] && truthy(*a[1], e);
                if (v.is(vk::undefined) || (boolean && !truthy(v, e))) return fallback;
                return v;
            }
            case filter_id::lower:
            case filter_id::upper: {
                bind(e, {}, 0, std::move(args), std::move(kwargs));
                auto changed = py_change_case(to_str(v, e), e.filter == filter_id::upper);
                if (!changed) unsupported(e, fmt::format("'{}' of text beyond U+00FF is", e.name));
                return make_string(e, std::move(*changed));
            }
            case filter_id::string:
                bind(e, {}, 0, std::move(args), std::move(kwargs));
                return v.is(vk::string) ? v : make_string(e, to_str(v, e));
            case filter_id::trim: {
                auto a = bind(e, {"chars"}, 0, std::move(args), std::move(kwargs));
                const std::string s = to_str(v, e);
                std::optional<std::string_view> chars;
                if (a[0] && !a[0]->is(vk::none)) {
                    if (!a[0]->is(vk::string)) fail(e, "strip arg must be None or str");
                    chars = a[0]->as_string();
                }
                step(e, s.size() / 64);
                return make_string(e, std::string(py_strip(s, chars)));
            }
            case filter_id::replace: {
                auto a = bind(e, {"old", "new", "count"}, 2, std::move(args), std::move(kwargs));
                std::int64_t count = -1;
                if (a[2] && !a[2]->is(vk::none)) {
                    if (!numeric(*a[2]))
                        fail(e, fmt::format("'{}' object cannot be interpreted as an integer", python_type(*a[2])));
                    count = a[2]->as_int();
                }
                return make_string(e, replace(e, to_str(v, e), to_str(*a[0], e), to_str(*a[1], e), count));
            }
            case filter_id::join: {
                auto a = bind(e, {"d", "attribute"}, 0, std::move(args), std::move(kwargs));
                const std::string sep = a[0] ? to_str(*a[0], e) : std::string();
                const sequence seq = iterate(v, e);
                std::string out;
                for (std::size_t i = 0; i < seq.size(); ++i) {
                    step(e);
                    if (i) out += sep;
                    value item = seq.at(i);
                    if (a[1] && !a[1]->is(vk::none)) item = attribute_of(item, *a[1], e);
                    append_str(out, item, e);
                    if (out.size() > lim_.max_output_bytes)
                        fail(e, fmt::format("join makes more than {} bytes", lim_.max_output_bytes));
                }
                return make_string(e, std::move(out));
            }
            case filter_id::length: {
                if (!kwargs.empty()) fail(e, "len() takes no keyword arguments");
                if (!args.empty()) fail(e, fmt::format("len() takes exactly one argument ({} given)", args.size() + 1));
                switch (v.type()) {
                    case vk::string: step(e, v.as_string().size() / 64); return value(code_point_count(v.as_string()));
                    case vk::list: return value(v.as_list().size());
                    case vk::dict: return value(v.as_dict().size());
                    case vk::undefined: check_defined(v, e); return value(0);
                    case vk::loop: return value(static_cast<const loop_state*>(v.payload())->length);
                    default: fail(e, fmt::format("object of type '{}' has no len()", python_type(v)));
                }
            }
            case filter_id::first:
            case filter_id::last: {
                bind(e, {}, 0, std::move(args), std::move(kwargs));
                const bool first = e.filter == filter_id::first;
                if (!first && !(v.is(vk::list) || v.is(vk::string) || v.is(vk::dict) || v.is(vk::undefined)))
                    fail(e, fmt::format("'{}' object is not reversible", python_type(v)));
                const sequence seq = iterate(v, e);
                if (seq.size() == 0)
                    return undefined_hint(first ? "No first item, sequence was empty." : "No last item, sequence was empty.");
                return seq.at(first ? 0 : seq.size() - 1);
            }
        }
        return {};
    }

    // jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
    value attribute_of(value item, const value& attribute, const expr& e) {
        if (!attribute.is(vk::string)) return get_item(item, attribute, e);
        std::string_view path = attribute.as_string();
        for (;;) {
            const auto dot = path.find('.');
            const std::string_view part = path.substr(0, dot);
            const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (digits && part.size() > 18) unsupported(e, "attribute indexes this large are");
            if (!digits && std::any_of(part.begin(), part.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
                unsupported(e, "non-ASCII attribute names in join are");
            item = get_item(item, digits ? value(std::stoll(std::string(part))) : value(part), e);
            if (dot == std::string_view::npos) return item;
            path.remove_prefix(dot + 1);
        }
    }

    // Python's str.replace(old, new, count): an empty `old` matches before
    // every character and at the end; a negative count replaces all.
    std::string replace(const expr& e, const std::string& s, const std::string& old, const std::string& repl,
                        std::int64_t count) {
        std::string out;
        auto grow = [&](std::string_view piece) {
            out += piece;
            if (out.size() > lim_.max_output_bytes)
                fail(e, fmt::format("replace makes more than {} bytes", lim_.max_output_bytes));
        };
        std::uint64_t left = count < 0 ? UINT64_MAX : static_cast<std::uint64_t>(count);
        step(e, s.size() / 64);
        if (old.empty()) {
            std::size_t i = 0;
            while (i < s.size() && left > 0) {
                grow(repl);
                const auto n = code_point_bytes(s, i);
                grow(std::string_view(s).substr(i, n));
                i += n;
                --left;
                step(e);
            }
            if (i == s.size() && left > 0) grow(repl);
            grow(std::string_view(s).substr(i));
            return out;
        }
        const substring_search search(old);
        std::size_t from = 0;
        while (left > 0) {
            const auto hit = search.find(s, from);
            if (hit == std::string_view::npos) break;
            grow(std::string_view(s).substr(from, hit - from));
            grow(repl);
            from = hit + old.size();
            --left;
            step(e);
        }
        grow(std::string_view(s).substr(from));
        return out;
    }

    // -- statements

    void emit(std::string_view text, std::uint32_t offset, std::uint32_t tag) {
        out_->append(text);
        string_bytes_ += text.size();
        if (out_->size() > lim_.max_output_bytes)
            fail_at(offset, tag, fmt::format("the output is larger than {} bytes", lim_.max_output_bytes));
        if (string_bytes_ > lim_.max_string_bytes)
            fail_at(offset, tag, fmt::format("the template creates more than {} bytes of text", lim_.max_string_bytes));
    }

    void exec(const std::vector<stmt*>& body) {
        for (const auto* st : body) exec(*st);
    }

    void exec(const stmt& st) {
        recursion_guard guard(*this, st.offset, st.tag);
        switch (st.kind) {
            case stmt_kind::output:
                for (const auto& part : st.parts) {
                    if (!part.value) {
                        emit(part.data, st.offset, st.tag);
                        continue;
                    }
                    const value v = eval(*part.value);
                    if (v.is(vk::string)) {
                        emit(v.as_string(), part.value->offset, part.value->tag);
                    } else {
                        std::string s;
                        append_str(s, v, *part.value);
                        emit(s, part.value->offset, part.value->tag);
                    }
                }
                break;
            case stmt_kind::if_:
                if (truthy(eval(*st.test), *st.test)) {
                    exec(st.body);
                    break;
                }
                for (const auto* elif : st.elifs)
                    if (truthy(eval(*elif->test), *elif->test)) {
                        exec(elif->body);
                        return;
                    }
                exec(st.else_body);
                break;
            case stmt_kind::for_: exec_for(st); break;
            case stmt_kind::set: {
                value v = eval(*st.value);
                if (st.to_context) context_vars_[std::string(st.target)] = v;
                slot(st.target_slot) = std::move(v);
                break;
            }
            case stmt_kind::macro: {
                value m = value::make_internal(vk::macro, std::make_shared<macro_object>(macro_object{&st, current_}));
                if (st.to_context) context_vars_[std::string(st.target)] = m;
                slot(st.target_slot) = std::move(m);
                break;
            }
        }
    }

    void exec_for(const stmt& st) {
        const bool has_loop = st.loop_slot.index >= 0;
        if (has_loop) slot(st.loop_slot).reset();
        const value seq_value = eval(*st.value);
        const sequence seq = iterate(seq_value, *st.value);
        auto state = std::make_shared<loop_state>();
        state->length = seq.size();
        const value loop = has_loop ? value::make_internal(vk::loop, state) : value();
        for (std::size_t i = 0; i < seq.size(); ++i) {
            step(*st.value);
            state->index0 = i;
            slot(st.target_slot) = seq.at(i);
            if (has_loop) slot(st.loop_slot) = loop;
            enter(st.loop_frame);
            exec(st.body);
        }
        leave(st.loop_frame);
        if (seq.size() == 0 && !st.else_body.empty()) {
            enter(st.else_frame);
            exec(st.else_body);
            leave(st.else_frame);
        }
    }

    // Evaluation recurses once per nested block, expression and macro call;
    // this bounds the stack whatever the limits are set to.
    static constexpr std::size_t max_recursion = 1500;

    const program& p_;
    const rtb::jinja::variables& vars_;
    const rtb::jinja::limits& lim_;
    bool strict_;
    std::map<std::string, value, std::less<>> context_vars_;
    activation* current_ = nullptr;
    std::string* out_ = nullptr;
    std::uint64_t steps_ = 0;
    std::size_t string_bytes_ = 0;
    std::size_t call_depth_ = 0;
    std::size_t recursion_ = 0;
};

}  // namespace eval

inline std::string render(const program& prog, const rtb::jinja::variables& vars, const rtb::jinja::options& options) {
    return eval::renderer(prog, vars, options).run();
}

}  // namespace rtb::detail::jinja
