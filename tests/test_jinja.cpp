// The Jinja2 renderer as a library component: what a template renders to is
// checked against Python's jinja2 by tests/jinja/test_jinja_differential.py;
// here are its contract's other parts. Errors name the template, the line,
// the column and the construct; hostile templates (deep nesting, huge loops,
// runaway recursion, exponential strings) stop at a limit in bounded time
// and memory; compiled templates are shared and reusable.
#define BOOST_TEST_MODULE jinja
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "rtb/context/jinja.hpp"

using namespace rtb;
using jinja::value;

namespace {

std::string render(std::string_view text, const jinja::variables& vars = {}, jinja::options o = {}) {
    return jinja::render(text, "t.j2", vars, o);
}

std::string error_of(std::string_view text, const jinja::variables& vars = {}, jinja::options o = {}) {
    try {
        render(text, vars, o);
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::invalid_argument);
        return e.what();
    }
    BOOST_FAIL("no error for: " << text);
    return "";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Bounded: a hostile template is refused quickly (generous for sanitizer builds).
template <class F>
void within_seconds(double seconds, F f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(took.count() < seconds, "took " << took.count() << " s");
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(errors_say_where)

BOOST_AUTO_TEST_CASE(line_column_and_construct) {
    const auto e = error_of("FROM x\nRUN {{ a |\n frob }}\n");
    BOOST_TEST(e == "template t.j2: line 3, column 2: unknown filter 'frob' (in `{{ a |\\n frob }}`)", e);
}

BOOST_AUTO_TEST_CASE(columns_count_characters_not_bytes) {
    const auto e = error_of("é€ {% include 'x' %}");
    BOOST_TEST(contains(e, "line 1, column 7:"), e);
}

BOOST_AUTO_TEST_CASE(crlf_templates_count_lines_as_jinja2_does) {
    BOOST_TEST(contains(error_of("a\r\nb\r\n{% frob %}"), "line 3, column 4: unknown tag 'frob'"));
    BOOST_TEST(contains(error_of("a\rb\r{% frob %}"), "line 3, column 4"));
}

BOOST_AUTO_TEST_CASE(unsupported_constructs_are_errors_not_text) {
    BOOST_TEST(contains(error_of("{% extends 'base' %}"), "line 1, column 4: the {% extends %} tag is not supported"));
    BOOST_TEST(contains(error_of("{{ 1 + 1 }}"), "line 1, column 6: arithmetic ('+') is not supported"));
    BOOST_TEST(contains(error_of("{{ {'a': 1} }}"), "dict literals are not supported"));
    BOOST_TEST(contains(error_of("{{ 1.5 }}"), "floating-point numbers are not supported"));
    BOOST_TEST(contains(error_of("{{ x|int }}"), "the filter 'int' is not supported"));
    BOOST_TEST(contains(error_of("{{ x is even }}"), "the test 'even' is not supported"));
    BOOST_TEST(contains(error_of("{% for a, b in x %}{% endfor %}"), "tuples are not supported"));
    BOOST_TEST(contains(error_of("{{ s.upper() }}", {{"s", "x"}}), "'upper' of a str is a Python method"));
    BOOST_TEST(contains(error_of("{% for i in range(3) %}{% endfor %}"), "the Jinja2 global 'range' is not supported"));
    BOOST_TEST(contains(error_of("{% for x in [1] %}{{ loop.cycle('a') }}{% endfor %}"), "loop.cycle is not supported"));
    BOOST_TEST(contains(error_of("{% set x %}y{% endset %}"), "block assignments"));
    BOOST_TEST(contains(error_of("abc {#"), "comment {# is never closed"));
    BOOST_TEST(contains(error_of("{% raw %}"), "{% raw %} is never closed"));
}

BOOST_AUTO_TEST_CASE(malformed_templates_name_the_open_block) {
    BOOST_TEST(contains(error_of("{% for x in y %}\n{% if x %}\n{% endfor %}"),
                        "line 3, column 4: unexpected {% endfor %}: the innermost open block is {% if %} at line 2, "
                        "column 4, which ends with {% elif %}, {% else %} or {% endif %}"));
    BOOST_TEST(contains(error_of("{% macro m() %}\nx"), "line 1, column 4: {% macro %} is never closed"));
    BOOST_TEST(contains(error_of("{{ (a }}"), "unexpected '}', expected ')'"));
    BOOST_TEST(contains(error_of("{% if %}{% endif %}"), "expected an expression, got '%}'"));
}

BOOST_AUTO_TEST_CASE(strict_undefined_names_the_variable_where_it_is_used) {
    jinja::options o;
    o.undefined = jinja::undefined_behavior::strict;
    BOOST_TEST(error_of("a\n  {{ b ~ nope }}", {{"b", "x"}}, o) ==
               "template t.j2: line 2, column 6: 'nope' is undefined (in `{{ b ~ nope }}`)");
    BOOST_TEST(contains(error_of("{% for x in nope %}{% endfor %}", {}, o), "line 1, column 13: 'nope' is undefined"));
    BOOST_TEST(contains(error_of("{{ d.k }}", {{"d", value::dict_type{}}}, o), "'dict object' has no attribute or key 'k'"));
}

BOOST_AUTO_TEST_CASE(variables_must_hold_utf8_as_python_strings_do) {
    BOOST_TEST(error_of("{{ a|join }}", {{"a", std::string("ok\xff")}}) ==
               "template t.j2: the variable 'a' holds text that is not valid UTF-8");
    BOOST_TEST(contains(error_of("x", {{"l", value::list_type{"ok", value::dict_type{{"k", std::string("\xc3")}}}}}),
                        "the variable 'l' holds text that is not valid UTF-8"));
    BOOST_TEST(contains(error_of("x", {{"d", value::dict_type{{std::string("\xe2\x82"), 1}}}}), "holds a key that is not valid UTF-8"));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_refused_with_its_place) {
    BOOST_TEST(contains(error_of("ab\ncd\xff"), "line 2, column 3: the template is not valid UTF-8"));
    BOOST_TEST(contains(error_of("\xed\xa0\x80"), "not valid UTF-8"));  // an encoded surrogate
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hostile_templates_are_bounded)

BOOST_AUTO_TEST_CASE(deep_block_nesting) {
    within_seconds(5, [] {
        std::string t = "\n";  // (one string built by appending: gcc 12 misjudges "\n" + std::string at -O3)
        t += repeat("{% if true %}", 40000);
        t += repeat("{% endif %}", 40000);
        const auto e = error_of(t);
        BOOST_TEST(e.starts_with("template t.j2: line 2, column 836: the template nests blocks or expressions more than "
                                 "64 deep (in `{% if true %}`)"),
                   e);
    });
}

BOOST_AUTO_TEST_CASE(deep_expression_nesting) {
    within_seconds(5, [] {
        BOOST_TEST(contains(error_of("{{ " + repeat("(", 100) + "1" + repeat(")", 100) + " }}"), "more than 64 deep"));
        BOOST_TEST(contains(error_of("{{ " + repeat("[", 100) + repeat("]", 100) + " }}"), "more than 64 deep"));
        BOOST_TEST(contains(error_of("{{ " + repeat("not ", 100000) + "1 }}"), "more than 64 deep"));
        BOOST_TEST(contains(error_of("{{ x" + repeat(".a", 100000) + " }}"), "more than 64 deep"));
        // Brackets are balanced while lexing, before parsing: bounded there too.
        BOOST_TEST(contains(error_of("{{ " + repeat("(", 100000) + "1" + repeat(")", 100000) + " }}"),
                            "brackets are nested too deeply"));
    });
}

BOOST_AUTO_TEST_CASE(long_chains_do_not_become_deep_trees) {
    within_seconds(5, [] {
        BOOST_TEST(contains(error_of("{{ a" + repeat(" or a", 10000) + " }}"), "more than 64 deep"));
        BOOST_TEST(contains(error_of("{{ a" + repeat("|lower", 10000) + " }}"), "more than 64 deep"));
        // Flat forms are fine: a long concatenation, a long list.
        BOOST_TEST(render("{{ 'a'" + repeat(" ~ 'a'", 5000) + " }}").size() == 5001);
        BOOST_TEST(render("{{ [" + repeat("1,", 5000) + "]|length }}") == "5000");
    });
}

BOOST_AUTO_TEST_CASE(many_names_and_many_ifs_cost_what_they_hold) {
    // Scope analysis looks at every `if` with every name known so far; it
    // must not copy them all for each branch (jinja2 does).
    within_seconds(10, [] {
        std::string t;
        for (int i = 0; i < 15000; ++i) t += "{% set v" + std::to_string(i) + " = 1 %}";
        for (int i = 0; i < 15000; ++i) t += "{% if x %}{% set w = 1 %}{% endif %}";
        BOOST_TEST(render(t).empty());
    });
}

BOOST_AUTO_TEST_CASE(huge_loops_stop_at_the_step_limit) {
    within_seconds(30, [] {
        jinja::variables v{{"s", std::string(4000, 'x')}};
        const auto e = error_of("{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}", v);
        BOOST_TEST(contains(e, "more than 10000000 evaluation steps"), e);
    });
}

BOOST_AUTO_TEST_CASE(runaway_recursion_stops_at_the_call_depth) {
    within_seconds(5, [] {
        const auto e = error_of("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}");
        BOOST_TEST(contains(e, "macros call macros more than 64 deep"), e);
    });
}

BOOST_AUTO_TEST_CASE(recursion_through_deep_blocks_is_bounded_too) {
    within_seconds(10, [] {
        const std::string body = repeat("{% if true %}", 60) + "{{ m() }}" + repeat("{% endif %}", 60);
        const auto e = error_of("{% macro m() %}" + body + "{% endmacro %}{{ m() }}");
        BOOST_TEST((contains(e, "nests too deeply at run time") || contains(e, "more than 64 deep")), e);
    });
}

BOOST_AUTO_TEST_CASE(exponential_strings_stop_at_the_byte_limits) {
    within_seconds(10, [] {
        // Each call quadruples its argument: 4^64 bytes unless stopped.
        const auto e = error_of("{% macro d(s) %}{{ d(s ~ s ~ s ~ s) }}{% endmacro %}{{ d('abcdefgh') }}");
        BOOST_TEST(contains(e, "more than 67108864 bytes of text"), e);
    });
}

BOOST_AUTO_TEST_CASE(a_long_concatenation_is_checked_as_it_grows) {
    within_seconds(10, [] {
        // 2000 references to 1 MiB: 2 GiB if built before being measured.
        const auto e = error_of("{{ s" + repeat(" ~ s", 2000) + " }}", {{"s", std::string(1 << 20, 'x')}});
        BOOST_TEST(contains(e, "more than 67108864 bytes of text"), e);
    });
}

BOOST_AUTO_TEST_CASE(characters_of_big_strings_are_walked_not_tabled) {
    within_seconds(10, [] {
        const std::string s = repeat("é", 1 << 20) + "!";
        BOOST_TEST(render("{{ s[-1] }}{{ s|last }}{{ s[1048575] }}{{ s|length }}", {{"s", s}}) == "!!é1048577");
        BOOST_TEST(render("{% for c in s %}{% endfor %}{{ s|first }}", {{"s", s}}) == "é");
    });
}

BOOST_AUTO_TEST_CASE(output_size_is_bounded) {
    jinja::options o;
    o.limits.max_output_bytes = 1000;
    const auto e = error_of("{% for x in s %}{{ s }}{% endfor %}", {{"s", std::string(100, 'x')}}, o);
    BOOST_TEST(contains(e, "the output is larger than 1000 bytes"), e);
}

BOOST_AUTO_TEST_CASE(replace_with_an_empty_needle_is_bounded) {
    jinja::options o;
    o.limits.max_output_bytes = 1 << 20;
    const auto e = error_of("{{ s|replace('', s) }}", {{"s", std::string(100000, 'x')}}, o);
    BOOST_TEST(contains(e, "replace makes more than 1048576 bytes"), e);
}

BOOST_AUTO_TEST_CASE(quadratic_substring_search_is_linear) {
    within_seconds(5, [] {
        const std::string hay(1 << 20, 'a');
        const std::string needle = std::string(1 << 19, 'a') + "b";
        BOOST_TEST(render("{{ n in h }}", {{"h", hay}, {"n", needle}}) == "False");
    });
}

BOOST_AUTO_TEST_CASE(deeply_nested_values_are_refused_not_overflowed) {
    value v = value::list_type{};
    for (int i = 0; i < 100000; ++i) v = value(value::list_type{v});
    const auto e = error_of("{{ v }}", {{"v", v}});
    BOOST_TEST(contains(e, "nests lists or dicts more than 200 deep"), e);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(api)

BOOST_AUTO_TEST_CASE(a_compiled_template_renders_many_times_and_concurrently) {
    const auto t = jinja::compiled_template::compile("{% for x in xs %}{{ x }}{% endfor %}", "t");
    std::vector<std::thread> threads;
    std::vector<std::string> out(8);
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            for (int k = 0; k < 200; ++k) out[static_cast<std::size_t>(i)] = t.render({{"xs", value::list_type{i, "-", k}}});
        });
    for (auto& th : threads) th.join();
    for (int i = 0; i < 8; ++i) BOOST_TEST(out[static_cast<std::size_t>(i)] == std::to_string(i) + "-199");
}

BOOST_AUTO_TEST_CASE(dicts_keep_the_first_place_and_the_last_value_of_a_key) {
    const value d(value::dict_type{{"a", 1}, {"b", 2}, {"a", 3}});
    BOOST_TEST(render("{{ d }}", {{"d", d}}) == "{'a': 3, 'b': 2}");
}

BOOST_AUTO_TEST_CASE(values_print_as_python_prints_them) {
    BOOST_TEST(render("{{ v }}", {{"v", value::list_type{nullptr, true, -3, "it's", value::list_type{}}}}) ==
               "[None, True, -3, \"it's\", []]");
}

BOOST_AUTO_TEST_CASE(nothing_is_html_escaped) {
    BOOST_TEST(render("{{ v }}", {{"v", "<a href=\"x\">&amp;</a>"}}) == "<a href=\"x\">&amp;</a>");
}

BOOST_AUTO_TEST_CASE(out_of_range_integers_are_refused) {
    BOOST_CHECK_THROW(value(std::uint64_t(1) << 63), error);
    BOOST_TEST(contains(error_of("{{ 9223372036854775808 }}"), "integer literal is too large"));
    BOOST_TEST(contains(error_of("{{ -n }}", {{"n", std::numeric_limits<std::int64_t>::min()}}), "integer overflow"));
}

BOOST_AUTO_TEST_SUITE_END()
