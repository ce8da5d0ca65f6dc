// .dockerignore as the docker CLI applies it: moby/patternmatcher's own test
// tables (as data), the ignorefile reader, the CLI's always-sent files, the
// walk rule for excluded directories, the docker 20.10 dialect, and malformed
// or hostile input.
#define BOOST_TEST_MODULE dockerignore
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <simdjson.h>

#include <string>
#include <vector>

#include "rtb/context/directory_context.hpp"
#include "rtb/context/dockerignore.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using rtb::test::temp_tree;

namespace {

std::vector<dockerignore_line> lines_of(std::initializer_list<std::string> patterns) {
    std::vector<dockerignore_line> out;
    std::size_t n = 0;
    for (const auto& p : patterns) out.push_back({p, "test", ++n});
    return out;
}

dockerignore matcher(std::initializer_list<std::string> patterns,
                     dockerignore_dialect d = dockerignore_dialect::moby) {
    return dockerignore(lines_of(patterns), d);
}

// The pattern package's Matches(file, patterns): New, Clean, "." never matches.
bool package_matches(const std::string& path, const std::vector<std::string>& patterns) {
    std::vector<dockerignore_line> l;
    for (const auto& p : patterns) l.push_back({p, "test", l.size() + 1});
    return dockerignore(l).matches_single_parent(path);
}

struct cases {
    simdjson::padded_string json;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    cases() : json(simdjson::padded_string::load(RTB_TEST_DATA "/dockerignore_cases.json").value()) {
        root = parser.parse(json).value();
    }
};

const cases& data() {
    static const cases c;
    return c;
}

std::string str(simdjson::dom::element e) { return std::string(std::string_view(e.get_string().value())); }

std::vector<std::string> messages_for(std::initializer_list<std::string> patterns) {
    try {
        matcher(patterns);
    } catch (const error& e) {
        return {e.what()};
    }
    return {};
}

std::vector<std::string> ls(const temp_tree& t, directory_context_options o = {}) {
    return context_files(directory_context(t.root(), o));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(moby_tables)

BOOST_AUTO_TEST_CASE(the_ported_tables_hold_at_least_sixty_pattern_path_cases) {
    const auto& r = data().root;
    const std::size_t n = r["matches"].get_array().value().size() + r["multi"].get_array().value().size() +
                          r["filepath_match"].get_array().value().size();
    BOOST_TEST(n >= 60u);
}

BOOST_AUTO_TEST_CASE(test_matches_or_parent_matches_and_matches_exact) {
    for (auto c : data().root["matches"].get_array()) {
        const auto pattern = str(c["pattern"]), path = str(c["path"]), kind = str(c["kind"]);
        BOOST_TEST_CONTEXT("pattern " << pattern << " path " << path) {
            const auto m = matcher({pattern});
            BOOST_TEST(m.matches(path) == (kind != "fail"));          // MatchesOrParentMatches
            BOOST_TEST(m.patterns().at(0).matches(path) == (kind == "exact"));  // MatchesExact
        }
    }
}

BOOST_AUTO_TEST_CASE(test_matches_with_several_patterns) {
    for (auto c : data().root["multi"].get_array()) {
        std::vector<dockerignore_line> l;
        std::string shown;
        for (auto p : c["patterns"].get_array()) {
            l.push_back({str(p), "test", l.size() + 1});
            shown += str(p) + " ";
        }
        const auto path = str(c["path"]);
        BOOST_TEST_CONTEXT("patterns " << shown << "path " << path) {
            BOOST_TEST(dockerignore(l).matches(path) == c["match"].get_bool().value());
        }
    }
}

BOOST_AUTO_TEST_CASE(go_filepath_match_table_through_the_pattern_package) {
    for (auto c : data().root["filepath_match"].get_array()) {
        const auto pattern = str(c["pattern"]), path = str(c["path"]);
        const bool expect_error = c["error"].get_bool().value();
        BOOST_TEST_CONTEXT("pattern " << pattern << " path " << path) {
            if (expect_error) {
                BOOST_CHECK_THROW(package_matches(path, {pattern}), error);
            } else {
                BOOST_TEST(package_matches(path, {pattern}) == c["match"].get_bool().value());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(patterns_compile_to_the_same_kind_and_regexp_as_moby) {
    for (auto c : data().root["compile"].get_array()) {
        const auto pattern = str(c["pattern"]);
        BOOST_TEST_CONTEXT("pattern " << pattern) {
            const auto m = matcher({pattern});
            BOOST_TEST(m.patterns().at(0).match_kind() == str(c["type"]));
            BOOST_TEST(m.patterns().at(0).regexp_text() == str(c["regexp"]));
        }
    }
}

BOOST_AUTO_TEST_CASE(read_all_reads_moby_s_sample_file) {
    const auto& ra = data().root["read_all"];
    const auto lines = read_dockerignore(str(ra["content"]), ".dockerignore");
    std::vector<std::string> got, want;
    for (const auto& l : lines) got.push_back(l.pattern);
    for (auto e : ra["expected"].get_array()) want.push_back(str(e));
    BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(both_dialects_agree_with_what_the_real_clients_sent) {
    for (auto c : data().root["dialects"].get_array()) {
        std::vector<dockerignore_line> l;
        for (auto p : c["patterns"].get_array()) l.push_back({str(p), "test", l.size() + 1});
        const auto path = str(c["path"]);
        BOOST_TEST_CONTEXT("path " << path) {
            BOOST_TEST(dockerignore(l, dockerignore_dialect::moby).matches(path) == c["moby"].get_bool().value());
            BOOST_TEST(dockerignore(l, dockerignore_dialect::docker_20_10).matches(path) ==
                       c["docker_20_10"].get_bool().value());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reading_the_file)

BOOST_AUTO_TEST_CASE(comments_only_start_at_the_first_column) {
    const auto l = read_dockerignore("# comment\n  # not a comment\n#x\n", "f");
    BOOST_TEST_REQUIRE(l.size() == 1u);
    BOOST_TEST(l[0].pattern == "# not a comment");
    BOOST_TEST(l[0].line == 2u);
}

BOOST_AUTO_TEST_CASE(surrounding_whitespace_and_crlf_are_trimmed) {
    const auto l = read_dockerignore("  a.txt \r\n\t b \t\n", "f");
    BOOST_TEST_REQUIRE(l.size() == 2u);
    BOOST_TEST(l[0].pattern == "a.txt");
    BOOST_TEST(l[1].pattern == "b");
}

BOOST_AUTO_TEST_CASE(unicode_spaces_are_trimmed_as_go_trims_them) {
    const auto l = read_dockerignore("\u00a0a\u3000\n", "f");
    BOOST_TEST_REQUIRE(l.size() == 1u);
    BOOST_TEST(l[0].pattern == "a");
}

BOOST_AUTO_TEST_CASE(paths_are_cleaned_and_a_leading_slash_dropped) {
    const auto l = read_dockerignore("./a\na/../b\n/c/d/\n!  /e//f/.\n../up\n/\n", "f");
    std::vector<std::string> got;
    for (const auto& x : l) got.push_back(x.pattern);
    const std::vector<std::string> want{"a", "b", "c/d", "!e/f", "../up", "/"};
    BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_bom_is_dropped_from_the_first_line_only) {
    const auto l = read_dockerignore("\xEF\xBB\xBF" "a\n\xEF\xBB\xBF" "b\n", "f");
    BOOST_TEST_REQUIRE(l.size() == 2u);
    BOOST_TEST(l[0].pattern == "a");
    BOOST_TEST(l[1].pattern == "\xEF\xBB\xBF" "b");
}

BOOST_AUTO_TEST_CASE(line_numbers_count_every_line) {
    const auto l = read_dockerignore("\n\n# c\nx\n\ny", "f");
    BOOST_TEST_REQUIRE(l.size() == 2u);
    BOOST_TEST(l[0].line == 4u);
    BOOST_TEST(l[1].line == 6u);
}

BOOST_AUTO_TEST_CASE(a_line_of_64_kib_is_refused_naming_file_and_line) {
    const std::string text = "ok\n" + std::string(64 * 1024, 'a') + "\n";
    try {
        read_dockerignore(text, "/ctx/.dockerignore");
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::invalid_argument);
        BOOST_TEST(std::string(e.what()).find("/ctx/.dockerignore:2:") != std::string::npos);
    }
    BOOST_CHECK_NO_THROW(read_dockerignore(std::string(64 * 1024 - 1, 'a'), "f"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(malformed_patterns)

BOOST_AUTO_TEST_CASE(an_unclosed_class_names_file_line_and_pattern) {
    const auto lines = read_dockerignore("ok\n# c\nsrc/[abc\n", "/w/.dockerignore");
    try {
        dockerignore d(lines);
        BOOST_FAIL("no error");
    } catch (const error& e) {
        const std::string m = e.what();
        BOOST_TEST(e.value() == errc::invalid_argument);
        BOOST_TEST(m.find("/w/.dockerignore:3:") != std::string::npos, m);
        BOOST_TEST(m.find("'src/[abc'") != std::string::npos, m);
    }
}

BOOST_AUTO_TEST_CASE(a_lone_exclamation_mark_is_refused) {
    for (const std::string p : {"!", "! ", "!/"}) {
        BOOST_TEST_CONTEXT("pattern " << p) {
            const auto m = messages_for({"a", p});
            BOOST_TEST_REQUIRE(m.size() == 1u);
            BOOST_TEST(m[0].find("test:2:") != std::string::npos, m[0]);
            BOOST_TEST(m[0].find("exclusion") != std::string::npos, m[0]);
        }
    }
}

BOOST_AUTO_TEST_CASE(syntax_errors_of_go_s_filepath_match_are_refused) {
    for (const std::string p : {"[", "a[", "[^", "[]a]", "[-]", "[x-]", "[a-b-c]", "a\\", "[\\"}) {
        BOOST_TEST_CONTEXT("pattern " << p) { BOOST_TEST(messages_for({p}).size() == 1u); }
    }
}

BOOST_AUTO_TEST_CASE(a_reversed_range_go_s_regexp_rejects_is_refused) {
    // filepath.Match accepts "[z-a]" and "[Local-Only]"; the regexp moby
    // builds from them does not compile, so Docker fails the build.
    for (const std::string p : {"[z-a]", "[Local-Only]/"}) {
        BOOST_TEST_CONTEXT("pattern " << p) {
            const auto m = messages_for({p});
            BOOST_TEST_REQUIRE(m.size() == 1u);
            BOOST_TEST(m[0].find("invalid character class range") != std::string::npos, m[0]);
        }
    }
}

BOOST_AUTO_TEST_CASE(regexp_escapes_go_rejects_are_refused_and_unicode_classes_unsupported) {
    BOOST_TEST(messages_for({"\\qfoo"}).size() == 1u);  // \q: invalid escape in Go
    const auto m = messages_for({"\\pLx"});
    BOOST_TEST_REQUIRE(m.size() == 1u);
    BOOST_TEST(m[0].find("not supported") != std::string::npos, m[0]);
}

BOOST_AUTO_TEST_CASE(hostile_patterns_are_refused_or_matched_in_linear_time) {
    // Deep nesting and huge repeats can only come from the 20.10 dialect,
    // where parentheses and braces reach the regexp unescaped.
    const std::string deep = std::string(2000, '(') + "a" + std::string(2000, ')');
    BOOST_CHECK_THROW(matcher({deep}, dockerignore_dialect::docker_20_10), error);
    BOOST_CHECK_THROW(matcher({"(((a{1000}){1000}){1000})"}, dockerignore_dialect::docker_20_10), error);
    // the classic catastrophic-backtracking shape, on a long path: answered
    const auto m = matcher({"(a*)*b"}, dockerignore_dialect::docker_20_10);
    BOOST_TEST(!m.matches(std::string(20000, 'a')));
    const auto star = matcher({"*a*a*a*a*a*a*a*a*a*a*b"});
    BOOST_TEST(!star.matches(std::string(20000, 'a')));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(matching)

BOOST_AUTO_TEST_CASE(the_last_matching_pattern_wins) {
    const auto m = matcher({"*.md", "!README.md", "README.md"});
    BOOST_TEST(m.matches("README.md"));
    const auto n = matcher({"*.md", "!README.md"});
    BOOST_TEST(!n.matches("README.md"));
    BOOST_TEST(n.matches("CHANGES.md"));
}

BOOST_AUTO_TEST_CASE(a_pattern_matching_a_parent_directory_excludes_everything_below) {
    const auto m = matcher({"build"});
    BOOST_TEST(m.matches("build/x/y/z.o"));
    BOOST_TEST(!m.matches("src/build.c"));
    BOOST_TEST(!m.matches("src/build/x"));  // patterns are anchored at the context's top
}

BOOST_AUTO_TEST_CASE(star_does_not_cross_slashes_and_doublestar_does) {
    const auto m = matcher({"*/*.pyc"});
    BOOST_TEST(m.matches("a/b.pyc"));
    BOOST_TEST(!m.matches("a/b/c.pyc"));
    BOOST_TEST(!m.matches("b.pyc"));
    const auto d = matcher({"**/*.pyc"});
    BOOST_TEST(d.matches("b.pyc"));
    BOOST_TEST(d.matches("a/b/c.pyc"));
}

BOOST_AUTO_TEST_CASE(question_mark_and_classes_match_one_character_not_a_slash) {
    const auto m = matcher({"a?c", "[0-9][!x]z", "n[^0-9]"});
    BOOST_TEST(m.matches("abc"));
    BOOST_TEST(!m.matches("a/c"));
    BOOST_TEST(m.matches("1!z"));   // '!' is not negation in Go: [!x] is '!' or 'x'
    BOOST_TEST(!m.matches("1yz"));
    BOOST_TEST(m.matches("nx"));
    BOOST_TEST(!m.matches("n5"));
}

BOOST_AUTO_TEST_CASE(dot_matches_nothing_but_itself) {
    const auto m = matcher({"a.b"});
    BOOST_TEST(m.matches("a.b"));
    BOOST_TEST(!m.matches("axb"));
}

BOOST_AUTO_TEST_CASE(a_question_mark_matches_a_byte_that_is_not_utf8) {
    // Go's regexp reads an invalid byte as one U+FFFD rune
    const auto m = matcher({"a?b"});
    BOOST_TEST(m.matches("a\xff" "b"));
    BOOST_TEST(m.matches("a\u00e9b"));
}

BOOST_AUTO_TEST_CASE(newlines_in_names_are_matched_like_go_matches_them) {
    // [^/] takes a newline; the '.' of "**"'s (.*/)? does not
    const auto m = matcher({"a?b", "**/x/*"});
    BOOST_TEST(m.matches("a\nb"));
    BOOST_TEST(m.matches("d/x/e"));
    BOOST_TEST(!m.matches("d\nd/x/e"));
}

BOOST_AUTO_TEST_CASE(a_thousand_patterns_and_deep_paths) {
    std::vector<dockerignore_line> l;
    for (int i = 0; i < 1000; ++i) l.push_back({"dir" + std::to_string(i) + "/**/*.tmp", "f", l.size() + 1});
    l.push_back({"!dir999/keep.tmp", "f", l.size() + 1});
    const dockerignore m(l);
    std::string deep = "dir500";
    for (int i = 0; i < 200; ++i) deep += "/d";
    BOOST_TEST(m.matches(deep + "/x.tmp"));
    BOOST_TEST(!m.matches(deep + "/x.txt"));
    BOOST_TEST(!m.matches("dir999/keep.tmp"));
    BOOST_TEST(m.may_include_below("dir999"));
    BOOST_TEST(!m.may_include_below("dir998"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(context_walk)

BOOST_AUTO_TEST_CASE(an_excluded_directory_is_entered_only_for_an_exception_under_it) {
    temp_tree t;
    t.file("node_modules/keep.js", "k");
    t.file("node_modules/pkg/index.js", "i");
    t.file("other/x", "x");
    t.file(".dockerignore", "node_modules\nother\n!node_modules/keep.js\n!**/x\n");
    const auto files = ls(t);
    // !**/x does not bring other/x back: the CLI only enters an excluded
    // directory when an exception's text starts with "dir/"
    const std::vector<std::string> want{".dockerignore", "node_modules/keep.js"};
    BOOST_TEST(files == want, boost::test_tools::per_element());
    // the excluded directory itself is not an entry of the context
    for (const auto& e : directory_context(t.root()).entries()) BOOST_TEST(e.path != "node_modules");
}

BOOST_AUTO_TEST_CASE(dockerfile_and_dockerignore_are_always_sent) {
    temp_tree t;
    t.file("Dockerfile", "FROM x\n");
    t.file("a", "");
    t.file(".dockerignore", "*\n");
    const std::vector<std::string> want{".dockerignore", "Dockerfile"};
    BOOST_TEST(ls(t) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_lowercase_dockerfile_is_kept_when_there_is_no_Dockerfile) {
    temp_tree t;
    t.file("dockerfile", "FROM x\n");
    t.file(".dockerignore", "*file\n");
    const std::vector<std::string> want{".dockerignore", "dockerfile"};
    BOOST_TEST(ls(t) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_dockerfile_in_a_subdirectory_is_kept_and_its_directory_entered) {
    temp_tree t;
    t.file("build/Dockerfile.ci", "FROM x\n");
    t.file("build/other", "");
    t.file(".dockerignore", "build\n");
    directory_context_options o;
    o.ignore.dockerfile = "build/Dockerfile.ci";
    const std::vector<std::string> want{".dockerignore", "build/Dockerfile.ci"};
    BOOST_TEST(ls(t, o) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(extra_patterns_come_after_the_file_s) {
    temp_tree t;
    t.file("a.log", "");
    t.file("b.log", "");
    t.file(".dockerignore", "!b.log\n");
    directory_context_options o;
    o.ignore.extra_patterns = {"*.log"};
    const std::vector<std::string> want{".dockerignore"};
    BOOST_TEST(ls(t, o) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_malformed_extra_pattern_names_the_option_and_its_position) {
    temp_tree t;
    directory_context_options o;
    o.ignore.extra_patterns = {"ok", "[x"};
    try {
        ls(t, o);
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("--ignore:2") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(a_dockerignore_over_64_mib_is_refused) {
    temp_tree t;
    std::string big;
    big.reserve((65u << 20) + 16);
    while (big.size() < (65u << 20)) big += "some/pattern/*.tmp\n";
    t.file(".dockerignore", big);
    BOOST_CHECK_EXCEPTION(ls(t), error, [](const error& e) {
        return std::string(e.what()).find("larger than 64 MiB") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(a_dockerignore_that_is_a_directory_is_an_io_error_naming_it) {
    temp_tree t;
    t.dir(".dockerignore");
    try {
        ls(t);
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::io_error);
        BOOST_TEST(std::string(e.what()).find(".dockerignore") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
