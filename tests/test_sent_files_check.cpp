// What an image holds is what its tags hashed: the tag strategies record
// every file they read (size and XXH3-128 of the bytes hashed, from the
// same read, also through a warm stat cache), and the context streams (the
// tar, a build folder) check each file against that record as they send
// it. A file changed, added or removed in between fails with
// errc::source_changed naming it, and the consumer never receives the
// archive's end. Each change is made at a known point (the record's
// before_send hook, or between reads), so every case is deterministic.
#define BOOST_TEST_MODULE sent_files_check
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "rtb/context/gzip_stream.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/detail/cached_file_hash.hpp"
#include "rtb/any_tag_strategy.hpp"
#include "rtb/concepts.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using rtb::test::temp_tree;

static_assert(RecordsHashedFiles<openhands_tags> && RecordsHashedFiles<content_tags> &&
              RecordsHashedFiles<any_tag_strategy>);

namespace {

/// A runtime source and lock file, the spec naming them, and the context a
/// builder would send for them with the strategy's record.
struct runtime_fixture {
    temp_tree t;
    std::filesystem::path src = t / "src";
    std::filesystem::path lock = t / "deps.lock";
    runtime_fixture() {
        t.file("src/app.py", "print('hi')\n");
        t.file("src/pkg/mod.py", "x = 1\n");
        t.file("src/pkg/__pycache__/mod.cpython-311.pyc", "bytecode");  // neither hashed nor sent (openhands)
        t.file("src/zzz_last.txt", "original\n");
        t.file("deps.lock", "echo\ncat\n");
    }
    runtime_spec spec() const {
        runtime_spec s;
        s.base_image = "local/busybox:1";
        s.source_dir = src;
        s.lock_files = {lock};
        s.runtime_version = "0.1.0";
        return s;
    }
};

/// The context the builder sends for `spec` under `strategy`, checked
/// against the record the same strategy made (which `record` returns).
template <class Strategy>
build_context hashed_context(const Strategy& strategy, const runtime_spec& spec,
                             std::shared_ptr<hashed_files>& record) {
    record = std::make_shared<hashed_files>();
    strategy.tags(spec, *record);
    auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image, strategy.source_filter(spec));
    ctx.send_as_hashed(record);
    return ctx;
}

/// Reads `s` to the end; on an error, `got` holds what was handed out before it.
template <class Source>
void drain(Source& s, std::string& got, const std::function<void()>& between_reads = {}) {
    std::byte buf[4096];
    while (const auto n = s.read(buf)) {
        got.append(reinterpret_cast<const char*>(buf), n);
        if (between_reads) between_reads();
    }
}

/// Runs `f`, which must throw source_changed with `part` in its message.
void expect_source_changed(const std::function<void()>& f, std::string_view part) {
    try {
        f();
        BOOST_FAIL("no error: the change went unnoticed");
    } catch (const error& e) {
        BOOST_TEST((e.value() == errc::source_changed), e.what());
        BOOST_TEST(std::string(e.what()).find(part) != std::string::npos, "'" << part << "' not in: " << e.what());
    }
}

/// A tar handed out up to an error must not be a complete archive: no end
/// blocks (1024 zero bytes) at its end.
bool ends_like_an_archive(const std::string& bytes) {
    return bytes.size() >= 1024 && bytes.find_first_not_of('\0', bytes.size() - 1024) == std::string::npos;
}

void rewrite(const std::filesystem::path& p, std::string_view content) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(content.data(), static_cast<std::streamsize>(content.size()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(unchanged_files)

BOOST_AUTO_TEST_CASE(a_checked_stream_gives_the_same_bytes_as_an_unchecked_one) {
    runtime_fixture f;
    const auto spec = f.spec();
    for (const bool openhands : {true, false}) {
        std::shared_ptr<hashed_files> record;
        const auto checked = openhands ? hashed_context(openhands_tags{}, spec, record)
                                       : hashed_context(content_tags{}, spec, record);
        // three source files and one lock file; content_tags sends (and hashes) the .pyc too
        BOOST_TEST(record->size() == (openhands ? 4u : 5u));
        auto plain = runtime_build_context(spec, plan_kind::scratch, spec.base_image,
                                           openhands ? any_path_filter(openhands_tags{}.source_filter(spec))
                                                     : any_path_filter(content_tags{}.source_filter(spec)));
        tar_stream a(checked), b(plain);
        BOOST_TEST((read_all(a) == read_all(b)));
    }
}

BOOST_AUTO_TEST_CASE(the_record_has_the_hashed_bytes_sizes_and_xxh3) {
    runtime_fixture f;
    hashed_files record;
    const auto with = openhands_tags{}.tags(f.spec(), record);
    BOOST_TEST((with == openhands_tags{}.tags(f.spec())));  // recording changes no tag
    const auto* tree = record.find_tree(f.src);
    BOOST_REQUIRE(tree);
    BOOST_TEST(tree->files.size() == 3u);
    const auto& last = tree->files.at("zzz_last.txt");
    BOOST_TEST(last.size == 9u);
    BOOST_TEST((last.xxh3 == hash_bytes(hash_algorithm::xxh3_128, "original\n")));
    const auto* lock = record.find_file(f.lock.string());
    BOOST_REQUIRE(lock);
    BOOST_TEST((lock->xxh3 == hash_bytes(hash_algorithm::xxh3_128, "echo\ncat\n")));
    BOOST_TEST(!tree->files.contains("pkg/__pycache__/mod.cpython-311.pyc"));
}

BOOST_AUTO_TEST_CASE(files_reached_through_links_are_sent_as_links_and_not_checked_as_files) {
    // The Dirhash follows links (it hashes the target's bytes); the context
    // sends the link. Neither the linked file nor a linked folder's files
    // are regular files of the context: recording them would fail every build.
    runtime_fixture f;
    f.t.file("elsewhere/shared.py", "shared\n");
    f.t.symlink("../elsewhere/shared.py", "src/shared.py");
    f.t.symlink("../elsewhere", "src/linked");
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(openhands_tags{}, f.spec(), record);
    BOOST_TEST(record->find_tree(f.src)->files.size() == 3u);
    tar_stream s(ctx);
    BOOST_CHECK_NO_THROW(read_all(s));
}

BOOST_AUTO_TEST_CASE(a_warm_stat_cache_records_the_same_fingerprints_without_reading) {
    runtime_fixture f;
    temp_tree cache_dir;
    ::setenv("RTB_CACHE_DIR", cache_dir.root().c_str(), 1);
    // Files must be older than the cache's racy window to be trusted.
    const struct timespec old[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
    for (const auto& e : std::filesystem::recursive_directory_iterator(f.t.root()))
        ::utimensat(AT_FDCWD, e.path().c_str(), old, AT_SYMLINK_NOFOLLOW);
    for (const bool openhands : {true, false}) {
        BOOST_TEST_CONTEXT((openhands ? "openhands" : "content")) {
            hashed_files cold, warm;
            tag_set a, b;
            if (openhands) {
                const openhands_tags s({.jobs = 1, .use_stat_cache = true});
                a = s.tags(f.spec(), cold);
                b = s.tags(f.spec(), warm);
            } else {
                const content_tags s({.jobs = 1, .use_stat_cache = true});
                a = s.tags(f.spec(), cold);
                b = s.tags(f.spec(), warm);
            }
            BOOST_TEST((a == b));
            const auto& c = cold.find_tree(f.src)->files;
            const auto& w = warm.find_tree(f.src)->files;
            BOOST_TEST((c == w));
        }
    }
    ::unsetenv("RTB_CACHE_DIR");
}

BOOST_AUTO_TEST_CASE(cached_values_carry_the_fingerprint_after_the_digest) {
    const digest md5 = hash_bytes(hash_algorithm::md5, "x");
    const file_fingerprint fp{1, hash_bytes(hash_algorithm::xxh3_128, "x")};
    const digest joined = detail::cached_value(md5, &fp);
    BOOST_TEST(joined.size() == 32u);
    const auto parts = detail::split_cached_value(joined, 16);
    BOOST_REQUIRE(parts.has_value());
    BOOST_TEST((parts->value == md5));
    BOOST_TEST((parts->xxh3.value() == fp.xxh3));
    BOOST_TEST(!detail::split_cached_value(md5, 16)->xxh3.has_value());  // an entry from a run that did not record
    BOOST_TEST(!detail::split_cached_value(md5, 20).has_value());         // a value of another algorithm
    const digest sha512 = hash_bytes(hash_algorithm::sha512, "x");
    BOOST_TEST((detail::cached_value(sha512, &fp) == sha512));             // no room: the digest alone
}

BOOST_AUTO_TEST_CASE(differences_are_described_by_size_then_content) {
    const file_fingerprint a{9, hash_bytes(hash_algorithm::xxh3_128, "original\n")};
    BOOST_TEST(!fingerprint_difference(a, a).has_value());
    BOOST_TEST(fingerprint_difference(a, {20, a.xxh3}).value() == "hashed 9 bytes, sent 20");
    BOOST_TEST(fingerprint_difference(a, {9, hash_bytes(hash_algorithm::xxh3_128, "ORIGINAL\n")}).value() ==
               "hashed 9 bytes, sent 9 with other content");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(changed_files)

BOOST_AUTO_TEST_CASE(a_source_file_rewritten_before_it_is_sent_fails_naming_it_and_sizes) {
    for (const bool openhands : {true, false}) {
        BOOST_TEST_CONTEXT((openhands ? "openhands" : "content")) {
            runtime_fixture f;
            std::shared_ptr<hashed_files> record;
            auto ctx = openhands ? hashed_context(openhands_tags{}, f.spec(), record)
                                 : hashed_context(content_tags{}, f.spec(), record);
            record->before_send = [&](std::string_view path) {
                if (path == "source/zzz_last.txt") rewrite(f.src / "zzz_last.txt", "MODIFIED-AFTER-HASH\n");
            };
            tar_stream s(ctx);
            std::string got;
            expect_source_changed([&] { drain(s, got); },
                                  "'" + (f.src / "zzz_last.txt").string() + "' (hashed 9 bytes, sent 20)");
            BOOST_TEST(got.find("MODIFIED") == std::string::npos);
            BOOST_TEST(!ends_like_an_archive(got));
        }
    }
}

BOOST_AUTO_TEST_CASE(the_same_size_with_other_bytes_is_a_change_too) {
    runtime_fixture f;
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(openhands_tags{}, f.spec(), record);
    record->before_send = [&](std::string_view path) {
        if (path == "source/app.py") rewrite(f.src / "app.py", "print('HI')\n");
    };
    tar_stream s(ctx);
    std::string got;
    expect_source_changed([&] { drain(s, got); }, "app.py' (hashed 12 bytes, sent 12 with other content)");
    BOOST_TEST(got.find("print('HI')") == std::string::npos);  // the file's last bytes are held back
    BOOST_TEST(!ends_like_an_archive(got));
}

BOOST_AUTO_TEST_CASE(a_big_file_changed_between_reads_is_caught_at_its_end) {
    // Checked incrementally: the change lands after the file's first chunks
    // were handed out, and its end is refused.
    runtime_fixture f;
    const std::string big(3 << 20, 'b');
    f.t.file("src/big.bin", big);
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(content_tags{}, f.spec(), record);
    bool opened = false, changed = false;
    record->before_send = [&](std::string_view path) { opened = opened || path == "source/big.bin"; };
    tar_stream s(ctx);
    std::string got;
    expect_source_changed([&] {
        drain(s, got, [&] {
            if (opened && !changed && got.size() > (1u << 20)) {
                // same size, one byte near the end
                const int fd = ::open((f.src / "big.bin").c_str(), O_WRONLY);
                BOOST_REQUIRE(fd >= 0);
                BOOST_REQUIRE(::pwrite(fd, "X", 1, (3 << 20) - 10) == 1);
                ::close(fd);
                changed = true;
            }
        });
    }, "big.bin' (hashed 3145728 bytes, sent 3145728 with other content)");
    BOOST_TEST(changed);
    BOOST_TEST(!ends_like_an_archive(got));
}

BOOST_AUTO_TEST_CASE(a_lock_file_rewritten_before_it_is_sent_fails_naming_it) {
    for (const bool openhands : {true, false}) {
        BOOST_TEST_CONTEXT((openhands ? "openhands" : "content")) {
            runtime_fixture f;
            std::shared_ptr<hashed_files> record;
            auto ctx = openhands ? hashed_context(openhands_tags{}, f.spec(), record)
                                 : hashed_context(content_tags{}, f.spec(), record);
            record->before_send = [&](std::string_view path) {
                if (path == "lock/deps.lock") rewrite(f.lock, "echo\ncat\nls\n");
            };
            tar_stream s(ctx);
            std::string got;
            expect_source_changed([&] { drain(s, got); }, "'" + f.lock.string() + "' (hashed 9 bytes, sent 12)");
            BOOST_TEST(!ends_like_an_archive(got));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_file_added_after_hashing_is_a_change) {
    for (const bool openhands : {true, false}) {
        BOOST_TEST_CONTEXT((openhands ? "openhands" : "content")) {
            runtime_fixture f;
            auto record = std::make_shared<hashed_files>();
            const auto spec = f.spec();
            if (openhands) openhands_tags{}.tags(spec, *record);
            else content_tags{}.tags(spec, *record);
            f.t.file("src/pkg/new.py", "added\n");  // after hashing, before the context is listed
            auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image,
                                             openhands ? any_path_filter(openhands_tags{}.source_filter(spec))
                                                       : any_path_filter(content_tags{}.source_filter(spec)));
            ctx.send_as_hashed(record);
            tar_stream s(ctx);
            std::string got;
            expect_source_changed([&] { drain(s, got); }, "new.py' (not hashed: it appeared after the tags were computed");
            BOOST_TEST(got.find("added\n") == std::string::npos);
            BOOST_TEST(!ends_like_an_archive(got));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_file_removed_after_hashing_is_a_change_before_the_archive_ends) {
    runtime_fixture f;
    auto record = std::make_shared<hashed_files>();
    const auto spec = f.spec();
    openhands_tags{}.tags(spec, *record);
    std::filesystem::remove(f.src / "zzz_last.txt");  // before the context is listed: it is not in it
    auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image, openhands_tags{}.source_filter(spec));
    ctx.send_as_hashed(record);
    tar_stream s(ctx);
    std::string got;
    expect_source_changed([&] { drain(s, got); }, "zzz_last.txt' (hashed 9 bytes, no longer in the source)");
    BOOST_TEST(!ends_like_an_archive(got));
}

BOOST_AUTO_TEST_CASE(a_file_removed_while_the_context_is_sent_is_a_change) {
    runtime_fixture f;
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(openhands_tags{}, f.spec(), record);
    record->before_send = [&](std::string_view path) {
        if (path == "source/app.py") std::filesystem::remove(f.src / "zzz_last.txt");
    };
    tar_stream s(ctx);
    std::string got;
    expect_source_changed([&] { drain(s, got); }, "zzz_last.txt' (hashed 9 bytes, now missing or no longer a regular file)");
    BOOST_TEST(!ends_like_an_archive(got));
}

BOOST_AUTO_TEST_CASE(a_gzip_stream_never_ends_when_its_tar_fails) {
    runtime_fixture f;
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(openhands_tags{}, f.spec(), record);
    record->before_send = [&](std::string_view path) {
        if (path == "source/zzz_last.txt") rewrite(f.src / "zzz_last.txt", "MODIFIED-AFTER-HASH\n");
    };
    gzip_stream<tar_stream> z(tar_stream(ctx), {.level = 1, .jobs = 1});
    std::string got;
    expect_source_changed([&] { drain(z, got); }, "zzz_last.txt' (hashed 9 bytes, sent 20)");
    BOOST_TEST(got.size() <= 10u);  // the gzip header at most: the only block was never finished
}

BOOST_AUTO_TEST_CASE(a_build_folder_is_checked_as_it_is_written) {
    runtime_fixture f;
    temp_tree out;
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(openhands_tags{}, f.spec(), record);
    record->before_send = [&](std::string_view path) {
        if (path == "source/zzz_last.txt") rewrite(f.src / "zzz_last.txt", "MODIFIED-AFTER-HASH\n");
    };
    expect_source_changed([&] { ctx.write_to(out / "folder"); }, "zzz_last.txt' (hashed 9 bytes, sent 20)");
}

BOOST_AUTO_TEST_CASE(an_execute_bit_changed_after_hashing_is_a_change_where_the_tags_hash_it) {
    // content_tags hash each file's execute bit (the tar writes 0755 or
    // 0644 from it); OpenHands' Dirhash does not, so its record has no shape.
    for (const bool openhands : {true, false}) {
        BOOST_TEST_CONTEXT((openhands ? "openhands" : "content")) {
            runtime_fixture f;
            auto record = std::make_shared<hashed_files>();
            const auto spec = f.spec();
            if (openhands) openhands_tags{}.tags(spec, *record);
            else content_tags{}.tags(spec, *record);
            BOOST_TEST(record->find_tree(f.src)->shape.has_value() == !openhands);
            std::filesystem::permissions(f.src / "app.py", std::filesystem::perms::owner_exec,
                                         std::filesystem::perm_options::add);  // after hashing, before the listing
            auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image,
                                             openhands ? any_path_filter(openhands_tags{}.source_filter(spec))
                                                       : any_path_filter(content_tags{}.source_filter(spec)));
            ctx.send_as_hashed(record);
            tar_stream s(ctx);
            std::string got;
            if (openhands) {
                BOOST_CHECK_NO_THROW(drain(s, got));
            } else {
                expect_source_changed([&] { drain(s, got); }, "app.py' (hashed without an execute bit, sent with one)");
                BOOST_TEST(!ends_like_an_archive(got));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_link_retargeted_added_or_removed_after_hashing_is_a_change_where_the_tags_hash_links) {
    struct link_change {
        const char* name;
        std::function<void(runtime_fixture&)> make;
        const char* expected;
    };
    const std::vector<link_change> changes{
        {"retargeted",
         [](runtime_fixture& f) {
             std::filesystem::remove(f.src / "current");
             f.t.symlink("pkg/mod.py", "src/current");
         },
         "current' (hashed as a symbolic link to 'app.py', sent as one to 'pkg/mod.py')"},
        {"added", [](runtime_fixture& f) { f.t.symlink("app.py", "src/pkg/also"); },
         "also' (a symbolic link to 'app.py' that was not hashed: it appeared after the tags were computed)"},
        {"removed", [](runtime_fixture& f) { std::filesystem::remove(f.src / "current"); },
         "current' (hashed as a symbolic link to 'app.py', no longer in the source)"},
    };
    for (const auto& c : changes)
        for (const bool folder : {false, true})
            BOOST_TEST_CONTEXT(c.name << (folder ? ", build folder" : ", tar")) {
                runtime_fixture f;
                f.t.symlink("app.py", "src/current");
                auto record = std::make_shared<hashed_files>();
                const auto spec = f.spec();
                content_tags{}.tags(spec, *record);
                BOOST_TEST(record->link_count() == 1u);
                c.make(f);  // after hashing, before the listing
                auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image,
                                                 content_tags{}.source_filter(spec));
                ctx.send_as_hashed(record);
                if (folder) {
                    temp_tree out;
                    expect_source_changed([&] { ctx.write_to(out / "folder"); }, c.expected);
                } else {
                    tar_stream s(ctx);
                    std::string got;
                    expect_source_changed([&] { drain(s, got); }, c.expected);
                    BOOST_TEST(!ends_like_an_archive(got));
                }
            }
}

BOOST_AUTO_TEST_CASE(unchanged_links_and_modes_are_sent_without_complaint) {
    runtime_fixture f;
    f.t.symlink("app.py", "src/current");
    std::filesystem::permissions(f.src / "pkg" / "mod.py", std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    std::shared_ptr<hashed_files> record;
    auto ctx = hashed_context(content_tags{}, f.spec(), record);
    BOOST_TEST(record->find_tree(f.src)->shape->executable.contains("pkg/mod.py"));
    tar_stream s(ctx);
    BOOST_CHECK_NO_THROW(read_all(s));
    temp_tree out;
    BOOST_CHECK_NO_THROW(ctx.write_to(out / "folder"));
}

BOOST_AUTO_TEST_CASE(a_context_without_a_record_is_sent_as_it_is) {
    runtime_fixture f;
    const auto spec = f.spec();
    auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image, openhands_tags{}.source_filter(spec));
    ctx.send_as_hashed(std::make_shared<hashed_files>());  // an empty record (a strategy that records nothing)
    rewrite(f.src / "zzz_last.txt", "MODIFIED-AFTER-HASH\n");
    tar_stream s(ctx);
    BOOST_CHECK_NO_THROW(read_all(s));
}

BOOST_AUTO_TEST_SUITE_END()
