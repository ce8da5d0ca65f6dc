// buildx_local_cache and registry_cache: the prune rule as a pure function,
// index.json validation (valid, malformed, hostile, oversized), the
// usability check, and a real prune of a folder with old and new files.
#define BOOST_TEST_MODULE cache_policies
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "rtb/policy/buildx_local_cache.hpp"
#include "rtb/policy/detail/local_cache_files.hpp"
#include "rtb/policy/registry_cache.hpp"
#include "support/checks.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace std::chrono_literals;
namespace lc = rtb::detail::local_cache;

namespace {

const auto now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 20000));
const std::string hex_a(64, 'a'), hex_b(64, 'b'), hex_c(64, 'c'), hex_d(64, 'd');

lc::cache_file file(std::string path, std::chrono::hours age) { return {std::move(path), now - age}; }

std::string index_of(std::initializer_list<std::string> hexes) {
    std::string m;
    for (const auto& h : hexes) {
        if (!m.empty()) m += ',';
        m += fmt::format(R"({{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":1}})", h);
    }
    return fmt::format(R"({{"schemaVersion":2,"manifests":[{}]}})", m);
}

/// Sets a file's mtime to `age` before the real now.
void age_file(const std::filesystem::path& p, std::chrono::hours age) {
    const auto t = std::chrono::system_clock::now() - age;
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    timespec times[2] = {{s, 0}, {s, 0}};
    if (::utimensat(AT_FDCWD, p.c_str(), times, 0) != 0) throw std::runtime_error("utimensat failed");
}

}  // namespace

// ------------------------------------------------------------ the prune rule

BOOST_AUTO_TEST_CASE(only_files_older_than_the_limit_are_pruned) {
    const auto plan = lc::prune_plan({file("index.json", 1h), file("blobs/sha256/" + hex_a, 24h * 8),
                                      file("blobs/sha256/" + hex_b, 24h * 6), file("blobs/sha256/" + hex_c, 24h * 7 + 1h)},
                                     {}, now, 24h * 7);
    BOOST_TEST(plan == (std::vector<std::string>{"blobs/sha256/" + hex_a, "blobs/sha256/" + hex_c}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(exactly_the_limit_is_kept) {
    BOOST_TEST(lc::prune_plan({file("index.json", 1h), file("x", 24h * 7)}, {}, now, 24h * 7).empty());
}

BOOST_AUTO_TEST_CASE(old_blobs_a_fresh_index_still_uses_are_kept) {
    const std::set<std::string> used{"blobs/sha256/" + hex_a};
    const auto plan = lc::prune_plan({file("index.json", 1h), file("oci-layout", 24h * 30),
                                      file("blobs/sha256/" + hex_a, 24h * 30), file("blobs/sha256/" + hex_b, 24h * 30)},
                                     used, now, 24h * 7);
    BOOST_TEST(plan == (std::vector<std::string>{"blobs/sha256/" + hex_b}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_old_index_means_the_whole_old_cache_goes) {
    const std::set<std::string> used{"blobs/sha256/" + hex_a};
    const auto plan = lc::prune_plan({file("index.json", 24h * 9), file("oci-layout", 24h * 9),
                                      file("blobs/sha256/" + hex_a, 24h * 9), file("blobs/sha256/" + hex_b, 1h)},
                                     used, now, 24h * 7);
    BOOST_TEST(plan == (std::vector<std::string>{"blobs/sha256/" + hex_a, "index.json", "oci-layout"}),
               boost::test_tools::per_element());
    // no index at all: nothing is protected beyond its age
    BOOST_TEST(lc::prune_plan({file("blobs/sha256/" + hex_a, 24h * 9)}, used, now, 24h * 7).size() == 1u);
    BOOST_TEST(lc::prune_plan({}, {}, now, 24h * 7).empty());
}

BOOST_AUTO_TEST_CASE(files_from_the_future_are_not_old) {
    BOOST_TEST(lc::prune_plan({file("index.json", -24h), file("x", -24h * 100)}, {}, now, 24h * 7).empty());
}

// ------------------------------------------------------------ index.json

BOOST_AUTO_TEST_CASE(a_valid_index_gives_its_digests) {
    const auto d = lc::index_digests(index_of({hex_a, hex_b}), "index.json");
    BOOST_TEST(d == (std::vector<std::string>{"sha256:" + hex_a, "sha256:" + hex_b}), boost::test_tools::per_element());
    BOOST_TEST(lc::index_digests(R"({"manifests":[]})", "i").empty());
}

BOOST_AUTO_TEST_CASE(malformed_and_hostile_indexes_are_refused_naming_the_file) {
    for (const auto* bad : {"", "null", "[]", "{", R"({"manifests":{}})", R"({"manifests":[1]})",
                            R"({"manifests":[{"digest":7}]})", R"({"manifests":[{"digest":"sha256:abc"}]})",
                            R"({"manifests":[{"digest":"sha256:../../../../etc/passwd"}]})",
                            R"({"manifests":[{"digest":"md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]})"}) {
        const auto e = error_of([&] { lc::index_digests(bad, "/c/index.json"); });
        BOOST_TEST(e.value() == errc::parse_error, bad);
        BOOST_TEST(contains(e.what(), "/c/index.json"), bad);
    }
    const std::string huge = R"({"manifests":[],"pad":")" + std::string(lc::max_index_size, 'x') + "\"}";
    BOOST_TEST(contains(message_of([&] { lc::index_digests(huge, "i"); }), "bytes"));
}

BOOST_AUTO_TEST_CASE(blob_references_follow_manifests_and_ignore_layers) {
    const auto refs = lc::blob_references(fmt::format(
        R"({{"config":{{"digest":"sha256:{}"}},"layers":[{{"digest":"sha256:{}"}},{{"digest":"bogus"}}]}})", hex_a, hex_b));
    BOOST_TEST(refs.size() == 2u);
    BOOST_TEST(lc::blob_references("\x1f\x8b binary layer").empty());
    BOOST_TEST(lc::blob_references("{not json").empty());
    BOOST_TEST(lc::blob_path("sha256:" + hex_a) == "blobs/sha256/" + hex_a);
}

// ------------------------------------------------------------ the policy on disk

BOOST_AUTO_TEST_CASE(prepare_adds_export_always_and_import_once_a_valid_index_exists) {
    temp_tree t;
    const auto dir = t / "cache";
    buildx_local_cache cache({.directory = dir});
    build_request first;
    cache.prepare(first);
    BOOST_TEST(std::filesystem::is_directory(dir));  // made when missing
    BOOST_TEST(first.cache_from.empty());
    BOOST_TEST(first.cache_to == (std::vector<std::string>{"type=local,dest=" + dir.native() + ",mode=max"}),
               boost::test_tools::per_element());
    t.file("cache/index.json", index_of({hex_a}));
    build_request second;
    cache.prepare(second);
    BOOST_TEST(second.cache_from == (std::vector<std::string>{"type=local,src=" + dir.native()}),
               boost::test_tools::per_element());
    BOOST_TEST(cache.last_check().importable);
}

BOOST_AUTO_TEST_CASE(a_corrupt_index_is_not_imported_and_says_why) {
    temp_tree t;
    t.file("cache/index.json", "{\"manifests\": [trunc");
    buildx_local_cache cache({.directory = t / "cache"});
    build_request r;
    cache.prepare(r);
    BOOST_TEST(r.cache_from.empty());
    BOOST_TEST(r.cache_to.size() == 1u);  // the next export writes a good index
    BOOST_TEST(contains(cache.last_check().problem, "index.json"));
}

BOOST_AUTO_TEST_CASE(an_unusable_folder_is_an_error_naming_it) {
    temp_tree t;
    t.file("plain-file", "not a folder");
    buildx_local_cache cache({.directory = t / "plain-file" / "cache"});
    build_request r;
    const auto e = error_of([&] { cache.prepare(r); });
    BOOST_TEST(e.value() == errc::io_error);
    BOOST_TEST(contains(e.what(), "plain-file"));
    BOOST_TEST(r.cache_to.empty());
}

BOOST_AUTO_TEST_CASE(options_that_cannot_form_a_cache_spec_are_refused) {
    BOOST_TEST(error_of([] { buildx_local_cache({.directory = ""}); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([] { buildx_local_cache({.directory = "/tmp/a,b"}); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([] { buildx_local_cache({.directory = "/tmp/c", .mode = "all"}); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([] { buildx_local_cache({.directory = "/tmp/c", .max_age = 0h}); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(maintain_prunes_a_real_folder_of_old_and_new_files) {
    temp_tree t;
    const auto dir = t / "cache";
    // a fresh index whose manifest (old) names an old layer; an old unused
    // blob; a new blob; an old file in a nested folder
    const auto manifest = fmt::format(R"({{"layers":[{{"digest":"sha256:{}"}}]}})", hex_b);
    t.file("cache/index.json", index_of({hex_a}));
    t.file("cache/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    age_file(t.file("cache/blobs/sha256/" + hex_a, manifest), 24h * 30);
    age_file(t.file("cache/blobs/sha256/" + hex_b, "layer bytes"), 24h * 30);
    age_file(t.file("cache/blobs/sha256/" + hex_c, "unused old"), 24h * 8);
    t.file("cache/blobs/sha256/" + hex_d, "new");
    age_file(t.file("cache/ingest/tmp-1", "stale partial"), 24h * 10);
    age_file(dir / "oci-layout", 24h * 30);

    buildx_local_cache cache({.directory = dir});
    const auto removed = cache.maintain();
    BOOST_TEST(removed == (std::vector<std::string>{"blobs/sha256/" + hex_c, "ingest/tmp-1"}), boost::test_tools::per_element());
    for (const auto& kept : {"index.json", "oci-layout"}) BOOST_TEST(std::filesystem::exists(dir / kept), kept);
    BOOST_TEST(std::filesystem::exists(dir / "blobs/sha256" / hex_a));
    BOOST_TEST(std::filesystem::exists(dir / "blobs/sha256" / hex_b));
    BOOST_TEST(std::filesystem::exists(dir / "blobs/sha256" / hex_d));
    BOOST_TEST(!std::filesystem::exists(dir / "blobs/sha256" / hex_c));
    BOOST_TEST(!std::filesystem::exists(dir / "ingest/tmp-1"));
    BOOST_TEST(cache.maintain().empty());  // nothing more to do

    // a shorter limit: the index is now "old" too, so the cache is abandoned
    buildx_local_cache strict({.directory = dir, .max_age = 24h * 20});
    age_file(dir / "index.json", 24h * 21);
    const auto second = strict.maintain();
    BOOST_TEST(second.size() == 4u);  // index.json, oci-layout, the two 30-day blobs
    BOOST_TEST(std::filesystem::exists(dir / "blobs/sha256" / hex_d));
}

BOOST_AUTO_TEST_CASE(maintain_on_a_missing_folder_does_nothing) {
    buildx_local_cache cache({.directory = "/nonexistent/rtb-cache-test"});
    BOOST_TEST(cache.maintain().empty());
}

// ------------------------------------------------------------ registry_cache

BOOST_AUTO_TEST_CASE(registry_cache_adds_registry_specs) {
    registry_cache cache({.ref = "127.0.0.1:5000/cache/runtime:buildcache"});
    build_request r;
    cache.prepare(r);
    BOOST_TEST(r.cache_from == (std::vector<std::string>{"type=registry,ref=127.0.0.1:5000/cache/runtime:buildcache"}),
               boost::test_tools::per_element());
    BOOST_TEST(r.cache_to ==
                   (std::vector<std::string>{"type=registry,ref=127.0.0.1:5000/cache/runtime:buildcache,mode=max"}),
               boost::test_tools::per_element());
    registry_cache read_only({.ref = "reg.example/c:1", .export_cache = false});
    build_request r2;
    read_only.prepare(r2);
    BOOST_TEST(r2.cache_to.empty());
}

BOOST_AUTO_TEST_CASE(registry_cache_refuses_refs_that_are_not_images_or_break_the_spec) {
    for (const auto* bad : {"", "Not An Image", "reg/c:1,type=local", "reg/c:\"1\"", "reg/c=1"})
        BOOST_TEST(error_of([&] { registry_cache({.ref = bad}); }).value() == errc::invalid_argument, bad);
}
