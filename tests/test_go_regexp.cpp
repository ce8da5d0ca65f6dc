// The Go regexp subset behind .dockerignore patterns, and the ports of Go's
// path helpers: each case states what Go does.
#define BOOST_TEST_MODULE go_regexp
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <string>

#include "rtb/context/detail/go_regexp.hpp"
#include "rtb/context/detail/go_text.hpp"

using namespace rtb::detail::go;

namespace {

regexp compiled(std::string_view expr) {
    regexp re;
    regexp_error err;
    if (!regexp::compile(expr, re, err)) throw std::runtime_error("compile failed: " + err.message);
    return re;
}

bool m(std::string_view expr, std::string_view text) { return compiled(expr).match(text); }

std::string compile_error(std::string_view expr) {
    regexp re;
    regexp_error err;
    if (regexp::compile(expr, re, err)) return "";
    return err.message;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(syntax)

BOOST_AUTO_TEST_CASE(literals_and_anchors) {
    BOOST_TEST(m("^abc$", "abc"));
    BOOST_TEST(!m("^abc$", "abcd"));
    BOOST_TEST(m("bc", "abcd"));  // MatchString searches
    BOOST_TEST(!m("^bc", "abcd"));
    BOOST_TEST(!m("a$b", "ab"));  // $ is the end of text only
    BOOST_TEST(!m("^a^b", "ab"));
    BOOST_TEST(m("\\Aab\\z", "ab"));
}

BOOST_AUTO_TEST_CASE(dot_does_not_match_a_newline_but_negated_classes_do) {
    BOOST_TEST(m("^a.b$", "axb"));
    BOOST_TEST(!m("^a.b$", "a\nb"));
    BOOST_TEST(m("^a[^/]b$", "a\nb"));
}

BOOST_AUTO_TEST_CASE(classes_ranges_negation_and_escapes) {
    BOOST_TEST(m("^[b-d]$", "c"));
    BOOST_TEST(!m("^[^b-d]$", "c"));
    BOOST_TEST(m("^[]a]$", "]"));   // ']' first is a literal
    BOOST_TEST(m("^[a-]$", "-"));   // '-' last is a literal
    BOOST_TEST(m("^[\\]]$", "]"));
    BOOST_TEST(m("^[a-\u03b6]$", "\u03b1"));
    BOOST_TEST(!m("^[a-\u03b6]$", "A"));
}

BOOST_AUTO_TEST_CASE(posix_and_perl_classes) {
    BOOST_TEST(m("^[[:alpha:]]+$", "abcXYZ"));
    BOOST_TEST(!m("^[[:alpha:]]$", "1"));
    BOOST_TEST(m("^[[:^digit:]]$", "x"));
    BOOST_TEST(m("^\\d\\s\\w$", "1 _"));
    BOOST_TEST(m("^[\\D]$", "x"));
    BOOST_TEST(m("^[[:a]$", "a"));  // not a POSIX class: '[', ':', 'a'
}

BOOST_AUTO_TEST_CASE(a_class_opened_by_a_pattern_can_swallow_moby_s_fragments) {
    // the pattern "[*]" becomes "^[[^/]*]$": a class of '[', '^', '/', repeated, then ']'
    BOOST_TEST(m("^[[^/]*]$", "[]"));
    BOOST_TEST(m("^[[^/]*]$", "^/]"));
    BOOST_TEST(!m("^[[^/]*]$", "*"));
}

BOOST_AUTO_TEST_CASE(escapes_as_go_reads_them) {
    BOOST_TEST(m("^\\x41\\x{42}\\103$", "ABC"));
    BOOST_TEST(m("^a\\tb$", "a\tb"));
    BOOST_TEST(m("^\\Q*.+\\E$", "*.+"));
    BOOST_TEST(m("^\\Q[^/]*$", "[^/]*$"));  // \Q without \E runs to the end
    BOOST_TEST(m("^\\*$", "*"));
}

BOOST_AUTO_TEST_CASE(word_boundaries_are_ascii) {
    BOOST_TEST(m("\\bfoo\\b", "a foo b"));
    BOOST_TEST(!m("\\bfoo\\b", "afoob"));
    BOOST_TEST(m("\\Bfoo", "afoo"));
}

BOOST_AUTO_TEST_CASE(groups_alternation_and_repetition) {
    BOOST_TEST(m("^a(b|c)d$", "acd"));
    BOOST_TEST(!m("^a(b|c)d$", "ad"));
    BOOST_TEST(m("^(?:ab)+$", "ababab"));
    BOOST_TEST(m("^x{2,3}$", "xxx"));
    BOOST_TEST(!m("^x{2,3}$", "xxxx"));
    BOOST_TEST(m("^x{2,}$", "xxxxx"));
    BOOST_TEST(m("^a{,2}$", "a{,2}"));  // not a repeat: '{' is a literal
    BOOST_TEST(m("^a*?b??$", "aa"));
}

BOOST_AUTO_TEST_CASE(literal_prefix_and_suffix_checks_agree_with_the_vm) {
    // anchored literals are checked as bytes before the VM runs
    BOOST_TEST(m("^abc[^/]*\\.py$", "abcx.py"));
    BOOST_TEST(!m("^abc[^/]*\\.py$", "abx.py"));
    BOOST_TEST(!m("^abc[^/]*\\.py$", "abcx.pyc"));
    BOOST_TEST(m("^abc$", "abc"));
    BOOST_TEST(!m("^abc$", "ab"));
    BOOST_TEST(m("\\.py", "x.py.bak"));   // not anchored: no suffix to require
    BOOST_TEST(m("^a|b$", "xb"));           // alternation at the top: nothing required
    BOOST_TEST(m("^(ab)?c$", "c"));
    BOOST_TEST(m("^\u00e9t\u00e9$", "\u00e9t\u00e9"));  // multi-byte literals
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_the_text_reads_as_replacement_characters) {
    BOOST_TEST(m("^a.b$", "a\xff" "b"));
    BOOST_TEST(m("^a\xef\xbf\xbd" "b$", "a\xff" "b"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(syntax_errors_are_worded_as_go_words_them) {
    BOOST_TEST(compile_error("[a").find("missing closing ]") == 0u);
    BOOST_TEST(compile_error("[z-a]").find("invalid character class range: `z-a`") == 0u);
    BOOST_TEST(compile_error("a**").find("invalid nested repetition operator: `**`") == 0u);
    BOOST_TEST(compile_error("*a").find("missing argument to repetition operator: `*`") == 0u);
    BOOST_TEST(compile_error("(a").find("missing closing )") == 0u);
    BOOST_TEST(compile_error("a)").find("unexpected )") == 0u);
    BOOST_TEST(compile_error("\\q").find("invalid escape sequence: `\\q`") == 0u);
    BOOST_TEST(compile_error("\\1").find("invalid escape sequence") == 0u);
    BOOST_TEST(compile_error("a\\").find("trailing backslash") == 0u);
    BOOST_TEST(compile_error("x{1001}").find("invalid repeat count") == 0u);
    BOOST_TEST(compile_error("[[:foo:]]").find("invalid character class range: `[:foo:]`") == 0u);
    BOOST_TEST(compile_error("a\xff").find("invalid UTF-8") == 0u);
}

BOOST_AUTO_TEST_CASE(unsupported_constructs_say_so) {
    regexp re;
    regexp_error err;
    BOOST_TEST(!regexp::compile("\\p{Greek}", re, err));
    BOOST_TEST(err.unsupported);
    BOOST_TEST(!regexp::compile("(?i)abc", re, err));
    BOOST_TEST(err.unsupported);
    BOOST_TEST(m("^\\p{Any}$", "\u4e2d"));
}

BOOST_AUTO_TEST_CASE(oversized_programs_and_deep_nesting_are_refused) {
    BOOST_TEST(compile_error("((a{1000}){1000})").find("too large") != std::string::npos);
    BOOST_TEST(compile_error(std::string(1500, '(') + std::string(1500, ')')).find("nests too deeply") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(pathological_patterns_run_in_linear_time) {
    // would take ~2^30 steps with backtracking; the Pike VM's work is text x program
    const std::string text(30, 'a');
    BOOST_TEST(!m("^(a|a)*(a|a)*(a|a)*(a|a)*b$", text));
    BOOST_TEST(!m("^(a*)*$", text + "b"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(go_text)

BOOST_AUTO_TEST_CASE(clean_is_path_clean) {
    BOOST_TEST(clean("") == ".");
    BOOST_TEST(clean("a/b/../c") == "a/c");
    BOOST_TEST(clean("./a//b/") == "a/b");
    BOOST_TEST(clean("../a/..") == "..");
    BOOST_TEST(clean("/../a") == "/a");
    BOOST_TEST(clean("a/../..") == "..");
    BOOST_TEST(clean("abc/..") == ".");
    BOOST_TEST(clean("/") == "/");
    BOOST_TEST(clean("a/./b/.") == "a/b");
}

BOOST_AUTO_TEST_CASE(dir_is_filepath_dir) {
    BOOST_TEST(dir("a/b") == "a");
    BOOST_TEST(dir("a") == ".");
    BOOST_TEST(dir("/a") == "/");
    BOOST_TEST(dir("/") == "/");
    BOOST_TEST(dir("file/") == "file");
    BOOST_TEST(dir("a//b") == "a");
    BOOST_TEST(dir("a/./b") == "a");
    BOOST_TEST(dir("x/../y/z") == "y");
}

BOOST_AUTO_TEST_CASE(trim_space_trims_unicode_white_space_only) {
    BOOST_TEST(trim_space(" \t\u00a0x y\u2003\n") == "x y");
    BOOST_TEST(trim_space("\xff ") == "\xff");
    BOOST_TEST(trim_space("\u200bx") == "\u200bx");  // a zero-width space is not White_Space
}

BOOST_AUTO_TEST_CASE(filepath_match_reports_bad_patterns_even_when_the_name_fails_early) {
    BOOST_TEST(!filepath_match("x[", "a").has_value());
    BOOST_TEST(!filepath_match("*[", "a").has_value());
    BOOST_TEST(filepath_match("[z-a]", ".").has_value());  // Go does not check range order
    BOOST_TEST(*filepath_match("a*", "abc"));
    BOOST_TEST(!*filepath_match("a*", "ab/c"));
}

BOOST_AUTO_TEST_SUITE_END()
