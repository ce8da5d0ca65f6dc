#define BOOST_TEST_MODULE event_text
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <random>
#include <string>
#include <vector>

#include "rtb/detail/posix.hpp"
#include "rtb/stream/detail/newline_finder.hpp"
#include "rtb/stream/detail/step_header.hpp"
#include "rtb/stream/detail/text_scan.hpp"
#include "rtb/stream/detect.hpp"
#include "rtb/stream/event_text.hpp"
#include "rtb/stream/summary.hpp"
#include "support/print.hpp"

using namespace rtb;

namespace {
std::string text(const build_event& e) {
    std::string s;
    append_event_text(s, e);
    return s;
}
std::string json(const build_event& e) {
    std::string s;
    append_event_json(s, e);
    return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(every_event_kind_has_a_stable_name) {
    BOOST_TEST(event_kind(events::step{}) == "step");
    BOOST_TEST(event_kind(events::log_line{}) == "log");
    BOOST_TEST(event_kind(events::progress{}) == "progress");
    BOOST_TEST(event_kind(events::step_done{}) == "step_done");
    BOOST_TEST(event_kind(events::image_built{}) == "image");
    BOOST_TEST(event_kind(events::pushed{}) == "pushed");
    BOOST_TEST(event_kind(events::failure{}) == "failure");
}

BOOST_AUTO_TEST_CASE(steps_read_the_same_for_every_engine) {
    BOOST_TEST(step_text({3, 7, "RUN make", "", 0}) == "[3/7] RUN make");
    BOOST_TEST(step_text({3, 7, "RUN make", "builder", 9}) == "[builder 3/7] RUN make");
    BOOST_TEST(step_text({3, 0, "RUN make", "", 0}) == "[3] RUN make");
    BOOST_TEST(step_text({0, 0, "[internal] load build context", "", 5}) == "[internal] load build context");
}

BOOST_AUTO_TEST_CASE(human_lines_for_each_kind) {
    BOOST_TEST(text(events::step{2, 6, "COPY a /a", "", 0}) == "step [2/6] COPY a /a");
    BOOST_TEST(text(events::step{2, 5, "COPY a /a", "", 6}) == "step #6 [2/5] COPY a /a");
    BOOST_TEST(text(events::log_line{"hello", 0}) == "log hello");
    BOOST_TEST(text(events::log_line{"hello", 7}) == "log #7 hello");
    BOOST_TEST(text(events::progress{"abc", "Downloading", 1, 2}) == "progress abc Downloading 1/2");
    BOOST_TEST(text(events::progress{"abc", "Pushed", 0, 0}) == "progress abc Pushed");
    BOOST_TEST(text(events::step_done{7, false, 0.1}) == "step_done #7 0.1s");
    BOOST_TEST(text(events::step_done{4, true, std::nullopt}) == "step_done #4 cached");
    BOOST_TEST(text(events::image_built{"sha256:abc"}) == "image sha256:abc");
    BOOST_TEST(text(events::pushed{"t", "sha256:d", 12}) == "pushed t sha256:d 12");
    BOOST_TEST(text(events::failure{3, "boom", "[2/2] RUN x"}) == "failure exit 3 at [2/2] RUN x: boom");
    BOOST_TEST(text(events::failure{std::nullopt, "boom", ""}) == "failure boom");
}

BOOST_AUTO_TEST_CASE(human_lines_stay_on_one_line_whatever_the_text) {
    BOOST_TEST(text(events::log_line{"a\nb\rc\x1b[0m\xff\tz \xe2\x9c\x93", 0}) == "log a\\x0ab\\x0dc\\x1b[0m\\xff\tz \xe2\x9c\x93");
}

BOOST_AUTO_TEST_CASE(json_objects_escape_and_sanitise) {
    BOOST_TEST(json(events::log_line{"q\"b\\n\n\xff", 0}) == R"({"event":"log","text":"q\"b\\n\n\ufffd","vertex":0})");
    BOOST_TEST(json(events::progress{"l", "Downloading", 18446744073709551615u, 0}) ==
               R"({"event":"progress","id":"l","status":"Downloading","current":18446744073709551615,"total":0})");
}

BOOST_AUTO_TEST_CASE(a_text_filter_sees_every_engine_string) {
    std::string s;
    append_event_json(s, events::failure{1, "secret msg", "secret step"}, [](std::string_view v) {
        return v.starts_with("secret") ? std::string_view("***") : v;
    });
    BOOST_TEST(s == R"({"event":"failure","exit_code":1,"message":"***","step":"***"})");
}

BOOST_AUTO_TEST_CASE(format_detection) {
    BOOST_TEST((detect_stream_format("{\"stream\":\"x\"}") == stream_format::engine_json));
    BOOST_TEST((detect_stream_format("\n\r\n  {") == stream_format::engine_json));
    BOOST_TEST((detect_stream_format("\xef\xbb\xbf{") == stream_format::engine_json));
    BOOST_TEST((detect_stream_format("#1 [internal] load") == stream_format::buildkit_plain));
    BOOST_TEST((detect_stream_format("Step 1/2 : FROM x") == stream_format::buildkit_plain));
    BOOST_TEST((detect_stream_format("STEP 1/2: FROM x") == stream_format::buildkit_plain));
    BOOST_TEST((detect_stream_format("Sending build context to Docker daemon") == stream_format::buildkit_plain));
    BOOST_TEST((detect_stream_format("DEPRECATED: The legacy builder") == stream_format::buildkit_plain));
    BOOST_TEST((detect_stream_format("") == stream_format::undecided));
    BOOST_TEST((detect_stream_format("   \n") == stream_format::undecided));
    BOOST_TEST((detect_stream_format("#") == stream_format::undecided));
    BOOST_TEST((detect_stream_format("Ste") == stream_format::undecided));
    BOOST_TEST((detect_stream_format("Step ") == stream_format::undecided));
    BOOST_TEST((detect_stream_format("#!/bin/sh") == stream_format::unknown));
    BOOST_TEST((detect_stream_format("Stepping out") == stream_format::unknown));
    BOOST_TEST((detect_stream_format("\x7f" "ELF\x02\x01") == stream_format::unknown));
    BOOST_TEST((detect_stream_format("[1,2]") == stream_format::unknown));
}

BOOST_AUTO_TEST_CASE(exit_codes_in_every_engine_wording) {
    BOOST_TEST(detail::exit_code_in("The command '/bin/sh -c x' returned a non-zero code: 3") == std::optional<int>(3));
    BOOST_TEST(detail::exit_code_in("while running runtime: exit status 127\n") == std::optional<int>(127));
    BOOST_TEST(detail::exit_code_in("did not complete successfully: exit code: 2") == std::optional<int>(2));
    BOOST_TEST(detail::exit_code_in("exit status 1 ... later exit code: 5") == std::optional<int>(5));  // the last one
    BOOST_TEST(detail::exit_code_in("exit code: 3 and exit code: x") == std::optional<int>(3));
    BOOST_TEST(!detail::exit_code_in("exit status -1").has_value());
    BOOST_TEST(!detail::exit_code_in("exit code: 99999999999").has_value());
    BOOST_TEST(!detail::exit_code_in("").has_value());
}

BOOST_AUTO_TEST_CASE(human_sizes_parse) {
    BOOST_TEST(detail::parse_human_size("27.15MB") == std::optional<std::uint64_t>(27150000u));
    BOOST_TEST(detail::parse_human_size("0B") == std::optional<std::uint64_t>(0u));
    BOOST_TEST(detail::parse_human_size("1.5kB") == std::optional<std::uint64_t>(1500u));
    BOOST_TEST(detail::parse_human_size("2GiB") == std::optional<std::uint64_t>(2147483648u));
    BOOST_TEST(!detail::parse_human_size("12").has_value());
    BOOST_TEST(!detail::parse_human_size("MB").has_value());
    BOOST_TEST(!detail::parse_human_size("1e999MB").has_value());
}

BOOST_AUTO_TEST_CASE(terminal_lines_keep_the_last_rewrite) {
    BOOST_TEST(detail::terminal_line("a\r") == "a");
    BOOST_TEST(detail::terminal_line("10%\r20%\r") == "20%");
    BOOST_TEST(detail::terminal_line("10%\r20%") == "20%");
    BOOST_TEST(detail::terminal_line("plain") == "plain");
}

BOOST_AUTO_TEST_CASE(vertex_names_split_into_stage_counter_and_instruction) {
    const auto h = detail::parse_vertex_name("[stage-1 2/3] RUN x");
    BOOST_TEST(h.stage == "stage-1");
    BOOST_TEST(h.index == 2);
    BOOST_TEST(h.total == 3);
    BOOST_TEST(h.instruction == "RUN x");
    for (const char* unnumbered : {"[internal] load .dockerignore", "exporting to image", "[a/b] x", "[1/2]x", "[1/] x"}) {
        const auto u = detail::parse_vertex_name(unnumbered);
        BOOST_TEST(u.index == 0, unnumbered);
        BOOST_TEST(u.instruction == unnumbered);
    }
}

BOOST_AUTO_TEST_CASE(the_summary_keeps_the_first_failure_and_the_last_image) {
    stream_summary s;
    s.record(events::step{1, 2, "FROM x", "", 0});
    s.record(events::log_line{"a", 0});
    s.record(events::image_built{"sha256:1"});
    s.record(events::image_built{"sha256:2"});
    s.record(events::failure{1, "first", ""});
    s.record(events::failure{2, "second", ""});
    BOOST_TEST(s.event_count == 6u);
    BOOST_TEST(s.log_lines == 1u);
    BOOST_TEST(s.last_step == "[1/2] FROM x");
    BOOST_TEST(s.image_id == "sha256:2");
    BOOST_TEST(s.failure->message == "first");
}

BOOST_AUTO_TEST_CASE(newline_finder_finds_every_newline_in_order_and_reads_nothing_past_the_end) {
    std::mt19937 rng(3);
    for (std::size_t size = 0; size < 300; ++size) {
        std::vector<char> buf(size);  // exactly sized: a read past the end is a sanitizer error
        std::vector<std::size_t> expected;
        for (std::size_t i = 0; i < size; ++i) {
            buf[i] = (rng() % 7 == 0) ? '\n' : static_cast<char>('a' + rng() % 26);
            if (buf[i] == '\n') expected.push_back(i);
        }
        detail::newline_finder f(buf.data(), buf.data() + size);
        std::vector<std::size_t> found;
        while (const char* nl = f.next()) found.push_back(static_cast<std::size_t>(nl - buf.data()));
        BOOST_TEST(found == expected, "size " << size);
    }
}

BOOST_AUTO_TEST_CASE(the_word_at_a_time_scan_stops_where_the_byte_at_a_time_scan_stops) {
    // printable_run() reads 8 bytes at a time: on random text of plain
    // bytes, every byte that must stop it and the bytes around the limits,
    // at every alignment and length, it must stop where a plain loop stops.
    const unsigned char pieces[] = {'a', 'Z', ' ', '~', '"', '\\', 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff,
                                    0x00, '\t', '\n', 0xc3, 0xa9, '!', '}', 0x5b, 0x5d, 0x21, 0x23};
    std::mt19937 rng(7);
    for (int n = 0; n < 20000; ++n) {
        std::string s(rng() % 40, 'x');
        for (auto& c : s) c = static_cast<char>(rng() % 3 ? 'a' + rng() % 26 : pieces[rng() % std::size(pieces)]);
        for (const auto& [not1, not2] : {std::pair<unsigned char, unsigned char>{'"', '\\'}, {0, 0}}) {
            for (std::size_t from = 0; from <= std::min<std::size_t>(s.size(), 9); ++from) {
                std::size_t want = from;
                while (want < s.size()) {
                    const auto c = static_cast<unsigned char>(s[want]);
                    if (c < 0x20 || c >= 0x7f || c == not1 || c == not2) break;
                    ++want;
                }
                BOOST_TEST(rtb::detail::printable_run(s.data() + from, s.data() + s.size(), not1, not2) == want - from,
                           rtb::detail::printable(s) << " from " << from);
            }
        }
    }
}
