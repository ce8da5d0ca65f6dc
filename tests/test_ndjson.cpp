#define BOOST_TEST_MODULE ndjson
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <sys/resource.h>

#include <string>
#include <vector>

#include "rtb/stream/ndjson.hpp"
#include "support/stream_support.hpp"

using namespace rtb;
using rtb::test::feed_in_chunks;
using rtb::test::feed_randomly;

namespace {

// Reads {"v": "<string>"} documents; anything else in the object is skipped.
struct collector {
    std::vector<std::string> values;
    simdjson::error_code operator()(simdjson::ondemand::document& doc) {
        simdjson::ondemand::object o;
        if (auto e = doc.get_object().get(o)) return e;
        for (auto f : o) {
            simdjson::ondemand::field field;
            if (auto e = std::move(f).get(field)) return e;
            if (field.key().unsafe_is_equal("v")) {
                std::string_view s;
                if (auto e = field.value().get_string().get(s)) return e;
                values.emplace_back(s);
            }
        }
        return simdjson::SUCCESS;
    }
};

std::vector<std::string> decode(std::string_view data, std::size_t chunk, ndjson_options o = {}) {
    ndjson_reader r(std::move(o));
    collector c;
    feed_in_chunks(data, chunk, [&](std::string_view piece) { r.feed(piece, c); });
    r.finish(c);
    return c.values;
}

std::string message_of(std::string_view data, std::size_t chunk, ndjson_options o = {}) {
    try {
        decode(data, chunk, std::move(o));
    } catch (const error& e) {
        BOOST_TEST((e.value() == errc::parse_error));
        return e.what();
    }
    return "no error";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(every_chunking_of_a_tricky_stream_gives_the_same_documents) {
    // several documents per chunk, CRLF, blank and whitespace-only lines,
    // multi-byte UTF-8 (2, 3 and 4 bytes), escapes, a last line without newline
    const std::string data =
        "{\"v\":\"a\"}\n{\"v\":\"b\"}\r\n\n   \n\r\n{\"x\":[1,{\"y\":2}],\"v\":\"caf\xc3\xa9\"}\n"
        "{\"v\":\"\xe7\xbc\x96\xe8\xaf\x91 \xf0\x9f\x9a\x80\"}\n{\"v\":\"tab\\tquote\\\"\\u00e9\\ud83d\\ude80\"}\n"
        "  {\"v\":\"indented\"}  \n{\"v\":\"last\"}";
    const std::vector<std::string> expected = {"a", "b", "caf\xc3\xa9", "\xe7\xbc\x96\xe8\xaf\x91 \xf0\x9f\x9a\x80",
                                               "tab\tquote\"\xc3\xa9\xf0\x9f\x9a\x80", "indented", "last"};
    for (std::size_t chunk = 1; chunk <= data.size(); ++chunk)
        BOOST_TEST(decode(data, chunk) == expected, "chunk size " << chunk);
    for (unsigned seed = 0; seed < 200; ++seed) {
        ndjson_reader r;
        collector c;
        feed_randomly(data, seed, 40, [&](std::string_view piece) { r.feed(piece, c); });
        r.finish(c);
        BOOST_TEST(c.values == expected, "seed " << seed);
    }
}

BOOST_AUTO_TEST_CASE(empty_chunks_are_harmless) {
    ndjson_reader r;
    collector c;
    for (std::string_view piece : {"", "{\"v\":", "", "\"x\"}", "", "\n", ""}) r.feed(piece, c);
    r.finish(c);
    BOOST_TEST(c.values == std::vector<std::string>{"x"});
}

BOOST_AUTO_TEST_CASE(lines_are_parsed_in_place_and_near_a_chunk_end_from_the_padded_buffer) {
    // one big chunk with many short lines: most lines have padding after them
    // in the chunk, the last ones do not; both paths must agree
    std::string data;
    std::vector<std::string> expected;
    for (int i = 0; i < 1000; ++i) {
        data += "{\"v\":\"" + std::to_string(i) + "\"}\n";
        expected.push_back(std::to_string(i));
    }
    BOOST_TEST(decode(data, data.size()) == expected);
    BOOST_TEST(decode(data, 100) == expected);
}

BOOST_AUTO_TEST_CASE(chunks_copied_to_exact_buffers_decode_alike) {
    // with exactly-sized chunk buffers a read past a chunk's end would be a
    // sanitizer error (and garbage otherwise)
    const std::string data = "{\"v\":\"one\"}\n{\"v\":\"two\"}\n{\"v\":\"three\"}\n";
    for (std::size_t chunk = 1; chunk <= data.size(); ++chunk) {
        ndjson_reader r;
        collector c;
        auto feed = [&](std::string_view piece) { r.feed(piece, c); };
        feed_in_chunks(data, chunk, rtb::test::isolated(feed));
        r.finish(c);
        BOOST_TEST(c.values == (std::vector<std::string>{"one", "two", "three"}), "chunk size " << chunk);
    }
}

BOOST_AUTO_TEST_CASE(malformed_json_names_the_line_and_its_stream_offset) {
    const std::string data = "{\"v\":\"a\"}\n{\"v\":\"b\"}\n{\"v\": nope}\n";
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, data.size()}) {
        const auto m = message_of(data, chunk, {.max_line = 1024, .source = "test stream"});
        BOOST_TEST(contains(m, "test stream: malformed JSON in line 3 at byte 20"), m);
        BOOST_TEST(contains(m, "'{\"v\": nope}'"), m);
    }
}

BOOST_AUTO_TEST_CASE(truncated_json_at_the_end_of_the_stream_is_an_error) {
    const auto m = message_of("{\"v\":\"a\"}\n{\"v\":\"unfinished", 5);
    BOOST_TEST(contains(m, "line 2 at byte 10"), m);
    BOOST_TEST(contains(m, "unfinished"), m);
    const auto m2 = message_of("{\"v\":\"a\"}\n{\"v\":\"b\"", 64);
    BOOST_TEST(contains(m2, "malformed JSON in line 2"), m2);
}

BOOST_AUTO_TEST_CASE(trailing_content_after_a_document_is_an_error) {
    BOOST_TEST(contains(message_of("{\"v\":\"a\"}{\"v\":\"b\"}\n", 3), "unexpected content after the JSON document"));
    BOOST_TEST(contains(message_of("{\"v\":\"a\"} x\n", 3), "malformed JSON in line 1"));
    BOOST_TEST(contains(message_of("{\"v\":\"a\"}}\n", 100), "malformed JSON in line 1"));
}

BOOST_AUTO_TEST_CASE(a_root_that_is_not_an_object_is_an_error_for_this_handler) {
    BOOST_TEST(contains(message_of("[1,2]\n", 2), "malformed JSON in line 1"));
    BOOST_TEST(contains(message_of("\"text\"\n", 2), "malformed JSON in line 1"));
}

BOOST_AUTO_TEST_CASE(binary_garbage_is_an_error_with_an_escaped_excerpt) {
    std::string garbage;
    std::mt19937 rng(42);
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>(rng() & 0xff);
    const auto m = message_of(garbage, 512);
    BOOST_TEST(contains(m, "malformed JSON in line 1 at byte 0"), m);
    BOOST_TEST(m.find('\0') == std::string::npos);
    BOOST_TEST(contains(m, "\\x"), m);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_an_error) {
    BOOST_TEST(contains(message_of("{\"v\":\"\xff\xfe\"}\n", 3), "UTF-8"));
    BOOST_TEST(contains(message_of("{\"v\":\"\xc3\"}\n", 1), "UTF-8"));      // a sequence cut short
    BOOST_TEST(contains(message_of("{\"v\":\"\xed\xa0\x80\"}\n", 2), "UTF-8"));  // a UTF-16 surrogate
}

BOOST_AUTO_TEST_CASE(control_characters_inside_strings_are_an_error) {
    BOOST_TEST(contains(message_of(std::string("{\"v\":\"a\x01") + "b\"}\n", 4), "malformed JSON"));
}

BOOST_AUTO_TEST_CASE(a_line_over_the_limit_is_an_error_whatever_the_chunking) {
    const ndjson_options o{.max_line = 64, .source = "s"};
    const std::string ok_line = "{\"v\":\"" + std::string(64 - 9, 'x') + "\"}\n";  // exactly 64 bytes
    BOOST_TEST(decode(ok_line, 5, o).size() == 1u);
    const std::string long_line = "{\"v\":\"a\"}\n{\"v\":\"" + std::string(100, 'x') + "\"}\n";
    for (std::size_t chunk : {std::size_t{1}, std::size_t{13}, long_line.size()}) {
        const auto m = message_of(long_line, chunk, o);
        BOOST_TEST(contains(m, "s: line 2 at byte 10 is longer than the 64 byte limit"), m);
    }
}

BOOST_AUTO_TEST_CASE(a_100_mb_line_fails_cleanly_with_bounded_memory) {
    // fed the way a socket delivers it: 64 KiB at a time, never ending its line
    ndjson_reader r;  // default limit: 16 MiB
    collector c;
    const std::string piece(64 * 1024, 'x');
    rusage before{};
    getrusage(RUSAGE_SELF, &before);
    std::size_t fed = 0;
    std::string message;
    try {
        r.feed("{\"v\":\"", c);
        while (fed < (std::size_t{100} << 20)) {
            r.feed(piece, c);
            fed += piece.size();
            BOOST_REQUIRE(r.buffer_capacity() <= (std::size_t{16} << 20) + simdjson::SIMDJSON_PADDING);
        }
    } catch (const error& e) {
        message = e.what();
    }
    BOOST_TEST(contains(message, "line 1 at byte 0 is longer than the 16777216 byte limit"), message);
    BOOST_TEST(fed <= (std::size_t{16} << 20));  // it stopped as soon as the limit was passed
    rusage after{};
    getrusage(RUSAGE_SELF, &after);
    BOOST_TEST(after.ru_maxrss - before.ru_maxrss < 40 * 1024, "peak RSS grew by " << (after.ru_maxrss - before.ru_maxrss) << " KiB");

    // and as one 100 MB chunk: refused before anything is copied
    ndjson_reader r2;
    const std::string huge = "{\"v\":\"" + std::string(std::size_t{100} << 20, 'y');
    BOOST_CHECK_THROW(r2.feed(huge, c), error);
    BOOST_TEST(r2.buffer_capacity() < 1024u);
}

BOOST_AUTO_TEST_CASE(errors_are_sticky) {
    ndjson_reader r;
    collector c;
    BOOST_CHECK_THROW(r.feed("{oops}\n", c), error);
    try {
        r.feed("{\"v\":\"fine\"}\n", c);
        BOOST_FAIL("a failed reader accepted more input");
    } catch (const error& e) {
        BOOST_TEST(contains(e.what(), "malformed JSON in line 1"));
    }
    BOOST_CHECK_THROW(r.finish(c), error);
    BOOST_TEST(c.values.empty());
}

BOOST_AUTO_TEST_CASE(offsets_and_line_counts_follow_the_input) {
    ndjson_reader r;
    collector c;
    r.feed("{\"v\":\"a\"}\n\n{\"v\":", c);
    BOOST_TEST(r.offset() == 16u);
    BOOST_TEST(r.lines() == 2u);
    BOOST_TEST(r.buffered() == 5u);
    r.feed("\"b\"}\n", c);
    BOOST_TEST(r.lines() == 3u);
    BOOST_TEST(r.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(handler_exceptions_propagate_and_stop_the_reader) {
    ndjson_reader r;
    auto throwing = [](simdjson::ondemand::document&) -> simdjson::error_code { throw std::runtime_error("sink broke"); };
    BOOST_CHECK_THROW(r.feed("{}\n", throwing), std::runtime_error);
    collector c;
    BOOST_CHECK_THROW(r.feed("{}\n", c), std::runtime_error);
}

// ---- whole-chunk (iterate_many) parsing ---------------------------------------------
// Chunks holding >= 512 bytes of whole lines are parsed in one pass; these
// check that pass gives what line-by-line parsing gives.

namespace {
std::string many_lines(int n, int from = 0) {
    std::string s;
    for (int i = from; i < from + n; ++i) s += "{\"v\":\"" + std::to_string(i) + "\",\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}\n";
    return s;
}
std::vector<std::string> numbers(int n, int from = 0) {
    std::vector<std::string> v;
    for (int i = from; i < from + n; ++i) v.push_back(std::to_string(i));
    return v;
}
// The message for `data` fed whole (batched) must equal the one for 1-byte
// chunks (line by line), and name `line`.
void same_error_both_ways(const std::string& data, std::string_view expected_part) {
    const auto batched = message_of(data, data.size());
    const auto by_line = message_of(data, 1);
    BOOST_TEST(batched == by_line);
    BOOST_TEST(contains(batched, expected_part), batched);
}
}  // namespace

BOOST_AUTO_TEST_CASE(big_tricky_streams_decode_alike_under_every_chunking) {
    std::string data, one =
        "{\"v\":\"a\"}\n{\"v\":\"b\"}\r\n\n   \n\r\n{\"x\":[1,{\"y\":2}],\"v\":\"caf\xc3\xa9\"}\n"
        "{\"v\":\"\xe7\xbc\x96\xe8\xaf\x91 \xf0\x9f\x9a\x80\"}\n  {\"v\":\"indented\"}  \n";
    std::vector<std::string> expected;
    for (int i = 0; i < 12; ++i) {
        data += one;
        for (const char* v : {"a", "b", "caf\xc3\xa9", "\xe7\xbc\x96\xe8\xaf\x91 \xf0\x9f\x9a\x80", "indented"})
            expected.emplace_back(v);
    }
    BOOST_REQUIRE(data.size() > 1024u);
    for (std::size_t chunk = 1; chunk <= data.size(); ++chunk) {
        ndjson_reader r;
        collector c;
        auto feed = [&](std::string_view piece) { r.feed(piece, c); };
        feed_in_chunks(data, chunk, rtb::test::isolated(feed));
        r.finish(c);
        BOOST_TEST(c.values == expected, "chunk size " << chunk);
        BOOST_TEST(r.lines() == 12u * 8u, "chunk size " << chunk);
    }
}

BOOST_AUTO_TEST_CASE(errors_inside_a_batch_match_line_by_line_parsing) {
    const auto before = many_lines(40);
    const auto after = many_lines(40, 100);
    // a malformed line in the middle: no events from it, same line and offset
    same_error_both_ways(before + "{\"v\": nope}\n" + after, "line 41 at byte " + std::to_string(before.size()));
    // a truncated line followed by more lines
    same_error_both_ways(before + "{\"v\":\"trunc\n" + after, "line 41 at byte ");
    // not an object
    same_error_both_ways(before + "[1,2]\n" + after, "line 41 at byte ");
    // invalid UTF-8 further down the batch
    same_error_both_ways(before + "{\"v\":\"\xff\"}\n" + after, "UTF-8");
    // a value the handler cannot read
    same_error_both_ways(before + "{\"v\":5}\n" + after, "line 41 at byte ");
    // trailing content after an object on its line
    same_error_both_ways(before + "{\"v\":\"a\"} x\n" + after, "line 41 at byte ");
    // two objects on one line: the first is delivered, then the error, both ways
    const std::string two = before + "{\"v\":\"first\"}{\"v\":\"second\"}\n" + after;
    same_error_both_ways(two, "line 41 at byte " + std::to_string(before.size()) + ": unexpected content after the JSON document");
    for (std::size_t chunk : {std::size_t{1}, two.size()}) {
        ndjson_reader r;
        collector c;
        BOOST_CHECK_THROW(r.feed(two, c), error);
        (void)chunk;
        BOOST_TEST(c.values.size() == 41u);
        BOOST_TEST(c.values.back() == "first");
    }
}

BOOST_AUTO_TEST_CASE(a_line_over_the_limit_inside_a_batch) {
    const ndjson_options o{.max_line = 100, .source = "s"};
    const auto before = many_lines(30);
    const std::string data = before + "{\"v\":\"" + std::string(200, 'x') + "\"}\n" + many_lines(30);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{700}, data.size()}) {
        const auto m = message_of(data, chunk, o);
        BOOST_TEST(contains(m, "s: line 31 at byte " + std::to_string(before.size()) + " is longer than the 100 byte limit"), m);
    }
}

BOOST_AUTO_TEST_CASE(a_document_spread_over_lines_is_an_error) {
    // (NDJSON holds one document per line; pretty-printed JSON is refused)
    const auto before = many_lines(20);
    for (const char* spread : {"{\"v\":\n\"x\"}\n", "{\"v\":{}\n,\"w\":1}\n"}) {
        const std::string data = before + spread + many_lines(20);
        for (std::size_t chunk : {std::size_t{1}, data.size()}) {
            const auto m = message_of(data, chunk);
            BOOST_TEST(contains(m, "malformed JSON in line 21 at byte " + std::to_string(before.size())), m);
        }
    }
}

BOOST_AUTO_TEST_CASE(batches_and_line_counts_cover_blank_lines_and_crlf) {
    std::string data;
    for (int i = 0; i < 50; ++i) data += "\r\n  \n{\"v\":\"" + std::to_string(i) + "\"}\r\n";
    ndjson_reader r;
    collector c;
    r.feed(data, c);
    r.finish(c);
    BOOST_TEST(c.values == numbers(50));
    BOOST_TEST(r.lines() == 150u);
}

BOOST_AUTO_TEST_CASE(a_document_spread_over_lines_fails_the_same_way_in_a_batch_and_line_by_line) {
    // Its first line ends in '}', so a batch could take it for a whole
    // document; the batch's brace matching says it runs on, so the line
    // parser decides, and the error is the same however the stream arrives
    // (this used to be the one documented difference; found by fuzzing).
    const auto before = many_lines(20);
    const std::string data = before + "{\"w\":{}\n,\"v\":\"spread\"}\n" + many_lines(20);
    const auto by_line = message_of(data, 1);
    const auto batched = message_of(data, data.size());
    BOOST_TEST(contains(by_line, "malformed JSON in line 21 at byte " + std::to_string(before.size())), by_line);
    BOOST_TEST(batched == by_line);
}
