// The Jinja2 renderer's entry points (rtb/context/jinja.hpp): included by
// that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so the lexer, parser and evaluator are parsed
// only where they are defined.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/detail/jinja_ast.hpp"
#include "rtb/context/detail/jinja_eval.hpp"
#include "rtb/context/detail/jinja_lexer.hpp"
#include "rtb/context/detail/jinja_parser.hpp"
#include "rtb/context/detail/jinja_scope.hpp"
#include "rtb/context/detail/jinja_text.hpp"
#include "rtb/context/jinja.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb::detail::jinja {

/// "line L, column C" (columns count characters) of `offset` in `text`.
RTB_DECL std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
    std::size_t line = 1, col = 1;
    offset = std::min(offset, text.size());
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') line = line + 1, col = 1;
        else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++col;
    }
    return {line, col};
}

/// The tag an error is in, on one line and at most ~80 characters.
RTB_DECL std::string construct_text(std::string_view source, std::size_t begin, std::size_t end) {
    if (begin >= source.size() || end <= begin) return {};
    std::string_view s = source.substr(begin, end - begin);
    std::string out;
    std::size_t chars = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = code_point_bytes(s, i);
        if (++chars > 80) {
            out += "...";
            break;
        }
        if (s[i] == '\n') out += "\\n";
        else if (s[i] == '\t') out += "\\t";
        else if (static_cast<unsigned char>(s[i]) < 0x20) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i]));
        else out += s.substr(i, n);
        i += n;
    }
    return out;
}

/// Refuses variables a template could not have from Python: text that is
/// not UTF-8, and (bounding every recursion over values) nesting deeper than
/// the evaluator's limit. Iterative, so any value is checked in bounded stack.
RTB_DECL void check_variables(std::string_view name, const rtb::jinja::variables& vars) {
    using rtb::jinja::value;
    auto refuse = [&](std::string_view var, std::string_view why) {
        throw error(errc::invalid_argument, fmt::format("template {}: the variable {} {}", name, detail::printable(var), why));
    };
    for (const auto& [var, v] : vars) {
        if (first_invalid_utf8(var) != std::string_view::npos) refuse(var, "has a name that is not valid UTF-8");
        if (v.nesting() > eval::max_value_nesting)
            refuse(var, fmt::format("nests lists or dicts more than {} deep", eval::max_value_nesting));
        std::vector<const value*> todo{&v};
        while (!todo.empty()) {
            const value* x = todo.back();
            todo.pop_back();
            if (x->is(value::kind::string) && first_invalid_utf8(x->as_string()) != std::string_view::npos)
                refuse(var, "holds text that is not valid UTF-8");
            if (x->is(value::kind::list))
                for (const auto& item : x->as_list()) todo.push_back(&item);
            if (x->is(value::kind::dict))
                for (const auto& [k, item] : x->as_dict()) {
                    if (first_invalid_utf8(k) != std::string_view::npos) refuse(var, "holds a key that is not valid UTF-8");
                    todo.push_back(&item);
                }
        }
    }
}

[[noreturn]] RTB_DECL void raise(std::string_view name, std::string_view source, const failure& f) {
    const auto [line, col] = line_column(source, f.offset);
    std::string message = fmt::format("template {}: line {}, column {}: {}", name, line, col, f.message);
    if (f.construct_begin != failure::npos) {
        const auto tag = construct_text(source, f.construct_begin, f.construct_end);
        if (!tag.empty()) message += fmt::format(" (in `{}`)", tag);
    }
    throw error(errc::invalid_argument, std::move(message));
}

}  // namespace rtb::detail::jinja

namespace rtb::jinja {

RTB_DECL compiled_template compiled_template::compile(std::string_view text, std::string_view name, const options& o) {
    const std::string shown = name.empty() ? std::string("(template)") : std::string(name);
    if (text.size() > o.limits.max_template_bytes)
        throw error(errc::invalid_argument, fmt::format("template {}: {} bytes; templates are limited to {} bytes", shown,
                                                        text.size(), o.limits.max_template_bytes));
    if (const auto bad = rtb::detail::jinja::first_invalid_utf8(text); bad != std::string_view::npos) {
        const auto [line, col] = rtb::detail::jinja::line_column(text, bad);
        throw error(errc::invalid_argument,
                    fmt::format("template {}: line {}, column {}: the template is not valid UTF-8", shown, line, col));
    }
    auto p = std::make_shared<rtb::detail::jinja::program>();
    p->name = shown;
    p->lexed.source = rtb::detail::jinja::normalize_newlines(text, o.keep_trailing_newline);
    try {
        rtb::detail::jinja::tokenize(p->lexed, {o.trim_blocks, o.lstrip_blocks, o.keep_trailing_newline});
        rtb::detail::jinja::parse(*p, o.limits.max_nesting);
        rtb::detail::jinja::analyze(*p);
    } catch (const rtb::detail::jinja::failure& f) {
        rtb::detail::jinja::raise(shown, p->lexed.source, f);
    }
    return compiled_template(std::move(p), o);
}

RTB_DECL std::string compiled_template::render(const variables& vars) const {
    rtb::detail::jinja::check_variables(program_->name, vars);
    try {
        return rtb::detail::jinja::render(*program_, vars, options_);
    } catch (const rtb::detail::jinja::failure& f) {
        rtb::detail::jinja::raise(program_->name, program_->lexed.source, f);
    }
}

}  // namespace rtb::jinja
