#define BOOST_TEST_MODULE buildkit_plain
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <string>
#include <vector>

#include "rtb/stream/buildkit_plain.hpp"
#include "support/stream_support.hpp"

using namespace rtb;
using rtb::test::checking_sink;
using rtb::test::fixture;
using rtb::test::recording_sink;

namespace {

recording_sink parse_all(std::string_view data, std::size_t chunk = 0) {
    recording_sink sink;
    buildkit_plain_parser p(sink);
    if (chunk == 0) chunk = data.size() ? data.size() : 1;
    rtb::test::feed_in_chunks(data, chunk, [&](std::string_view piece) { p.feed(piece); });
    p.finish();
    return sink;
}

void check_all_chunkings(const std::string& data, std::size_t max_chunk, unsigned random_runs) {
    const auto reference = parse_all(data).events;
    BOOST_REQUIRE(!reference.empty());
    std::size_t failures = 0;
    auto run = [&](auto&& feeder, const std::string& what) {
        checking_sink sink{&reference, 0, {}};
        buildkit_plain_parser p(sink);
        auto feed = [&](std::string_view piece) { p.feed(piece); };
        feeder(feed);
        p.finish();
        if (const auto v = sink.verdict(); !v.empty()) {
            BOOST_ERROR(what << ": " << v);
            ++failures;
        }
    };
    for (std::size_t chunk = 1; chunk <= max_chunk && failures < 5; ++chunk)
        run([&](auto& feed) { rtb::test::feed_in_chunks(data, chunk, rtb::test::isolated(feed)); },
            "chunk size " + std::to_string(chunk));
    for (unsigned seed = 0; seed < random_runs && failures < 5; ++seed)
        run([&](auto& feed) { rtb::test::feed_randomly(data, seed, std::size_t{1} << (seed % 17), rtb::test::isolated(feed)); },
            "random chunking, seed " + std::to_string(seed));
    BOOST_TEST(failures == 0u);
}

const std::string hex64 = "1b1d3d5f0b6e4b4c8f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778";

}  // namespace

// ---- the recorded logs ----------------------------------------------------

BOOST_AUTO_TEST_CASE(successful_plain_log_gives_steps_output_done_and_the_image) {
    const auto s = parse_all(fixture("buildkit_plain.log"));
    const auto steps = s.all<events::step>();
    BOOST_REQUIRE_EQUAL(steps.size(), 10u);
    BOOST_TEST((steps[0] == events::step{0, 0, "[internal] load build definition from Dockerfile", "", 1}));
    BOOST_TEST((steps[3] == events::step{1, 5, "FROM docker.io/local/busybox:1", "", 4}));
    BOOST_TEST((steps[5] == events::step{2, 5, "COPY blob1 /blob1", "", 6}));
    BOOST_TEST(steps[6].instruction.starts_with("RUN i=0; while"));
    BOOST_TEST((steps[9] == events::step{0, 0, "exporting to image", "", 10}));
    std::vector<events::log_line> compiled;
    for (const auto& l : s.all<events::log_line>())
        if (l.text.starts_with("compiling module")) compiled.push_back(l);
    BOOST_REQUIRE_EQUAL(compiled.size(), 3000u);
    for (int i = 0; i < 3000; ++i) {
        BOOST_TEST(compiled[static_cast<std::size_t>(i)].vertex == 7);
        BOOST_TEST(compiled[static_cast<std::size_t>(i)].text ==
                   "compiling module " + std::to_string(i) + ": ok [" + std::to_string(i * 7 % 100) + "%]");
    }
    const auto images = s.all<events::image_built>();
    BOOST_REQUIRE_EQUAL(images.size(), 1u);
    BOOST_TEST(images[0].id == "sha256:025d472d8a05a385655412d07192c6ff9701a3988310c9810def6c6d6b02d6fe");
    const auto done = s.all<events::step_done>();
    BOOST_TEST(done.size() == 10u);
    BOOST_TEST((done[4] == events::step_done{5, false, 0.3}));
    BOOST_TEST(s.count<events::failure>() == 0u);
    // vertex digests ("#1 sha256:...") are not output
    for (const auto& l : s.lines()) BOOST_TEST(!l.starts_with("sha256:"));
}

BOOST_AUTO_TEST_CASE(failing_plain_log_gives_the_failing_step_and_exit_code) {
    const auto s = parse_all(fixture("buildkit_plain_fail.log"));
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].exit_code == std::optional<int>(3));
    BOOST_TEST(f[0].step == "[2/2] RUN echo about to fail && exit 3");
    BOOST_TEST(f[0].message == "executor failed running [/bin/sh -c echo about to fail && exit 3]: exit code: 3");
    BOOST_TEST((s.all<events::step_done>()[3] == events::step_done{4, true, std::nullopt}));
    BOOST_TEST((s.all<events::log_line>()[2] == events::log_line{"about to fail", 5}));
    BOOST_TEST(s.count<events::image_built>() == 0u);
}

BOOST_AUTO_TEST_CASE(small_log_parses_alike_under_every_chunking_up_to_its_size) {
    const auto data = fixture("buildkit_plain_fail.log");
    check_all_chunkings(data, data.size(), 200);
}

BOOST_AUTO_TEST_CASE(big_log_parses_alike_under_chunkings_1_to_4096_and_random_ones) {
    check_all_chunkings(fixture("buildkit_plain.log"), 4096, 300);
}

// ---- the error summary -------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_closing_summary_alone_gives_the_failure_newer_buildkit_wording) {
    // buildx >= 0.10 prints log lines in the box and a Dockerfile excerpt; the
    // vertex's own ERROR line is left out here to check the summary is enough
    const std::string log =
        "#5 [2/2] RUN echo about to fail && exit 3\n"
        "#5 0.053 about to fail\n"
        "------\n"
        " > [2/2] RUN echo about to fail && exit 3:\n"
        "0.053 about to fail\n"
        "------\n"
        "Dockerfile:2\n"
        "--------------------\n"
        "   1 |     FROM busybox\n"
        "   2 | >>> RUN echo about to fail && exit 3\n"
        "--------------------\n"
        "ERROR: failed to solve: process \"/bin/sh -c echo about to fail && exit 3\" did not complete successfully: "
        "exit code: 3\n";
    const auto s = parse_all(log);
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].exit_code == std::optional<int>(3));
    BOOST_TEST(f[0].step == "[2/2] RUN echo about to fail && exit 3");
    BOOST_TEST(f[0].message.starts_with("failed to solve: process"));
    // the box's copy of the output is not repeated; the Dockerfile excerpt is kept
    BOOST_TEST(s.lines() == (std::vector<std::string>{"about to fail", "Dockerfile:2", "--------------------",
                                                      "   1 |     FROM busybox", "   2 | >>> RUN echo about to fail && exit 3",
                                                      "--------------------",
                                                      "ERROR: failed to solve: process \"/bin/sh -c echo about to fail && "
                                                      "exit 3\" did not complete successfully: exit code: 3"}),
               boost::test_tools::per_element());
    check_all_chunkings(log, log.size(), 50);
}

BOOST_AUTO_TEST_CASE(only_the_first_failure_is_reported) {
    const auto s = parse_all(
        "#5 [a 1/1] RUN false\n#6 [b 1/1] RUN false\n#5 ERROR: process did not complete successfully: exit code: 1\n"
        "#6 CANCELED\n#6 ERROR: context canceled\n------\n > [a 1/1] RUN false:\n------\n"
        "ERROR: failed to solve: exit code: 1\n");
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].step == "[a 1/1] RUN false");
    BOOST_TEST(f[0].exit_code == std::optional<int>(1));
    BOOST_TEST((s.all<events::log_line>()[0] == events::log_line{"CANCELED", 6}));
}

BOOST_AUTO_TEST_CASE(an_error_before_any_step_has_no_step_and_no_code) {
    const auto s = parse_all(
        "#1 [internal] load build definition from Dockerfile\n#1 ERROR: open Dockerfile: no such file or directory\n");
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].step == "[internal] load build definition from Dockerfile");
    BOOST_TEST(!f[0].exit_code.has_value());
    BOOST_TEST(f[0].message == "open Dockerfile: no such file or directory");
}

// ---- vertices -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(interleaved_vertices_keep_their_stages_and_repeated_headers_are_dropped) {
    const auto s = parse_all(
        "#6 [builder 2/4] RUN make\n#7 [linux/amd64 stage-1 2/3] RUN apt-get update\n#6 0.101 building\n"
        "#7 0.220 installing\n#6 [builder 2/4] RUN make\n#6 1.3 more\n#6 DONE 0.4s\n#7 CACHED\n");
    const auto steps = s.all<events::step>();
    BOOST_REQUIRE_EQUAL(steps.size(), 2u);
    BOOST_TEST((steps[0] == events::step{2, 4, "RUN make", "builder", 6}));
    BOOST_TEST((steps[1] == events::step{2, 3, "RUN apt-get update", "linux/amd64 stage-1", 7}));
    BOOST_TEST(step_text(steps[1]) == "[linux/amd64 stage-1 2/3] RUN apt-get update");
    const auto lines = s.all<events::log_line>();
    BOOST_TEST(lines == (std::vector<events::log_line>{{"building", 6}, {"installing", 7}, {"more", 6}}),
               boost::test_tools::per_element());
    BOOST_TEST((s.all<events::step_done>() ==
                std::vector<events::step_done>{{6, false, 0.4}, {7, true, std::nullopt}}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(layer_downloads_inside_buildkit_become_progress) {
    const std::string log = "#4 [1/2] FROM docker.io/library/python:3.12\n"
                            "#4 resolve docker.io/library/python:3.12 0.0s done\n"
                            "#4 sha256:" + hex64 + " 0B / 27.15MB 0.2s\n"
                            "#4 sha256:" + hex64 + " 2.10MB / 27.15MB 0.4s\n"
                            "#4 sha256:" + hex64 + " 27.15MB / 27.15MB 1.1s done\n"
                            "#4 extracting sha256:" + hex64 + "\n"
                            "#4 extracting sha256:" + hex64 + " 0.5s done\n"
                            "#4 DONE 2.0s\n";
    const auto s = parse_all(log);
    const auto p = s.all<events::progress>();
    BOOST_TEST(p == (std::vector<events::progress>{{"1b1d3d5f0b6e", "Downloading", 0, 27150000},
                                                   {"1b1d3d5f0b6e", "Downloading", 2100000, 27150000},
                                                   {"1b1d3d5f0b6e", "Download complete", 27150000, 27150000},
                                                   {"1b1d3d5f0b6e", "Extracting", 0, 0},
                                                   {"1b1d3d5f0b6e", "Pull complete", 0, 0}}),
               boost::test_tools::per_element());
    BOOST_TEST(s.lines() == std::vector<std::string>{"resolve docker.io/library/python:3.12 0.0s done"});
}

BOOST_AUTO_TEST_CASE(timestamps_and_status_lines) {
    const auto s = parse_all("#7 [1/1] RUN x\n#7 12.345 text after a long time\n#7 0.062\n#7 0.1a not a timestamp\n"
                             "#7 1. no fraction\n#7 transferring context: 2B done\n");
    BOOST_TEST(s.all<events::log_line>() == (std::vector<events::log_line>{{"text after a long time", 7},
                                                                          {"", 7},
                                                                          {"0.1a not a timestamp", 7},
                                                                          {"1. no fraction", 7},
                                                                          {"transferring context: 2B done", 7}}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_log_joined_mid_build_still_makes_sense) {
    // the first line seen for #9 is output, not its name
    const auto s = parse_all("#9 0.5 halfway\n#9 DONE 1.0s\n");
    BOOST_TEST(s.count<events::step>() == 0u);
    BOOST_TEST((s.all<events::log_line>() == std::vector<events::log_line>{{"halfway", 9}}));
    BOOST_TEST(s.count<events::step_done>() == 1u);
}

BOOST_AUTO_TEST_CASE(lines_that_only_look_like_vertices_are_plain_output) {
    const auto s = parse_all("#!/bin/sh\n#\n#12345678901 too many digits\n#3x not a vertex\n");
    BOOST_TEST(s.count<events::step>() == 0u);
    BOOST_TEST(s.lines() ==
               (std::vector<std::string>{"#!/bin/sh", "#", "#12345678901 too many digits", "#3x not a vertex"}));
}

// ---- other CLI wordings -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(classic_builder_text_output_is_understood) {
    const auto s = parse_all("Sending build context to Docker daemon  2.048kB\nStep 1/2 : FROM busybox\n ---> abc\n"
                             "Step 2/2 : RUN false\n ---> Running in def\n"
                             "The command '/bin/sh -c false' returned a non-zero code: 1\n");
    BOOST_TEST(s.count<events::step>() == 2u);
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].exit_code == std::optional<int>(1));
    BOOST_TEST(f[0].step == "[2/2] RUN false");
}

BOOST_AUTO_TEST_CASE(podman_cli_output_is_understood) {
    const auto s = parse_all("STEP 1/2: FROM busybox\nSTEP 2/2: RUN false\n"
                             "Error: building at STEP \"RUN false\": while running runtime: exit status 1\n");
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].exit_code == std::optional<int>(1));
    BOOST_TEST(f[0].step == "[2/2] RUN false");
    BOOST_TEST(f[0].message == "building at STEP \"RUN false\": while running runtime: exit status 1");
}

// ---- framing -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(crlf_carriage_returns_and_a_missing_final_newline) {
    const auto s = parse_all("#1 [1/1] RUN x\r\n#1 0.1 10%\r50%\r100%\r\n#1 0.2 last");
    BOOST_TEST(s.all<events::log_line>() == (std::vector<events::log_line>{{"100%", 1}, {"last", 1}}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(arbitrary_bytes_in_output_pass_through) {
    const std::string weird = "bin\xff\xfe\x01 \xe2\x9c\x93 ok";
    const auto s = parse_all("#1 [1/1] RUN x\n#1 0.1 " + weird + "\n");
    BOOST_TEST(s.lines() == std::vector<std::string>{weird});
}

BOOST_AUTO_TEST_CASE(a_line_over_the_limit_is_an_error_with_bounded_memory) {
    recording_sink sink;
    buildkit_plain_parser p(sink, {.max_line = 1000, .source = "plain"});
    p.feed("#1 [1/1] RUN x\n");
    const std::string piece(300, 'x');
    try {
        for (int i = 0; i < 100; ++i) {
            p.feed(piece);
            BOOST_REQUIRE(p.buffered() <= 1000u);
        }
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST((e.value() == errc::parse_error));
        BOOST_TEST(std::string(e.what()) == "plain: line 2 at byte 15 is longer than the 1000 byte limit");
    }
    BOOST_CHECK_THROW(p.feed("\n"), error);  // sticky
    buildkit_plain_parser p2(sink, {.max_line = 1000, .source = "plain"});
    BOOST_CHECK_THROW(p2.feed(std::string(5000, 'y')), error);
    BOOST_TEST(p2.buffer_capacity() < 1000u);
}

BOOST_AUTO_TEST_CASE(a_100_mb_line_fails_cleanly_with_the_default_limit) {
    recording_sink sink;
    buildkit_plain_parser p(sink);
    const std::string piece(64 * 1024, 'z');
    std::size_t fed = 0;
    try {
        while (fed < (std::size_t{100} << 20)) {
            p.feed(piece);
            fed += piece.size();
        }
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("longer than the 16777216 byte limit") != std::string::npos);
    }
    BOOST_TEST(fed <= (std::size_t{16} << 20));
    BOOST_TEST(p.buffer_capacity() <= (std::size_t{16} << 20));
}

BOOST_AUTO_TEST_CASE(curl_write_callback_and_summary) {
    recording_sink sink;
    buildkit_plain_parser p(sink);
    auto log = fixture("buildkit_plain_fail.log");
    BOOST_TEST(decltype(p)::curl_write(log.data(), 1, log.size(), &p) == log.size());
    p.finish();
    p.rethrow_if_failed();
    BOOST_TEST(p.summary().failed());
    BOOST_TEST(p.summary().failure->exit_code == std::optional<int>(3));
}
