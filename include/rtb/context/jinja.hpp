// Jinja2 templates: a focused renderer for the subset Dockerfile templates
// use (OpenHands' Dockerfile.j2 among them), byte-identical to Python's
// jinja2 with autoescape off. Anything outside the subset is an error with
// its line and column, never passed through as text.
//
// Supported: {{ expr }}, {% if/elif/else/endif %}, {% for x in seq %} with
// {% else %} and loop.index/index0/revindex/revindex0/first/last/length,
// {% set x = expr %}, {% macro name(a, b=default) %} and calls,
// {# comments #}, {% raw %}, whitespace control ({%- -%} {{- -}} {%+ +%})
// with Jinja2's trim_blocks, lstrip_blocks and keep_trailing_newline;
// expressions: string, integer, boolean, none and list literals, names,
// attribute and item access, not and or, in, not in, == != < > <= >=, ~,
// unary - and + on integers,
// parentheses, inline if/else, `is defined`, `is undefined`, `is none`;
// filters default (d), lower, upper, trim, replace, join, length (count),
// first, last, string.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/context/jinja_options.hpp"
#include "rtb/context/jinja_value.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"

namespace rtb::detail::jinja {
struct program;  // rtb/context/detail/jinja_ast.hpp; the renderer's parts stay out of this header
}

namespace rtb::jinja {

/// A parsed and checked template: render it any number of times, from any
/// number of threads. Copies share the parsed form.
class compiled_template {
public:
    /// Parses `text`; `name` names it in errors. Throws rtb::error
    /// (invalid_argument): "template NAME: line L, column C: WHAT (in `TAG`)".
    static compiled_template compile(std::string_view text, std::string_view name, const options& o = {});

    /// Renders with `vars`. Throws rtb::error (invalid_argument) as compile()
    /// does; also for a variable holding text that is not UTF-8 (a Python str
    /// cannot) or nesting lists and dicts more than 200 deep.
    std::string render(const variables& vars) const;

    const options& settings() const noexcept { return options_; }

private:
    compiled_template(std::shared_ptr<const rtb::detail::jinja::program> p, options o)
        : program_(std::move(p)), options_(std::move(o)) {}

    std::shared_ptr<const rtb::detail::jinja::program> program_;
    options options_;
};

/// Compiles and renders in one go.
inline std::string render(std::string_view text, std::string_view name, const variables& vars, const options& o = {}) {
    return compiled_template::compile(text, name, o).render(vars);
}

}  // namespace rtb::jinja

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/context/impl/jinja.ipp"
#endif
