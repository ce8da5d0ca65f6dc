// Parallel deterministic gzip and streaming base64: valid output (one gzip
// member) from every codec, the same bytes whatever the thread count or read
// sizes, the automatic codec's choice, the deflate block walk, errors carried
// through.
#define BOOST_TEST_MODULE gzip_stream
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <libdeflate.h>
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

/// Text of a few short words in a random order: where libdeflate's level 6
/// finds fewer matches than zlib's.
std::string word_salad(std::size_t n, unsigned seed) {
    static const char* const words[] = {"def", "class", "return", "import", "self", "value", "runtime",
                                        "action", "sandbox", "image", "build", "cache", "layer", "async",
                                        "await", "event", "stream", "logger", "config", "observation"};
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < n) {
        s += words[rng() % 20];
        s += rng() % 8 ? ' ' : '\n';
    }
    s.resize(n);
    return s;
}

std::string gzip(const std::string& data, gzip_options o, std::size_t step = 1 << 20) {
    gzip_stream g(chunked_source(data, step), o);
    return read_all(g);
}

constexpr gzip_codec codecs[] = {gzip_codec::automatic, gzip_codec::libdeflate, gzip_codec::zlib};
const char* name(gzip_codec c) {
    return c == gzip_codec::automatic ? "automatic" : c == gzip_codec::libdeflate ? "libdeflate" : "zlib";
}

/// Where zlib's inflate finds the final block's header and the stream's end
/// (bit positions), block by block (Z_BLOCK).
std::pair<std::size_t, std::size_t> final_block_by_zlib(const std::string& raw) {
    z_stream z{};
    BOOST_REQUIRE(inflateInit2(&z, -15) == Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
    z.avail_in = static_cast<uInt>(raw.size());
    std::string out(1 << 16, '\0');
    std::size_t last_header = 0;
    int r = Z_OK;
    while (r != Z_STREAM_END) {
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        r = inflate(&z, Z_BLOCK);
        BOOST_REQUIRE_MESSAGE(r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR, "inflate: " << r);
        // at a block boundary (128) before the last block (64 not yet set): the next header comes
        if ((z.data_type & 128) && !(z.data_type & 64) && r != Z_STREAM_END)
            last_header = (raw.size() - z.avail_in) * 8 - static_cast<std::size_t>(z.data_type & 7);
    }
    const std::size_t end = (raw.size() - z.avail_in) * 8 - static_cast<std::size_t>(z.data_type & 7);
    inflateEnd(&z);
    return {last_header, end};
}

std::string libdeflate_raw(const std::string& in, int level) {
    auto* c = libdeflate_alloc_compressor(level);
    std::string out(libdeflate_deflate_compress_bound(c, in.size()), '\0');
    out.resize(libdeflate_deflate_compress(c, in.data(), in.size(), out.data(), out.size()));
    libdeflate_free_compressor(c);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel_gzip)

BOOST_AUTO_TEST_CASE(every_codec_round_trips_at_block_edges_as_one_member) {
    // gunzip() checks that one member holds everything: a piece left final
    // would end the member early
    const std::size_t b = 128 * 1024;
    for (const auto codec : codecs) {
        for (const std::size_t n : {std::size_t{0}, std::size_t{1}, b - 1, b, b + 1, 5 * b + 17}) {
            const auto data = n % 2 ? word_salad(n, static_cast<unsigned>(n)) : sample(n, static_cast<unsigned>(n));
            BOOST_TEST_CONTEXT(name(codec) << " size " << n) {
                BOOST_TEST((gunzip(gzip(data, {.level = 6, .jobs = 2, .block_size = b, .codec = codec})) == data));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(every_codec_at_every_level_round_trips_with_the_default_block) {
    const auto data = sample(2 * 1024 * 1024 + 3, 9) + word_salad(1024 * 1024, 9);
    for (const auto codec : codecs) {
        for (int level = 0; level <= 9; ++level) {
            BOOST_TEST_CONTEXT(name(codec) << " level " << level) {
                BOOST_TEST((gunzip(gzip(data, {.level = level, .jobs = 2, .codec = codec})) == data));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_same_bytes_whatever_the_thread_count_or_read_size) {
    const auto data = sample(3 * 1024 * 1024 + 5, 7) + word_salad(2 * 1024 * 1024, 7);
    for (const auto codec : codecs) {
        BOOST_TEST_CONTEXT(name(codec)) {
            const auto one = gzip(data, {.level = 6, .jobs = 1, .codec = codec});
            for (const unsigned jobs : {2u, 3u, 8u}) {
                BOOST_TEST_CONTEXT("jobs " << jobs) {
                    BOOST_TEST((gzip(data, {.level = 6, .jobs = jobs, .codec = codec}) == one));
                }
            }
            for (const std::size_t step : {std::size_t{333}, std::size_t{65536} + 1})
                BOOST_TEST((gzip(data, {.level = 6, .jobs = 2, .codec = codec}, step) == one));
            // and the consumer's read size does not matter either
            gzip_stream g(chunked_source(data, 1 << 20), {.level = 6, .jobs = 2, .codec = codec});
            std::string small;
            std::byte buf[3];
            while (const auto n = g.read(buf)) small.append(reinterpret_cast<const char*>(buf), n);
            BOOST_TEST((small == one));
            BOOST_TEST(g.bytes_in() == data.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(automatic_takes_zlib_where_libdeflate_compresses_worse_and_libdeflate_elsewhere) {
    // few words in a random order: libdeflate's level 6 is ~10% larger here
    const auto words = word_salad(3 * 1024 * 1024 - 1, 1);  // every block long enough for a whole sample
    const auto by_zlib = gzip(words, {.codec = gzip_codec::zlib});
    const auto by_libdeflate = gzip(words, {.codec = gzip_codec::libdeflate});
    BOOST_TEST(by_libdeflate.size() > by_zlib.size() * 105 / 100);
    BOOST_TEST((gzip(words, {.codec = gzip_codec::automatic}) == by_zlib));
    // random bytes: as small through libdeflate, which is faster
    std::mt19937 rng(2);
    std::string noise(3 * 1024 * 1024 - 1, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    BOOST_TEST((gzip(noise, {.codec = gzip_codec::automatic}) == gzip(noise, {.codec = gzip_codec::libdeflate})));
    // a mix is chosen block by block, and stays within 1% of zlib
    const auto mix = noise.substr(0, 1024 * 1024) + words.substr(0, 2 * 1024 * 1024);
    const auto mixed = gzip(mix, {.codec = gzip_codec::automatic});
    BOOST_TEST(mixed != gzip(mix, {.codec = gzip_codec::zlib}));
    BOOST_TEST(mixed != gzip(mix, {.codec = gzip_codec::libdeflate}));
    BOOST_TEST(mixed.size() * 100 <= gzip(mix, {.codec = gzip_codec::zlib}).size() * 101);
    BOOST_TEST((gunzip(mixed) == mix));
}

BOOST_AUTO_TEST_CASE(the_final_block_walk_agrees_with_zlib_at_every_libdeflate_level) {
    const std::string inputs[] = {"", "a", sample(200'000, 4), word_salad(300'000, 4), std::string(500'000, 'z'),
                                  sample(70'000, 5) + std::string(70'000, '\0')};
    for (const auto& in : inputs) {
        for (int level = 0; level <= 12; ++level) {
            const auto raw = libdeflate_raw(in, level);
            BOOST_TEST_CONTEXT("size " << in.size() << " level " << level) {
                const auto walked = detail::find_final_block(
                    {reinterpret_cast<const unsigned char*>(raw.data()), raw.size()});
                BOOST_REQUIRE(walked.has_value());
                const auto [header, end] = final_block_by_zlib(raw);
                BOOST_TEST(walked->header_bit == header);
                BOOST_TEST((walked->end_bit + 7) / 8 * 8 == end);  // zlib skips the last byte's padding at the end
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_final_block_walk_refuses_what_is_not_one_whole_stream) {
    const auto raw = libdeflate_raw(word_salad(20'000, 6), 6);
    auto walk = [](std::string_view s) {
        return detail::find_final_block({reinterpret_cast<const unsigned char*>(s.data()), s.size()});
    };
    for (std::size_t n = 0; n < raw.size(); ++n)
        BOOST_TEST_CONTEXT("prefix " << n) { BOOST_TEST(!walk(std::string_view(raw).substr(0, n)).has_value()); }
    BOOST_TEST(!walk(raw + '\0').has_value());       // something after the end
    BOOST_TEST(!walk(std::string("\x07")).has_value());  // block type 3
    std::mt19937 rng(8);  // garbage is refused or walked, never read out of bounds
    for (int i = 0; i < 2000; ++i) {
        std::string junk(rng() % 64, '\0');
        for (auto& c : junk) c = static_cast<char>(rng());
        (void)walk(junk);
    }
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
    // blocks of a run stay tiny, with zlib's dictionary or libdeflate's
    // blocks compressed alone
    const std::string zeros(8 * 1024 * 1024, '\0');
    for (const auto codec : codecs) {
        const auto gz = gzip(zeros, {.level = 6, .jobs = 2, .codec = codec});
        BOOST_TEST_CONTEXT(name(codec)) {
            BOOST_TEST(gz.size() < 20'000u);
            BOOST_TEST((gunzip(gz) == zeros));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_source_error_reaches_the_reader_and_the_stream_still_goes_away) {
    const auto data = sample(4'000'000, 5);
    gzip_stream g(chunked_source(data, 50'000, 2'900'000), {.level = 6, .jobs = 2});
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
