// Dockerfile templates: variables, sections per plan, no HTML escaping,
// strict names, errors that name the template and the line.
#define BOOST_TEST_MODULE dockerfile_template
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

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
