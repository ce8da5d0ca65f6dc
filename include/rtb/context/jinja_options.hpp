// How a Jinja2 template is read and rendered: Jinja2's own Environment
// switches (same names, same defaults), what an undefined name does, and the
// bounds that keep a hostile template from taking unbounded time or memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rtb::jinja {

/// What a name that nothing defines does.
enum class undefined_behavior : std::uint8_t {
    lenient,  ///< jinja2.Undefined: prints as "", is false, iterates as empty; other uses are errors
    strict,   ///< jinja2.StrictUndefined: any use but `is defined`, `is none` and `default` is an error
};

/// Bounds on one template. Exceeding one is an error naming it, never a
/// crash, a hang or an unbounded allocation.
struct limits {
    std::size_t max_template_bytes = std::size_t{1} << 20;  ///< the template text
    std::size_t max_output_bytes = std::size_t{16} << 20;   ///< what render() returns
    std::size_t max_string_bytes = std::size_t{64} << 20;   ///< every string a render creates, added up
    std::size_t max_nesting = 64;        ///< blocks inside blocks, and expressions inside expressions
    std::size_t max_call_depth = 64;     ///< macros calling macros
    std::uint64_t max_steps = 10'000'000;  ///< evaluation steps: nodes, loop iterations, items visited
};

/// Jinja2's Environment switches, with Jinja2's defaults. Autoescaping is
/// always off: a Dockerfile is not HTML.
struct options {
    bool trim_blocks = false;            ///< drop the first newline after a block tag
    bool lstrip_blocks = false;          ///< strip spaces and tabs before a block tag on its line
    bool keep_trailing_newline = false;  ///< keep the template's final newline (Jinja2 drops one)
    undefined_behavior undefined = undefined_behavior::lenient;
    jinja::limits limits;
};

}  // namespace rtb::jinja
