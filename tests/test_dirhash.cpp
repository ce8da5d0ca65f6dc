#define BOOST_TEST_MODULE dirhash
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "rtb/hash/dirhash.hpp"
#include "support/as_nobody.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"

using namespace rtb;
using test::temp_tree;
using test::message_of;

// Expected values are built by hand from the Dirhash Standard: descriptors
// spelled out as strings, hashed with the (independently vector-tested) hasher.
namespace {
std::string md5(std::string_view s) { return hash_bytes(hash_algorithm::md5, s).hex(); }
std::string file_entry(std::string_view name, std::string_view content) {
    return "data:" + md5(content) + std::string(1, '\0') + "name:" + std::string(name);
}
std::string dir_entry(std::string_view name, std::string_view dirhash_hex) {
    return "dirhash:" + std::string(dirhash_hex) + std::string(1, '\0') + "name:" + std::string(name);
}
std::string dir_hash(std::vector<std::string> entries) {
    std::sort(entries.begin(), entries.end());
    std::string d;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i) d.append(2, '\0');
        d += entries[i];
    }
    return md5(d);
}
std::string rtb_md5(const temp_tree& t, dirhash_options o = {}) { return dirhash(t.root(), o).hex(); }
}  // namespace

BOOST_AUTO_TEST_CASE(one_file) {
    temp_tree t;
    t.file("a", "x");
    BOOST_TEST(rtb_md5(t) == dir_hash({file_entry("a", "x")}));
}

BOOST_AUTO_TEST_CASE(entries_are_sorted_by_descriptor) {
    temp_tree t;
    t.file("b", "2");
    t.file("a", "1");
    t.file("c", "");
    BOOST_TEST(rtb_md5(t) == dir_hash({file_entry("a", "1"), file_entry("b", "2"), file_entry("c", "")}));
}

BOOST_AUTO_TEST_CASE(subdirectories_contribute_their_dirhash) {
    temp_tree t;
    t.file("d/f", "y");
    t.file("d/e/g", "w");
    t.file("g", "z");
    const auto e = dir_hash({file_entry("g", "w")});
    const auto d = dir_hash({file_entry("f", "y"), dir_entry("e", e)});
    BOOST_TEST(rtb_md5(t) == dir_hash({dir_entry("d", d), file_entry("g", "z")}));
}

BOOST_AUTO_TEST_CASE(empty_directories_are_left_out) {
    temp_tree t;
    t.file("a", "x");
    t.dir("empty/deeper/still");
    BOOST_TEST(rtb_md5(t) == dir_hash({file_entry("a", "x")}));
}

BOOST_AUTO_TEST_CASE(symlinks_are_followed_with_the_links_name) {
    temp_tree t;
    t.file("a", "x");
    t.symlink("a", "l");
    t.file("d/f", "y");
    t.symlink("d", "ld");
    const auto d = dir_hash({file_entry("f", "y")});
    BOOST_TEST(rtb_md5(t) ==
               dir_hash({file_entry("a", "x"), file_entry("l", "x"), dir_entry("d", d), dir_entry("ld", d)}));
}

BOOST_AUTO_TEST_CASE(broken_links_fifos_and_self_loops_are_neither_file_nor_directory) {
    temp_tree t;
    t.file("a", "x");
    t.symlink("missing", "broken");
    t.symlink("self", "self");
    BOOST_REQUIRE(::mkfifo((t / "fifo").c_str(), 0644) == 0);
    BOOST_TEST(rtb_md5(t) == dir_hash({file_entry("a", "x")}));
}

BOOST_AUTO_TEST_CASE(a_link_to_an_ancestor_is_a_cyclic_link_error) {
    temp_tree t;
    t.file("d/f", "y");
    t.symlink("..", "d/up");
    const auto msg = message_of([&] { rtb_md5(t); });
    BOOST_TEST(msg.find("cyclic symbolic link") != std::string::npos, msg);
    BOOST_TEST(msg.find("d/up") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(two_links_to_one_directory_are_not_a_cycle) {
    temp_tree t;
    t.file("real/f", "y");
    t.symlink("../real", "a/r1");
    t.symlink("../real", "b/r2");
    const auto r = dir_hash({file_entry("f", "y")});
    BOOST_TEST(rtb_md5(t) == dir_hash({dir_entry("real", r), dir_entry("a", dir_hash({dir_entry("r1", r)})),
                                       dir_entry("b", dir_hash({dir_entry("r2", r)}))}));
}

BOOST_AUTO_TEST_CASE(openhands_ignores_hidden_dirs_pycache_and_pyc_but_not_hidden_files) {
    temp_tree t;
    t.file("main.py", "print(1)");
    t.file(".env", "K=V");
    t.file(".git/config", "x");
    t.file("pkg/.cache/blob", "x");
    t.file("pkg/mod.py", "m");
    t.file("pkg/mod.pyc", "compiled");
    t.file("__pycache__/main.cpython-312.pyc", "c");
    t.file("only_ignored/__pycache__/x.pyc", "c");
    const auto pkg = dir_hash({file_entry("mod.py", "m")});
    BOOST_TEST(rtb_md5(t, dirhash_options::openhands()) ==
               dir_hash({file_entry("main.py", "print(1)"), file_entry(".env", "K=V"), dir_entry("pkg", pkg)}));
}

BOOST_AUTO_TEST_CASE(match_patterns_select_files) {
    temp_tree t;
    t.file("a.py", "1");
    t.file("b.txt", "2");
    t.file("sub/c.py", "3");
    dirhash_options o;
    o.match = {"*.py"};
    BOOST_TEST(rtb_md5(t, o) ==
               dir_hash({file_entry("a.py", "1"), dir_entry("sub", dir_hash({file_entry("c.py", "3")}))}));
}

BOOST_AUTO_TEST_CASE(names_with_newlines_and_invalid_utf8_are_hashed_as_bytes) {
    temp_tree t;
    t.file("new\nline", "1");
    t.file("bad\xff" "byte", "2");
    t.file("caf\xc3\xa9", "3");
    BOOST_TEST(rtb_md5(t) ==
               dir_hash({file_entry("new\nline", "1"), file_entry("bad\xff" "byte", "2"), file_entry("caf\xc3\xa9", "3")}));
}

BOOST_AUTO_TEST_CASE(python_regex_quirk_a_pyc_name_ending_in_newline_is_ignored) {
    temp_tree t;
    t.file("keep.py", "1");
    t.file("x.pyc\n", "2");        // `$` matches before a final newline: ignored
    t.file("y.pyc\nz", "3");       // not at the end: kept
    BOOST_TEST(rtb_md5(t, dirhash_options::openhands()) == dir_hash({file_entry("keep.py", "1"), file_entry("y.pyc\nz", "3")}));
}

BOOST_AUTO_TEST_CASE(sha256_follows_the_same_protocol) {
    temp_tree t;
    t.file("a", "x");
    dirhash_options o;
    o.algorithm = hash_algorithm::sha256;
    const auto sha = [](std::string_view s) { return hash_bytes(hash_algorithm::sha256, s).hex(); };
    BOOST_TEST(dirhash(t.root(), o).hex() == sha("data:" + sha("x") + std::string(1, '\0') + "name:a"));
}

BOOST_AUTO_TEST_CASE(thread_count_does_not_change_the_result) {
    temp_tree t;
    for (int i = 0; i < 200; ++i) t.file(fmt::format("d{}/f{}", i % 7, i), std::to_string(i * i));
    dirhash_options one, many;
    one.jobs = 1;
    many.jobs = 8;
    BOOST_TEST(rtb_md5(t, one) == rtb_md5(t, many));
}

BOOST_AUTO_TEST_CASE(nothing_to_hash_is_an_error) {
    temp_tree t;
    BOOST_TEST(message_of([&] { rtb_md5(t); }).find("nothing to hash") != std::string::npos);
    t.file("__pycache__/a.pyc", "x");
    BOOST_TEST(message_of([&] { rtb_md5(t, dirhash_options::openhands()); }).find("nothing to hash") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(root_must_be_an_existing_directory) {
    temp_tree t;
    const auto f = t.file("file", "x");
    BOOST_TEST(message_of([&] { dirhash(f); }).find("is not a directory") != std::string::npos);
    BOOST_TEST(message_of([&] { dirhash(t / "missing"); }).find("no such directory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_unreadable_file_is_an_error_naming_it) {
    temp_tree t;
    t.file("ok", "1");
    const auto secret = t.file("sub/secret", "2");
    ::chmod(t.root().c_str(), 0755);
    ::chmod((t / "sub").c_str(), 0755);
    ::chmod(secret.c_str(), 0000);
    const auto msg = test::as_nobody([&] { return message_of([&] { dirhash(t.root()); }); });
    BOOST_TEST(msg.find("sub/secret") != std::string::npos, msg);
    BOOST_TEST(msg.find("Permission denied") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(an_unreadable_directory_is_an_error_naming_it) {
    temp_tree t;
    t.file("ok", "1");
    t.file("locked/f", "2");
    ::chmod(t.root().c_str(), 0755);
    ::chmod((t / "locked").c_str(), 0000);
    const auto msg = test::as_nobody([&] { return message_of([&] { dirhash(t.root()); }); });
    BOOST_TEST(msg.find("locked") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(stat_cache_gives_the_same_answer_and_reads_nothing_when_warm) {
    temp_tree t;
    for (int i = 0; i < 50; ++i) t.file(fmt::format("f{}", i), std::string(100 + i, 'x'));
    temp_tree cache_dir;
    const auto expected = rtb_md5(t);
    // Files written just now are "racy" for a cache taken now; pretend the run
    // happened 10 s later so the second run may trust them.
    {
        stat_cache c(cache_dir / "c.bin", "scope", stat_cache::default_granularity_ns,
                     stat_cache::now_ns() + 10'000'000'000);
        dirhash_options o;
        o.cache = &c;
        BOOST_TEST(dirhash(t.root(), o).hex() == expected);
        BOOST_TEST(c.hits() == 0u);
        c.save();
    }
    stat_cache warm(cache_dir / "c.bin", "scope");
    dirhash_options o;
    o.cache = &warm;
    BOOST_TEST(dirhash(t.root(), o).hex() == expected);
    BOOST_TEST(warm.hits() == 50u);
}
