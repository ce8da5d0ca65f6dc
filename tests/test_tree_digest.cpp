#define BOOST_TEST_MODULE tree_digest
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/time.h>

#include "rtb/hash/tree_digest.hpp"
#include "support/as_nobody.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using test::temp_tree;

namespace {
std::string hex(const temp_tree& t, tree_digest_options o = {}) { return tree_digest(t.root(), o).hex(); }

// The manifest spelled out by hand (see tree_digest.hpp).
void add(std::string& m, char kind, bool exec, std::string_view path, std::string_view payload) {
    auto u32 = [&](std::size_t v) {
        for (int i = 0; i < 4; ++i) m.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    m.push_back(kind);
    m.push_back(exec ? '\1' : '\0');
    u32(path.size());
    m.append(path);
    u32(payload.size());
    m.append(payload);
}
std::string raw(const digest& d) { return {reinterpret_cast<const char*>(d.bytes().data()), d.size()}; }
std::string xxh(std::string_view s) { return raw(hash_bytes(hash_algorithm::xxh3_128, s)); }

void set_mtime(const std::filesystem::path& p, long seconds) {
    const timespec ts[2] = {{seconds, 0}, {seconds, 0}};
    ::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}
}  // namespace

BOOST_AUTO_TEST_CASE(manifest_matches_the_documented_encoding) {
    temp_tree t;
    t.file("a", "x");
    t.file("d/run.sh", "#!/bin/sh");
    ::chmod((t / "d/run.sh").c_str(), 0755);
    t.symlink("../a", "d/link");
    std::string m;
    add(m, 'f', false, "a", xxh("x"));
    add(m, 'd', false, "d", "");
    add(m, 'l', false, "d/link", "../a");
    add(m, 'f', true, "d/run.sh", xxh("#!/bin/sh"));
    BOOST_TEST(hex(t) == hash_bytes(hash_algorithm::xxh3_128, m).hex());
}

BOOST_AUTO_TEST_CASE(sha256_hashes_contents_and_manifest_with_sha256) {
    temp_tree t;
    t.file("a", "x");
    std::string m;
    add(m, 'f', false, "a", raw(hash_bytes(hash_algorithm::sha256, "x")));
    tree_digest_options o;
    o.algorithm = hash_algorithm::sha256;
    BOOST_TEST(hex(t, o) == hash_bytes(hash_algorithm::sha256, m).hex());
}

BOOST_AUTO_TEST_CASE(independent_of_mtime_creation_order_and_group_other_bits) {
    temp_tree a, b;
    a.file("x/1", "one");
    a.file("x/2", "two");
    a.file("y", "three");
    b.file("y", "three");  // other order
    b.file("x/2", "two");
    b.file("x/1", "one");
    set_mtime(b / "y", 1);
    set_mtime(b / "x/1", 2'000'000'000);
    ::chmod((a / "y").c_str(), 0600);
    ::chmod((b / "y").c_str(), 0664);
    ::chmod((a / "x").c_str(), 0700);
    BOOST_TEST(hex(a) == hex(b));
}

BOOST_AUTO_TEST_CASE(every_part_of_an_entry_counts) {
    temp_tree t;
    t.file("f", "content");
    t.symlink("f", "l");
    const auto base = hex(t);
    t.file("f", "contenT");
    const auto changed_content = hex(t);
    BOOST_TEST(changed_content != base);
    ::chmod((t / "f").c_str(), 0744);
    const auto exec = hex(t);
    BOOST_TEST(exec != changed_content);
    std::filesystem::remove(t / "l");
    t.symlink("g", "l");
    BOOST_TEST(hex(t) != exec);
    const auto before_dir = hex(t);
    t.dir("empty");
    BOOST_TEST(hex(t) != before_dir);  // an empty directory is part of a build context
    std::filesystem::rename(t / "empty", t / "Empty");
    BOOST_TEST(hex(t) != before_dir);
}

BOOST_AUTO_TEST_CASE(file_and_symlink_with_same_bytes_differ) {
    temp_tree a, b;
    a.file("x", "t");
    b.symlink("t", "x");
    BOOST_TEST(hex(a) != hex(b));
}

BOOST_AUTO_TEST_CASE(symlinks_are_not_followed_even_when_they_loop_or_leave_the_tree) {
    temp_tree t;
    t.symlink("loop", "loop");
    t.symlink("/etc", "outside");
    t.symlink("..", "up");
    std::string m;
    add(m, 'l', false, "loop", "loop");
    add(m, 'l', false, "outside", "/etc");
    add(m, 'l', false, "up", "..");
    BOOST_TEST(hex(t) == hash_bytes(hash_algorithm::xxh3_128, m).hex());
}

BOOST_AUTO_TEST_CASE(ignore_patterns_leave_entries_out) {
    temp_tree t, expected;
    for (auto* tree : {&t, &expected}) tree->file("src/main.py", "m");
    t.file("src/main.pyc", "c");
    t.file("__pycache__/x.pyc", "c");
    t.file(".git/HEAD", "ref");
    const std::vector<std::string> patterns{"*.pyc", "__pycache__/", ".git/"};
    BOOST_TEST(tree_digest(t.root(), ignore_patterns(patterns)).hex() == hex(expected));
}

BOOST_AUTO_TEST_CASE(special_files_are_skipped_and_reported) {
    temp_tree t;
    t.file("a", "x");
    BOOST_REQUIRE(::mkfifo((t / "pipe").c_str(), 0644) == 0);
    std::vector<std::string> skipped;
    tree_digest_options o;
    o.on_skip = [&](std::string_view p, std::string_view why) { skipped.push_back(std::string(p) + ":" + std::string(why)); };
    temp_tree plain;
    plain.file("a", "x");
    BOOST_TEST(hex(t, o) == hex(plain));
    BOOST_TEST(skipped == std::vector<std::string>{"pipe:a FIFO"});
}

BOOST_AUTO_TEST_CASE(names_with_newlines_and_invalid_utf8_are_entries_like_any_other) {
    temp_tree t;
    t.file("a\nb", "1");
    t.file("\xff", "2");
    std::string m;
    add(m, 'f', false, "a\nb", xxh("1"));
    add(m, 'f', false, "\xff", xxh("2"));
    BOOST_TEST(hex(t) == hash_bytes(hash_algorithm::xxh3_128, m).hex());
}

BOOST_AUTO_TEST_CASE(empty_tree_and_empty_files_have_digests) {
    temp_tree t;
    BOOST_TEST(hex(t) == hash_bytes(hash_algorithm::xxh3_128, "").hex());
    t.file("e", "");
    std::string m;
    add(m, 'f', false, "e", xxh(""));
    BOOST_TEST(hex(t) == hash_bytes(hash_algorithm::xxh3_128, m).hex());
}

BOOST_AUTO_TEST_CASE(thread_count_does_not_change_the_result) {
    temp_tree t;
    for (int i = 0; i < 300; ++i) t.file(fmt::format("d{}/e{}/f{}", i % 5, i % 3, i), std::string(i, 'q'));
    tree_digest_options one, many;
    one.jobs = 1;
    many.jobs = 7;
    BOOST_TEST(hex(t, one) == hex(t, many));
}

BOOST_AUTO_TEST_CASE(root_errors_name_the_path) {
    temp_tree t;
    const auto f = t.file("file", "x");
    try {
        tree_digest(f);
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("is not a directory") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find(f.string()) != std::string::npos);
    }
    BOOST_CHECK_THROW(tree_digest(t / "missing"), error);
}

BOOST_AUTO_TEST_CASE(unreadable_file_and_directory_are_errors_naming_them) {
    temp_tree t;
    t.file("ok", "1");
    const auto secret = t.file("s/secret", "2");
    t.file("locked/inner", "3");
    ::chmod(t.root().c_str(), 0755);
    ::chmod((t / "s").c_str(), 0755);
    ::chmod(secret.c_str(), 0);
    auto run = [&] {
        try {
            tree_digest(t.root());
        } catch (const error& e) {
            return std::string(e.what());
        }
        return std::string("<no error>");
    };
    std::string msg = test::as_nobody(run);
    BOOST_TEST(msg.find("s/secret") != std::string::npos, msg);
    ::chmod(secret.c_str(), 0644);
    ::chmod((t / "locked").c_str(), 0);
    msg = test::as_nobody(run);
    BOOST_TEST(msg.find("locked") != std::string::npos, msg);
    BOOST_TEST(msg.find("Permission denied") != std::string::npos, msg);
}
