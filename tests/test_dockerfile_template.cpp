// Dockerfile templates: Jinja2 with OpenHands' variables and rtb's, no HTML
// escaping, Jinja2's undefined names (or strict ones, checked in every plan's
// sections), errors that name the template, line and column, and the
// default template byte for byte as it was.
#define BOOST_TEST_MODULE dockerfile_template
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "rtb/context/dockerfile_template.hpp"

using namespace rtb;

namespace {

std::string render(std::string_view text, template_inputs in = {}, jinja::options o = {}) {
    return render_dockerfile(text, "t.j2", in, o);
}

std::string error_of(std::string_view text, template_inputs in = {}, jinja::options o = {}) {
    try {
        render(text, in, o);
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::invalid_argument);
        return e.what();
    }
    return "";
}

jinja::options strict() {
    jinja::options o;
    o.undefined = jinja::undefined_behavior::strict;
    return o;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(variables)

BOOST_AUTO_TEST_CASE(openhands_names_are_defined) {
    template_inputs in;
    in.base_image = "python:3.12";
    in.plan = plan_kind::versioned;
    in.extra_deps = "pip install x";
    const auto out = render(
        "FROM {{ base_image }}|{% if build_from_scratch %}S{% endif %}{% if build_from_versioned %}V{% endif %}"
        "{% if build_from_lock %}L{% endif %}|{% if extra_deps %}RUN {{ extra_deps }}{% endif %}|{{ enable_browser }}",
        in);
    BOOST_TEST(out == "FROM python:3.12|V|RUN pip install x|True");
}

BOOST_AUTO_TEST_CASE(no_browser_makes_enable_browser_false) {
    template_inputs in;
    in.enable_browser = false;
    BOOST_TEST(render("{% if enable_browser %}playwright{% else %}none{% endif %}", in) == "none");
}

BOOST_AUTO_TEST_CASE(build_from_names_the_plan) {
    template_inputs in;
    in.plan = plan_kind::lock;
    BOOST_TEST(render("{{ build_from }}", in) == "lock");
}

BOOST_AUTO_TEST_CASE(nothing_is_html_escaped) {
    template_inputs in;
    in.base_image = "reg.example/a&b:<tag>";
    in.extra_deps = "apt-get install -y 'x' \"y\" && echo a>b";
    const auto out = render("FROM {{ base_image }}\nRUN {{ extra_deps }}\n", in);
    BOOST_TEST(out == "FROM reg.example/a&b:<tag>\nRUN apt-get install -y 'x' \"y\" && echo a>b");
}

BOOST_AUTO_TEST_CASE(empty_extra_deps_is_false) {
    BOOST_TEST(render("a{% if extra_deps %}RUN {{ extra_deps }}{% endif %}b") == "ab");
    BOOST_TEST(render("{% if not extra_deps %}none{% endif %}") == "none");
}

BOOST_AUTO_TEST_CASE(lock_files_are_a_list_with_names_and_paths) {
    template_inputs in;
    in.lock_files = {"poetry.lock", "pyproject.toml"};
    BOOST_TEST(render("{% for f in lock_files %}COPY {{ f.path }} /x/{{ f['name'] }}\n{% endfor %}", in) ==
               "COPY lock/poetry.lock /x/poetry.lock\nCOPY lock/pyproject.toml /x/pyproject.toml\n");
    BOOST_TEST(render("{{ lock_files|join(' ', attribute='name') }}|{{ has_lock_files }}", in) ==
               "poetry.lock pyproject.toml|True");
    BOOST_TEST(render("{% if has_lock_files %}yes{% else %}no{% endif %}") == "no");
}

BOOST_AUTO_TEST_CASE(user_variables_render_and_may_not_shadow_built_ins) {
    template_inputs in;
    in.vars = {{"python", "3.12"}, {"user_name", "openhands"}};
    BOOST_TEST(render("{{ python }}/{{ user_name }}", in) == "3.12/openhands");
    in.vars = {{"base_image", "evil"}};
    BOOST_TEST(contains(error_of("x", in), "'base_image' is set by rtb"));
    in.vars = {{"enable_browser", ""}};
    BOOST_TEST(contains(error_of("x", in), "'enable_browser' is set by rtb"));
    in.vars = {{"bad name", "x"}};
    BOOST_TEST(contains(error_of("x", in), "is not a name"));
    in.vars = {{"a.b", "x"}};
    BOOST_TEST(contains(error_of("x", in), "is not a name"));
}

BOOST_AUTO_TEST_CASE(base_image_only_templates_keep_working) {
    template_inputs in;
    in.base_image = "ubuntu:22.04";
    BOOST_TEST(render("FROM {{base_image}}\nRUN true\n", in) == "FROM ubuntu:22.04\nRUN true");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(jinja2_defaults)

BOOST_AUTO_TEST_CASE(one_final_newline_is_dropped_unless_kept) {
    BOOST_TEST(render("RUN x\n\n") == "RUN x\n");
    jinja::options keep;
    keep.keep_trailing_newline = true;
    BOOST_TEST(render("RUN x\n", {}, keep) == "RUN x\n");
}

BOOST_AUTO_TEST_CASE(trim_and_lstrip_blocks_are_off_unless_selected) {
    const std::string_view t = "A\n  {% if build_from_scratch %}\nB\n  {% endif %}\nC";
    BOOST_TEST(render(t) == "A\n  \nB\n  \nC");
    jinja::options o;
    o.trim_blocks = o.lstrip_blocks = true;
    BOOST_TEST(render(t, {}, o) == "A\nB\nC");
}

BOOST_AUTO_TEST_CASE(an_undefined_name_is_empty_and_false_by_default) {
    BOOST_TEST(render("[{{ channel_alias }}]{% if channel_alias %}x{% endif %}") == "[]");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(strict_mode_names_the_undefined_variable_and_where) {
    const auto e = error_of("FROM {{ base_image }}\nRUN {{ extra_dep }}\n", {}, strict());
    BOOST_TEST(contains(e, "template t.j2: line 2, column 8: 'extra_dep' is undefined (in `{{ extra_dep }}`)"), e);
}

BOOST_AUTO_TEST_CASE(strict_mode_catches_a_typo_in_a_section_this_plan_skips) {
    template_inputs in;
    in.plan = plan_kind::lock;
    const auto e = error_of("FROM {{ base_image }}\n{% if build_from_scratch %}\nRUN {{ sytem_setup }}\n{% endif %}\n", in,
                            strict());
    BOOST_TEST(contains(e, "line 3, column 8: 'sytem_setup' is undefined"), e);
    BOOST_TEST(contains(e, "rendering for the scratch plan"), e);
    // ... and in a branch only a build without the browser takes.
    const auto b = error_of("{% if not enable_browser %}{{ playwrite }}{% endif %}", {}, strict());
    BOOST_TEST(contains(b, "'playwrite' is undefined"), b);
    BOOST_TEST(contains(b, "without the browser"), b);
}

BOOST_AUTO_TEST_CASE(strict_mode_allows_is_defined_and_default) {
    BOOST_TEST(render("{% if channel_alias is defined %}x{% endif %}{{ channel_alias|default('none') }}", {}, strict()) ==
               "none");
}

BOOST_AUTO_TEST_CASE(an_unclosed_block_names_where_it_opened) {
    const auto e = error_of("FROM x\n\n{% if build_from_scratch %}\nRUN y\n");
    BOOST_TEST(contains(e, "template t.j2: line 3, column 4: {% if %} is never closed"), e);
    BOOST_TEST(contains(e, "(in `{% if build_from_scratch %}`)"), e);
}

BOOST_AUTO_TEST_CASE(jinja2_constructs_are_never_passed_through_as_text) {
    BOOST_TEST(contains(error_of("a\n{% endif %}"), "line 2, column 4: unknown tag 'endif'"));
    BOOST_TEST(contains(error_of("FROM {{ base_image"), "line 1, column 6: {{ is never closed by }}"));
    BOOST_TEST(contains(error_of("{% include 'other.j2' %}"), "the {% include %} tag is not supported"));
    BOOST_TEST(contains(error_of("{{ base_image | quote }}"), "unknown filter 'quote'"));
}

BOOST_AUTO_TEST_CASE(a_mustache_template_gets_a_hint) {
    const auto e = error_of("FROM {{base_image}}\n{{#build_from_scratch}}\nRUN x\n{{/build_from_scratch}}\n");
    BOOST_TEST(contains(e, "line 2, column 3: unexpected character '#'"), e);
    BOOST_TEST(contains(e, "`{{#` is mustache: Dockerfile templates are Jinja2"), e);
}

BOOST_AUTO_TEST_CASE(an_oversized_template_is_refused) {
    BOOST_TEST(contains(error_of(std::string(2 << 20, 'x')), "templates are limited to 1048576 bytes"));
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

// tests/data/default_dockerfiles: what the default template rendered when it
// was a mustache template. The Jinja2 version must give the same bytes.
BOOST_AUTO_TEST_CASE(renders_every_plan_exactly_as_the_mustache_version_did) {
    int compared = 0;
    for (const auto plan : {plan_kind::scratch, plan_kind::versioned, plan_kind::lock})
        for (const bool extra : {false, true})
            for (const bool locks : {false, true}) {
                template_inputs in;
                in.base_image = "local/busybox:1";
                in.plan = plan;
                if (extra) in.extra_deps = "echo 'extra' && touch /x";
                if (locks) in.lock_files = {"deps.lock", "more.lock"};
                in.runtime_version = "0.62.0";
                const std::string file = std::string(RTB_TEST_DATA) + "/default_dockerfiles/" +
                                         std::string(to_string(plan)) + (extra ? "-extra" : "") +
                                         (locks ? "-locks" : "") + ".Dockerfile";
                BOOST_TEST(render_dockerfile(default_dockerfile_template(), "default", in) == read(file), file);
                ++compared;
            }
    BOOST_TEST(compared == 12);
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

BOOST_AUTO_TEST_CASE(renders_strictly_too) {
    // No undefined name in any plan's sections: strict mode (which renders them all) accepts it.
    BOOST_TEST(render_dockerfile(default_dockerfile_template(), "default", inputs(plan_kind::lock), strict()) ==
               render_dockerfile(default_dockerfile_template(), "default", inputs(plan_kind::lock)));
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
