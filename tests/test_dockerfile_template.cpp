// Dockerfile templates: variables, sections per plan, no HTML escaping,
// strict names, errors that name the template and the line.
#define BOOST_TEST_MODULE dockerfile_template
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <map>
#include <string>

#include "rtb/context/dockerfile_template.hpp"

using namespace rtb;

namespace {

std::string render(std::string_view text, template_inputs in = {}) { return render_dockerfile(text, "t.mustache", in); }

std::string error_of(std::string_view text, template_inputs in = {}) {
    try {
        render(text, in);
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::invalid_argument);
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(variables)

BOOST_AUTO_TEST_CASE(openhands_names_are_defined) {
    template_inputs in;
    in.base_image = "python:3.12";
    in.plan = plan_kind::versioned;
    in.extra_deps = "pip install x";
    const auto out = render(
        "FROM {{base_image}}|{{#build_from_scratch}}S{{/build_from_scratch}}"
        "{{#build_from_versioned}}V{{/build_from_versioned}}{{#build_from_lock}}L{{/build_from_lock}}|"
        "{{#extra_deps}}RUN {{extra_deps}}{{/extra_deps}}",
        in);
    BOOST_TEST(out == "FROM python:3.12|V|RUN pip install x");
}

BOOST_AUTO_TEST_CASE(nothing_is_html_escaped) {
    template_inputs in;
    in.base_image = "reg.example/a&b:<tag>";
    in.extra_deps = "apt-get install -y 'x' \"y\" && echo a>b";
    const auto out = render("FROM {{base_image}}\nRUN {{extra_deps}}\n", in);
    BOOST_TEST(out == "FROM reg.example/a&b:<tag>\nRUN apt-get install -y 'x' \"y\" && echo a>b\n");
}

BOOST_AUTO_TEST_CASE(empty_extra_deps_is_false_in_a_section) {
    BOOST_TEST(render("a{{#extra_deps}}RUN {{extra_deps}}{{/extra_deps}}b") == "ab");
    BOOST_TEST(render("{{^extra_deps}}none{{/extra_deps}}") == "none");
}

BOOST_AUTO_TEST_CASE(lock_files_are_a_list_with_names_and_paths) {
    template_inputs in;
    in.lock_files = {"poetry.lock", "pyproject.toml"};
    BOOST_TEST(render("{{#lock_files}}COPY {{path}} /x/{{name}}\n{{/lock_files}}", in) ==
               "COPY lock/poetry.lock /x/poetry.lock\nCOPY lock/pyproject.toml /x/pyproject.toml\n");
    BOOST_TEST(render("{{#has_lock_files}}yes{{/has_lock_files}}{{^has_lock_files}}no{{/has_lock_files}}") == "no");
}

BOOST_AUTO_TEST_CASE(user_variables_render_and_may_not_shadow_built_ins) {
    template_inputs in;
    in.vars = {{"python", "3.12"}, {"user_name", "openhands"}};
    BOOST_TEST(render("{{python}}/{{user_name}}", in) == "3.12/openhands");
    in.vars = {{"base_image", "evil"}};
    BOOST_TEST(contains(error_of("x", in), "'base_image' is set by rtb"));
    in.vars = {{"bad name", "x"}};
    BOOST_TEST(contains(error_of("x", in), "is not a name"));
    in.vars = {{"a.b", "x"}};
    BOOST_TEST(contains(error_of("x", in), "is not a name"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(an_unknown_variable_is_an_error_naming_template_and_line) {
    const auto e = error_of("FROM {{base_image}}\nRUN {{extra_dep}}\n");
    BOOST_TEST(contains(e, "template t.mustache: line 2: unknown variable 'extra_dep'"), e);
}

BOOST_AUTO_TEST_CASE(a_typo_in_a_section_this_plan_skips_is_still_caught) {
    template_inputs in;
    in.plan = plan_kind::lock;
    const auto e = error_of("FROM {{base_image}}\n{{#build_from_scratch}}\nRUN {{sytem_setup}}\n{{/build_from_scratch}}\n", in);
    BOOST_TEST(contains(e, "line 3: unknown variable 'sytem_setup'"), e);
}

BOOST_AUTO_TEST_CASE(an_unclosed_section_names_the_section_and_where_it_opened) {
    const auto e = error_of("FROM x\n\n{{#build_from_scratch}}\nRUN y\n");
    BOOST_TEST(contains(e, "template t.mustache: line 3, column 1: unclosed section \"build_from_scratch\""), e);
}

BOOST_AUTO_TEST_CASE(an_unopened_section_and_an_unclosed_tag_are_errors) {
    BOOST_TEST(contains(error_of("a\n{{/build_from_lock}}"), "unopened section \"build_from_lock\""));
    BOOST_TEST(contains(error_of("FROM {{base_image"), "unclosed tag"));
}

BOOST_AUTO_TEST_CASE(partials_are_refused) {
    BOOST_TEST(contains(error_of("{{>other}}"), "partials are not supported"));
}

BOOST_AUTO_TEST_CASE(an_oversized_template_is_refused) {
    BOOST_TEST(contains(error_of(std::string(2 << 20, 'x')), "limited to 1 MiB"));
}

BOOST_AUTO_TEST_CASE(plan_names_parse_and_others_are_refused) {
    BOOST_TEST((parse_build_plan("versioned") == plan_kind::versioned));
    BOOST_CHECK_THROW(parse_build_plan("reuse"), error);
    BOOST_CHECK_THROW(parse_build_plan("Scratch"), error);
}

BOOST_AUTO_TEST_CASE(the_reuse_plan_has_no_dockerfile) {
    template_inputs in;
    in.plan = plan_kind::reuse;
    BOOST_TEST(contains(error_of("FROM x", in), "reuse plan builds nothing"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(default_template)

template_inputs inputs(plan_kind f, std::string extra = {}) {
    template_inputs in;
    in.base_image = "local/busybox:1";
    in.plan = f;
    in.extra_deps = std::move(extra);
    in.lock_files = {"deps.lock"};
    return in;
}

BOOST_AUTO_TEST_CASE(scratch_has_system_setup_dependencies_and_source) {
    const auto out = render_dockerfile(default_dockerfile_template(), "default", inputs(plan_kind::scratch));
    BOOST_TEST(contains(out, "FROM local/busybox:1\n"));
    BOOST_TEST(contains(out, "# System setup"));
    BOOST_TEST(contains(out, "COPY lock/ /rtb/lock/"));
    BOOST_TEST(contains(out, "COPY source/ /rtb/runtime/"));
    BOOST_TEST(!contains(out, "RUN /bin/busybox rm -rf /rtb/runtime"));  // nothing to replace
}

BOOST_AUTO_TEST_CASE(versioned_skips_system_setup_and_reinstalls_dependencies) {
    const auto out = render_dockerfile(default_dockerfile_template(), "default", inputs(plan_kind::versioned, "echo x"));
    BOOST_TEST(!contains(out, "# System setup"));
    BOOST_TEST(contains(out, "COPY lock/ /rtb/lock/"));
    BOOST_TEST(contains(out, "RUN echo x\n"));
    BOOST_TEST(contains(out, "RUN /bin/busybox rm -rf /rtb/runtime"));
    BOOST_TEST(contains(out, "COPY source/ /rtb/runtime/"));
}

BOOST_AUTO_TEST_CASE(lock_only_replaces_the_source) {
    const auto out = render_dockerfile(default_dockerfile_template(), "default", inputs(plan_kind::lock, "echo x"));
    BOOST_TEST(!contains(out, "# System setup"));
    BOOST_TEST(!contains(out, "COPY lock/"));
    BOOST_TEST(!contains(out, "echo x"));  // extra deps are in the lock image already
    BOOST_TEST(contains(out, "COPY source/ /rtb/runtime/"));
}

BOOST_AUTO_TEST_CASE(without_lock_files_nothing_is_copied_from_lock) {
    auto in = inputs(plan_kind::scratch);
    in.lock_files.clear();
    const auto out = render_dockerfile(default_dockerfile_template(), "default", in);
    BOOST_TEST(!contains(out, "COPY lock/"));
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------- LABEL line

namespace {

std::string label_error(const std::map<std::string, std::string>& labels, char escape = '\\') {
    try {
        label_instruction(labels, escape);
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::invalid_argument);
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(labels_become_one_label_instruction_quoted_for_the_dockerfile) {
    BOOST_TEST(label_instruction({}) == "");
    BOOST_TEST(label_instruction({{"rtb.plan", "lock"}, {"rtb.base-image", "local/busybox:1"}}) ==
               "LABEL \"rtb.base-image\"=\"local/busybox:1\" \"rtb.plan\"=\"lock\"\n");
    // quotes, variables and backslashes stay text; spaces, tabs, '=' and
    // UTF-8 need nothing
    BOOST_TEST(label_instruction({{"k", "a\"b $HOME ${X:-y} back\\slash\\"}, {"sp key", "x=y\tz caf\xc3\xa9 'q' `c`"}, {"e", ""}}) ==
               "LABEL \"e\"=\"\" \"k\"=\"a\\\"b \\$HOME \\${X:-y} back\\\\slash\\\\\" "
               "\"sp key\"=\"x=y\tz caf\xc3\xa9 'q' `c`\"\n");
}

BOOST_AUTO_TEST_CASE(labels_a_dockerfile_line_cannot_hold_are_refused_by_name) {
    BOOST_TEST(contains(label_error({{"", "x"}}), "an empty key"));
    BOOST_TEST(contains(label_error({{"a=b", "x"}}), "label 'a=b': its key holds '='"));
    BOOST_TEST(contains(label_error({{"k", "two\nlines"}}), "label 'k': its value holds a line break"));
    BOOST_TEST(contains(label_error({{"k", "cr\r"}}), "line break or NUL byte"));
    BOOST_TEST(contains(label_error({{"k", std::string("nul\0", 4)}}), "line break or NUL byte"));
    BOOST_TEST(contains(label_error({{"k\n", "x"}}), "its key holds a line break"));
    // under escape=` Docker and Podman read escapes differently: none is written
    BOOST_TEST(label_instruction({{"a.b", "plain text: 1/2"}}, '`') == "LABEL \"a.b\"=\"plain text: 1/2\"\n");
    for (const char* v : {"a\"b", "$x", "a\\b", "a`b"})
        BOOST_TEST(contains(label_error({{"k", v}}, '`'), "escape=` directive"), v);
}

BOOST_AUTO_TEST_CASE(the_escape_character_comes_from_the_parser_directives_at_the_top) {
    BOOST_TEST(dockerfile_escape_character("FROM x\n") == '\\');
    BOOST_TEST(dockerfile_escape_character("# escape=`\nFROM x\n") == '`');
    BOOST_TEST(dockerfile_escape_character("#ESCAPE = ` \r\nFROM x\n") == '`');
    BOOST_TEST(dockerfile_escape_character("\xef\xbb\xbf# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n") == '`');
    BOOST_TEST(dockerfile_escape_character("# escape=\\\nFROM x\n") == '\\');
    // a comment, a blank line or an instruction ends the directives
    BOOST_TEST(dockerfile_escape_character("# a comment\n# escape=`\nFROM x\n") == '\\');
    BOOST_TEST(dockerfile_escape_character("\n# escape=`\nFROM x\n") == '\\');
    BOOST_TEST(dockerfile_escape_character("FROM x\n# escape=`\n") == '\\');
}

BOOST_AUTO_TEST_CASE(the_label_line_is_appended_as_the_last_instruction) {
    const std::map<std::string, std::string> labels{{"a", "1"}, {"b", "2"}};
    std::string d = "FROM x\nRUN true\n";
    append_label_instruction(d, labels);
    BOOST_TEST(d == "FROM x\nRUN true\nLABEL \"a\"=\"1\" \"b\"=\"2\"\n");
    d = "FROM x";  // no final newline
    append_label_instruction(d, labels);
    BOOST_TEST(d == "FROM x\nLABEL \"a\"=\"1\" \"b\"=\"2\"\n");
    d = "FROM x\n";
    append_label_instruction(d, {});
    BOOST_TEST(d == "FROM x\n");
    // a comment ending in the escape character continues nothing
    d = "FROM x\n# see C:\\\n";
    append_label_instruction(d, labels);
    BOOST_TEST(d.ends_with("# see C:\\\nLABEL \"a\"=\"1\" \"b\"=\"2\"\n"));
    // a continuation would swallow the line: blank lines and comments do not end it
    for (std::string bad : {"FROM x\nRUN echo \\\n", "FROM x\nRUN echo \\  \n\n# note\n\n", "# escape=`\nFROM x\nRUN a `\n"}) {
        const auto before = bad;
        try {
            append_label_instruction(bad, labels);
            BOOST_FAIL("accepted " << before);
        } catch (const error& e) {
            BOOST_TEST(e.value() == errc::invalid_argument);
            BOOST_TEST(contains(e.what(), "ends in a line continuation"), e.what());
        }
        BOOST_TEST(bad == before);
    }
    // under escape=` a backslash at the end is text
    d = "# escape=`\nFROM x\nRUN echo a\\\n";
    append_label_instruction(d, labels);
    BOOST_TEST(d.ends_with("RUN echo a\\\nLABEL \"a\"=\"1\" \"b\"=\"2\"\n"));
}
