// Parallel deterministic gzip and streaming base64: valid output, the same
// bytes whatever the thread count or read sizes, errors carried through.
#define BOOST_TEST_MODULE gzip_stream
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "rtb/context/base64_stream.hpp"
#include "rtb/context/gzip_stream.hpp"

using namespace rtb;

namespace {

/// Hands out its bytes in reads of at most `step` bytes; throws after `fail_after` bytes when set.
class chunked_source {
public:
    chunked_source(std::string data, std::size_t step, std::size_t fail_after = std::string::npos)
        : data_(std::move(data)), step_(step), fail_after_(fail_after) {}
    std::size_t read(std::span<std::byte> buf) {
        if (pos_ >= fail_after_) throw error(errc::io_error, "source broke");
        const std::size_t n = std::min({buf.size(), step_, data_.size() - pos_});
        std::memcpy(buf.data(), data_.data() + pos_, n);
        pos_ += n;
        return n;
    }

private:
    std::string data_;
    std::size_t step_, fail_after_, pos_ = 0;
};

std::string gunzip(const std::string& gz) {
    z_stream z{};
    BOOST_REQUIRE(inflateInit2(&z, 16 + 15) == Z_OK);
    std::string out;
    char buf[65536];
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    z.avail_in = static_cast<uInt>(gz.size());
    int r;
    do {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        r = inflate(&z, Z_NO_FLUSH);
        BOOST_REQUIRE_MESSAGE(r == Z_OK || r == Z_STREAM_END, "inflate: " << r);
        out.append(buf, sizeof buf - z.avail_out);
    } while (r != Z_STREAM_END);
    BOOST_TEST(z.avail_in == 0u);  // one member, nothing after it
    inflateEnd(&z);
    return out;
}

std::string sample(std::size_t n, unsigned seed) {
    // half text-like, half random: compressible and not
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = (i / 4096) % 2 ? static_cast<char>(rng()) : static_cast<char>("the quick brown fox "[rng() % 20]);
    return s;
}

std::string gzip(const std::string& data, gzip_options o, std::size_t step = 1 << 20) {
    gzip_stream g(chunked_source(data, step), o);
    return read_all(g);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel_gzip)

BOOST_AUTO_TEST_CASE(round_trips_at_block_edges) {
    const std::size_t b = 128 * 1024;
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, b - 1, b, b + 1, 5 * b + 17}) {
        const auto data = sample(n, static_cast<unsigned>(n));
        BOOST_TEST_CONTEXT("size " << n) { BOOST_TEST((gunzip(gzip(data, {.level = 6, .jobs = 2})) == data)); }
    }
}

BOOST_AUTO_TEST_CASE(the_same_bytes_whatever_the_thread_count_or_read_size) {
    const auto data = sample(3 * 1024 * 1024 + 5, 7);
    const auto one = gzip(data, {.level = 6, .jobs = 1});
    for (const unsigned jobs : {2u, 3u, 8u}) {
        BOOST_TEST_CONTEXT("jobs " << jobs) { BOOST_TEST((gzip(data, {.level = 6, .jobs = jobs}) == one)); }
    }
    BOOST_TEST((gzip(data, {.level = 6, .jobs = 2}, 333) == one));
    // and the consumer's read size does not matter either
    gzip_stream g(chunked_source(data, 1 << 20), {.level = 6, .jobs = 2});
    std::string small;
    std::byte buf[3];
    while (const auto n = g.read(buf)) small.append(reinterpret_cast<const char*>(buf), n);
    BOOST_TEST((small == one));
    BOOST_TEST(g.bytes_in() == data.size());
}

BOOST_AUTO_TEST_CASE(the_header_has_no_name_no_time_and_a_fixed_os_byte) {
    const auto gz = gzip("hello", {});
    const unsigned char want[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    BOOST_TEST(std::memcmp(gz.data(), want, 10) == 0);
}

BOOST_AUTO_TEST_CASE(the_level_and_block_size_are_part_of_the_output_and_checked) {
    const auto data = sample(600'000, 3);
    BOOST_TEST((gzip(data, {.level = 1}) != gzip(data, {.level = 9})));
    BOOST_TEST((gunzip(gzip(data, {.level = 0})) == data));
    BOOST_TEST((gunzip(gzip(data, {.level = 6, .jobs = 2, .block_size = 40'000})) == data));
    BOOST_CHECK_THROW(gzip(data, {.level = 10}), error);
    BOOST_CHECK_THROW(gzip(data, {.level = -1}), error);
    BOOST_CHECK_THROW(gzip(data, {.level = 6, .jobs = 1, .block_size = 100}), error);
}

BOOST_AUTO_TEST_CASE(a_long_run_of_one_byte_compresses_like_gzip) {
    // the dictionary carries matches across blocks: a run stays tiny
    const std::string zeros(8 * 1024 * 1024, '\0');
    const auto gz = gzip(zeros, {.level = 6, .jobs = 2});
    BOOST_TEST(gz.size() < 20'000u);
    BOOST_TEST((gunzip(gz) == zeros));
}

BOOST_AUTO_TEST_CASE(a_source_error_reaches_the_reader_and_the_stream_still_goes_away) {
    const auto data = sample(2'000'000, 5);
    gzip_stream g(chunked_source(data, 50'000, 900'000), {.level = 6, .jobs = 2});
    BOOST_CHECK_EXCEPTION(read_all(g), error,
                          [](const error& e) { return std::string(e.what()) == "source broke"; });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(base64)

BOOST_AUTO_TEST_CASE(rfc_4648_vectors) {
    BOOST_TEST(base64_encode("") == "");
    BOOST_TEST(base64_encode("f") == "Zg==");
    BOOST_TEST(base64_encode("fo") == "Zm8=");
    BOOST_TEST(base64_encode("foo") == "Zm9v");
    BOOST_TEST(base64_encode("foob") == "Zm9vYg==");
    BOOST_TEST(base64_encode("fooba") == "Zm9vYmE=");
    BOOST_TEST(base64_encode("foobar") == "Zm9vYmFy");
    BOOST_TEST(base64_encode("\xff\xfe\xfd") == "//79");
}

BOOST_AUTO_TEST_CASE(streaming_equals_encoding_whole_for_any_read_sizes) {
    for (const std::size_t n : {0u, 1u, 2u, 3u, 49151u, 49152u, 49153u, 200'000u}) {
        const auto data = sample(n, static_cast<unsigned>(n) + 1);
        for (const std::size_t step : {1u, 2u, 1000u, 1u << 20}) {
            base64_stream b(chunked_source(data, step));
            BOOST_TEST_CONTEXT("size " << n << " step " << step) { BOOST_TEST((read_all(b) == base64_encode(data))); }
        }
    }
}

BOOST_AUTO_TEST_CASE(base64_of_gzip_decodes_back) {
    const auto data = sample(300'000, 11);
    base64_stream b(gzip_stream(chunked_source(data, 4096), {.level = 6, .jobs = 2}));
    const auto text = read_all(b);
    BOOST_TEST(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
               std::string::npos);
    BOOST_TEST((text == base64_encode(gzip(data, {.level = 6, .jobs = 1}))));
}

BOOST_AUTO_TEST_CASE(any_byte_source_erases_the_type) {
    any_byte_source s = base64_stream(memory_source("foobar"));
    BOOST_TEST(read_all(s) == "Zm9vYmFy");
    any_byte_source empty;
    BOOST_TEST(read_all(empty).empty());
}

BOOST_AUTO_TEST_SUITE_END()
