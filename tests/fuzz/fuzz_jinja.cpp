// Jinja2 templates are user files: lexing, parsing, scope analysis and
// rendering fail only with rtb::error (naming line and column), never with a
// crash, a hang or unbounded memory; and rendering is deterministic.
//
// Input: one byte of switches (trim_blocks, lstrip_blocks,
// keep_trailing_newline, strict), then the template, then '\x01'-separated
// strings bound to the variables a, b, c... The variables also hold a list, a
// dict, integers, a bool and none, so every kind of value meets every
// construct.
#include <string>

#include "rtb/context/jinja.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using rtb::jinja::value;
    rtb::fuzz::steering in(data, size);
    const auto switches = in.byte();
    const auto parts = in.parts();

    rtb::jinja::options o;
    o.trim_blocks = switches & 1;
    o.lstrip_blocks = switches & 2;
    o.keep_trailing_newline = switches & 4;
    if (switches & 8) o.undefined = rtb::jinja::undefined_behavior::strict;
    // Small bounds keep each input fast; hitting one is an ordinary error.
    o.limits.max_steps = 200'000;
    o.limits.max_output_bytes = 1 << 20;
    o.limits.max_string_bytes = 4 << 20;

    rtb::jinja::variables vars;
    for (std::size_t i = 1; i < parts.size() && i <= 8; ++i)
        vars[std::string(1, static_cast<char>('a' + i - 1))] = value(parts[i]);
    vars["l"] = value::list_type{1, "two", true, nullptr, value::list_type{"x"}};
    vars["d"] = value::dict_type{{"a", 1}, {"name", "n"}, {"list", value::list_type{1, 2}}};
    vars["n"] = 3;
    vars["z"] = 0;
    vars["t"] = true;
    vars["none"] = nullptr;

    try {
        const auto tmpl = rtb::jinja::compiled_template::compile(parts[0], "fuzz.j2", o);
        std::string first, second;
        bool first_failed = false, second_failed = false;
        try {
            first = tmpl.render(vars);
        } catch (const rtb::error&) {
            first_failed = true;
        }
        try {
            second = tmpl.render(vars);
        } catch (const rtb::error&) {
            second_failed = true;
        }
        if (first_failed != second_failed || first != second) rtb::fuzz::property_failed("rendering is not deterministic");
    } catch (const rtb::error&) {
    }
    return 0;
}
