#define BOOST_TEST_MODULE hashers
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <random>
#include <string>

#include <fcntl.h>

#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/hasher.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;

// Vectors: RFC 1321 (md5), FIPS 180-2 (sha256), xxhsum -H2 (xxh3-128).
BOOST_AUTO_TEST_CASE(known_vectors) {
    BOOST_TEST(hash_bytes(hash_algorithm::md5, "").hex() == "d41d8cd98f00b204e9800998ecf8427e");
    BOOST_TEST(hash_bytes(hash_algorithm::md5, "abc").hex() == "900150983cd24fb0d6963f7d28e17f72");
    BOOST_TEST(hash_bytes(hash_algorithm::sha256, "abc").hex() ==
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    BOOST_TEST(hash_bytes(hash_algorithm::sha1, "abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
    BOOST_TEST(hash_bytes(hash_algorithm::xxh3_128, "").hex() == "99aa06d3014798d86001c324468d497f");
    BOOST_TEST(hash_bytes(hash_algorithm::xxh3_128, "abc").hex() == "06b05ab6733a618578af5f94892f3950");
}

BOOST_AUTO_TEST_CASE(digest_sizes_match_algorithms) {
    for (auto a : {hash_algorithm::xxh3_128, hash_algorithm::md5, hash_algorithm::sha1, hash_algorithm::sha224,
                   hash_algorithm::sha256, hash_algorithm::sha384, hash_algorithm::sha512})
        BOOST_TEST(hash_bytes(a, "x").size() == digest_size(a), to_string(a));
}

BOOST_AUTO_TEST_CASE(streaming_in_any_chunking_equals_one_shot) {
    std::mt19937 rng(42);
    std::string data(300'000, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    for (auto a : {hash_algorithm::xxh3_128, hash_algorithm::md5, hash_algorithm::sha256}) {
        const auto expected = hash_bytes(a, data);
        any_hasher h(a);
        std::size_t pos = 0;
        while (pos < data.size()) {
            const std::size_t n = std::min<std::size_t>(rng() % 5000, data.size() - pos);
            h.update(std::string_view(data).substr(pos, n));
            pos += n;
        }
        BOOST_TEST(h.finish().hex() == expected.hex(), to_string(a));
        // finish() resets: the hasher is reusable
        h.update(std::string_view("abc"));
        BOOST_TEST(h.finish().hex() == hash_bytes(a, "abc").hex());
    }
}

BOOST_AUTO_TEST_CASE(algorithm_names_parse_and_unknown_names_are_refused) {
    BOOST_TEST((parse_hash_algorithm("xxh3") == hash_algorithm::xxh3_128));
    BOOST_TEST((parse_hash_algorithm("sha256") == hash_algorithm::sha256));
    BOOST_TEST((parse_hash_algorithm("md5") == hash_algorithm::md5));
    try {
        parse_hash_algorithm("crc32");
        BOOST_FAIL("accepted crc32");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("crc32") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("sha256") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(files_around_the_buffer_size_hash_like_their_bytes) {
    test::temp_tree t;
    std::mt19937 rng(7);
    const std::size_t b = detail::read_buffer_size;
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, b - 1, b, b + 1, 3 * b + 7}) {
        std::string data(size, '\0');
        for (auto& c : data) c = static_cast<char>(rng());
        const auto p = t.file(fmt::format("f{}", size), data);
        for (auto a : {hash_algorithm::xxh3_128, hash_algorithm::md5}) {
            const auto d = hash_file_at(AT_FDCWD, p.c_str(), a, p.string());
            BOOST_TEST(d.hex() == hash_bytes(a, data).hex(), "size " << size << " " << to_string(a));
        }
    }
}

BOOST_AUTO_TEST_CASE(missing_file_error_names_it) {
    try {
        hash_file_at(AT_FDCWD, "/nonexistent/rtb-file", hash_algorithm::md5, "/nonexistent/rtb-file");
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(e.value() == errc::io_error);
        BOOST_TEST(std::string(e.what()).find("/nonexistent/rtb-file") != std::string::npos);
    }
}
