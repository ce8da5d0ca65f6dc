#define BOOST_TEST_MODULE stat_cache
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <fstream>
#include <thread>
#include <vector>

#include <csignal>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "rtb/detail/posix.hpp"
#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/stat_cache.hpp"
#include "rtb/hash/tree_digest.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using test::temp_tree;

namespace {
constexpr std::int64_t second = 1'000'000'000;

file_stamp stamp_of(const std::filesystem::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return file_stamp::of(st);
}
digest d(std::string_view s) { return hash_bytes(hash_algorithm::xxh3_128, s); }

/// Overwrites a file's bytes in place (same inode, same size) and puts its
/// mtime back: the classic way a stat-based cache is fooled.
void rewrite_keeping_mtime(const std::filesystem::path& p, std::string_view content) {
    struct stat before {};
    ::stat(p.c_str(), &before);
    {
        std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
        f.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    const timespec ts[2] = {before.st_atim, before.st_mtim};
    ::utimensat(AT_FDCWD, p.c_str(), ts, 0);
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_racy_rule_as_a_pure_decision) {
    const file_stamp s{10, 100 * second, 100 * second, 1, 2};
    BOOST_TEST(stamp_trusted(s, s, 103 * second, 2 * second));
    BOOST_TEST(!stamp_trusted(s, s, 102 * second, 2 * second));   // boundary: not strictly older
    BOOST_TEST(!stamp_trusted(s, s, 100 * second, 2 * second));   // same tick
    BOOST_TEST(!stamp_trusted(s, s, 50 * second, 2 * second));    // cache older than the file
    file_stamp late_ctime = s;
    late_ctime.ctime_ns = 102 * second;
    BOOST_TEST(!stamp_trusted(late_ctime, late_ctime, 103 * second, 2 * second));
    for (auto change : {&file_stamp::mtime_ns, &file_stamp::ctime_ns}) {
        file_stamp other = s;
        other.*change += 1;
        BOOST_TEST(!stamp_trusted(s, other, 1000 * second, 2 * second));
    }
    file_stamp other = s;
    other.size += 1;
    BOOST_TEST(!stamp_trusted(s, other, 1000 * second, 2 * second));
    other = s;
    other.inode += 1;
    BOOST_TEST(!stamp_trusted(s, other, 1000 * second, 2 * second));
    other = s;
    other.device += 1;
    BOOST_TEST(!stamp_trusted(s, other, 1000 * second, 2 * second));
}

BOOST_AUTO_TEST_CASE(round_trip_through_the_file) {
    temp_tree t;
    const auto file = t / "cache.bin";
    const file_stamp s{3, 10 * second, 10 * second, 7, 8};
    {
        stat_cache c(file, "scope", 2 * second, 100 * second);
        c.record("a/b", s, d("abc"));
        c.save();
    }
    stat_cache c(file, "scope");
    BOOST_TEST(c.loaded_entries() == 1u);
    BOOST_TEST(c.lookup("a/b", s).value().hex() == d("abc").hex());
    BOOST_TEST(!c.lookup("a/c", s).has_value());
}

BOOST_AUTO_TEST_CASE(same_size_same_mtime_change_inside_the_racy_window_is_reread) {
    temp_tree t;
    const auto f = t.file("src/f", "aaaa");
    const auto cache_file = t / "cache.bin";
    rewrite_keeping_mtime(f, "bbbb");
    const auto now_stamp = stamp_of(f);  // what the file looks like after the change

    // A previous run read "aaaa" and recorded a stamp identical to today's,
    // in the same tick as the file's last change (the racy window).
    {
        stat_cache c(cache_file, "s", 2 * second, now_stamp.mtime_ns);
        c.record("src/f", now_stamp, d("aaaa"));
        c.save();
    }
    stat_cache racy(cache_file, "s");
    BOOST_TEST(!racy.lookup("src/f", now_stamp).has_value());
    tree_digest_options o;
    o.cache = &racy;
    temp_tree fresh;
    fresh.file("src/f", "bbbb");
    BOOST_TEST(tree_digest(t.root(), ignore_patterns(std::vector<std::string>{"cache.bin"}), o).hex() ==
               tree_digest(fresh.root()).hex());
}

BOOST_AUTO_TEST_CASE(control_without_the_racy_window_the_same_forgery_would_be_trusted) {
    // Proves the previous test exercises the racy rule: with a cache taken
    // well after the change, an identical stamp is (rightly) trusted.
    temp_tree t;
    const auto f = t.file("f", "aaaa");
    const auto s = stamp_of(f);
    {
        stat_cache c(t / "cache.bin", "s", 2 * second, s.mtime_ns + 10 * second);
        c.record("f", s, d("aaaa"));
        c.save();
    }
    stat_cache c(t / "cache.bin", "s");
    BOOST_TEST(c.lookup("f", s).has_value());
}

BOOST_AUTO_TEST_CASE(content_changes_are_seen) {
    temp_tree t, cache_dir;
    t.file("f", "one");
    const auto scope = tree_digest_scope(t.root(), hash_algorithm::xxh3_128);
    const auto file = cache_dir / "c.bin";
    auto run = [&](std::int64_t taken_at) {
        stat_cache c(file, scope, 2 * second, taken_at);
        tree_digest_options o;
        o.cache = &c;
        const auto h = tree_digest(t.root(), o).hex();
        c.save();
        return std::pair{h, c.hits()};
    };
    const auto later = stat_cache::now_ns() + 100 * second;
    const auto [h1, hits1] = run(later);
    BOOST_TEST(hits1 == 0u);
    const auto [h2, hits2] = run(later);
    BOOST_TEST(h2 == h1);
    BOOST_TEST(hits2 == 1u);
    t.file("f", "two!");  // size and mtime change
    const auto [h3, hits3] = run(later);
    BOOST_TEST(h3 != h1);
    BOOST_TEST(hits3 == 0u);
}

BOOST_AUTO_TEST_CASE(corrupt_foreign_and_truncated_caches_are_ignored_and_rebuilt) {
    temp_tree t;
    const auto file = t / "cache.bin";
    const file_stamp s{3, 10 * second, 10 * second, 7, 8};
    auto write_good = [&] {
        stat_cache c(file, "scope", 2 * second, 100 * second);
        for (int i = 0; i < 100; ++i) c.record(fmt::format("f{}", i), s, d("x"));
        c.save();
    };
    auto bytes = [&] {
        std::ifstream in(file, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    auto put = [&](const std::string& b) { std::ofstream(file, std::ios::binary | std::ios::trunc) << b; };

    write_good();
    const std::string good = bytes();
    BOOST_TEST(stat_cache(file, "scope").loaded_entries() == 100u);
    BOOST_TEST(stat_cache(file, "other scope").loaded_entries() == 0u);  // foreign

    for (std::size_t pos : {std::size_t{0}, std::size_t{9}, good.size() / 2, good.size() - 1}) {
        std::string bad = good;
        bad[pos] = static_cast<char>(bad[pos] ^ 0x40);
        put(bad);
        BOOST_TEST(stat_cache(file, "scope").loaded_entries() == 0u, "flipped byte " << pos);
    }
    for (std::size_t len : {std::size_t{0}, std::size_t{5}, std::size_t{20}, good.size() - 1}) {
        put(good.substr(0, len));
        BOOST_TEST(stat_cache(file, "scope").loaded_entries() == 0u, "truncated to " << len);
    }
    put(std::string(4096, '\xff'));
    BOOST_TEST(stat_cache(file, "scope").loaded_entries() == 0u);
    std::filesystem::remove(file);
    std::filesystem::create_directory(file);  // not even a file
    BOOST_TEST(stat_cache(file, "scope").loaded_entries() == 0u);
    std::filesystem::remove(file);
    write_good();  // and rebuilt
    BOOST_TEST(stat_cache(file, "scope").loaded_entries() == 100u);
}

BOOST_AUTO_TEST_CASE(entries_not_recorded_in_a_run_are_dropped) {
    temp_tree t;
    const file_stamp s{3, 10 * second, 10 * second, 7, 8};
    {
        stat_cache c(t / "c", "s", 2 * second, 100 * second);
        c.record("gone", s, d("x"));
        c.record("kept", s, d("y"));
        c.save();
    }
    {
        stat_cache c(t / "c", "s", 2 * second, 100 * second);
        c.record("kept", s, *c.lookup("kept", s));
        c.save();
    }
    stat_cache c(t / "c", "s");
    BOOST_TEST(c.loaded_entries() == 1u);
    BOOST_TEST(!c.lookup("gone", s).has_value());
}

BOOST_AUTO_TEST_CASE(concurrent_writers_never_leave_a_torn_file) {
    temp_tree t;
    const auto file = t / "c";
    const file_stamp s{3, 10 * second, 10 * second, 7, 8};
    std::vector<std::jthread> writers;
    for (int w = 0; w < 8; ++w)
        writers.emplace_back([&, w] {
            for (int round = 0; round < 20; ++round) {
                stat_cache c(file, "s", 2 * second, 100 * second);
                for (int i = 0; i < 200 + w; ++i) c.record(fmt::format("w{}/f{}", w, i), s, d("x"));
                c.save();
            }
        });
    writers.clear();  // join
    const auto n = stat_cache(file, "s").loaded_entries();
    BOOST_TEST((n >= 200u && n < 208u), "entries " << n);
    // no temp files left behind
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(t.root())) files += e.is_regular_file();
    BOOST_TEST(files == 1u);
}

BOOST_AUTO_TEST_CASE(an_unwritable_location_is_a_clear_error) {
    stat_cache c("/proc/rtb-cannot-write-here/cache.bin", "s");
    c.record("a", {}, d("x"));
    try {
        c.save();
        BOOST_FAIL("saved into /proc");
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::io_error);
        BOOST_TEST(std::string(e.what()).find("/proc/rtb-cannot-write-here") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(an_unchanged_run_does_not_rewrite_the_file) {
    temp_tree t, cache_dir;
    t.file("a", "1");
    t.file("b", "2");
    const auto file = cache_dir / "c.bin";
    const auto later = stat_cache::now_ns() + 100 * second;
    auto run = [&] {
        stat_cache c(file, "s", 2 * second, later);
        tree_digest_options o;
        o.cache = &c;
        tree_digest(t.root(), o);
        return c.save();
    };
    BOOST_TEST(run());   // first run writes
    BOOST_TEST(!run());  // nothing changed: no write
    t.file("c", "3");
    BOOST_TEST(run());   // a new file: written
    std::filesystem::remove(t / "a");
    BOOST_TEST(run());   // a removed file: written
    BOOST_TEST(!run());
}

// The write loop the stat cache, the build folder and the engine-root memo
// share: every byte arrives, and a failing write reports its errno.
BOOST_AUTO_TEST_CASE(write_all_writes_everything_or_says_why) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    detail::unique_fd reader(fds[0]), writer(fds[1]);
    std::string data(1 << 20, '\0');  // 16 pipe buffers: the writer waits for the reader many times
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
    std::string got;
    std::thread drain([&] {
        char buf[10000];
        for (;;) {
            const auto n = ::read(reader.get(), buf, sizeof buf);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
    });
    const int err = detail::write_all(writer.get(), data.data(), data.size());
    writer.reset();
    drain.join();
    BOOST_TEST(err == 0);
    BOOST_TEST(got.size() == data.size());
    BOOST_TEST((got == data));

    // No reader left: EPIPE (SIGPIPE ignored for the test), not success.
    BOOST_REQUIRE(::pipe(fds) == 0);
    detail::unique_fd r2(fds[0]), w2(fds[1]);
    r2.reset();
    const auto old = std::signal(SIGPIPE, SIG_IGN);
    BOOST_TEST(detail::write_all(w2.get(), "x", 1) == EPIPE);
    std::signal(SIGPIPE, old);
    // A descriptor open for reading only: EBADF.
    BOOST_REQUIRE(::pipe(fds) == 0);
    detail::unique_fd r3(fds[0]), w3(fds[1]);
    BOOST_TEST(detail::write_all(r3.get(), "x", 1) == EBADF);
    BOOST_TEST(detail::write_all(w3.get(), "", 0) == 0);
}
