#define BOOST_TEST_MODULE engine_stream
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "rtb/stream/engine_stream.hpp"
#include "support/stream_support.hpp"

// Counts heap allocations, to check the hot path does none. (GCC 12 flags the
// malloc/free pair behind a replaced operator new once inlined; it is the
// standard way to replace them.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
std::atomic<std::size_t> allocations{0};
}
void* operator new(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace rtb;
using rtb::test::checking_sink;
using rtb::test::fixture;
using rtb::test::recording_sink;

namespace {

recording_sink decode_all(std::string_view data, std::size_t chunk = 0) {
    recording_sink sink;
    engine_stream_decoder d(sink);
    if (chunk == 0) chunk = data.size() ? data.size() : 1;
    rtb::test::feed_in_chunks(data, chunk, [&](std::string_view p) { d.feed(p); });
    d.finish();
    return sink;
}

std::string compile_line(int i) { return "compiling module " + std::to_string(i) + ": ok [" + std::to_string(i * 7 % 100) + "%]"; }

std::vector<std::string> instructions(const recording_sink& s) {
    std::vector<std::string> out;
    for (const auto& st : s.all<events::step>()) out.push_back(step_text(st));
    return out;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Decodes `data` under every chunk size in [1, max_chunk] (each chunk in its
// own exactly-sized buffer) and `random_runs` random chunkings, checking
// each run against the whole-buffer decoding.
void check_all_chunkings(const std::string& data, std::size_t max_chunk, unsigned random_runs) {
    const auto reference = decode_all(data).events;
    BOOST_REQUIRE(!reference.empty());
    auto run = [&](auto&& feeder, const std::string& what) {
        checking_sink sink{&reference, 0, {}};
        engine_stream_decoder d(sink);
        auto feed = [&](std::string_view p) { d.feed(p); };
        feeder(feed);
        d.finish();
        const auto v = sink.verdict();
        if (!v.empty()) BOOST_ERROR(what << ": " << v);
        return v.empty();
    };
    std::size_t failures = 0;
    for (std::size_t chunk = 1; chunk <= max_chunk && failures < 5; ++chunk) {
        failures += !run([&](auto& feed) { rtb::test::feed_in_chunks(data, chunk, rtb::test::isolated(feed)); },
                         "chunk size " + std::to_string(chunk));
    }
    for (unsigned seed = 0; seed < random_runs && failures < 5; ++seed) {
        const std::size_t max = std::size_t{1} << (seed % 17);  // pieces of up to 1 B .. 64 KiB
        failures += !run([&](auto& feed) { rtb::test::feed_randomly(data, seed, max, rtb::test::isolated(feed)); },
                         "random chunking, seed " + std::to_string(seed));
    }
    BOOST_TEST(failures == 0u);
}

}  // namespace

// ---- the recorded streams -------------------------------------------------

BOOST_AUTO_TEST_CASE(docker_build_stream_gives_steps_output_and_the_image_id) {
    const auto s = decode_all(fixture("build_stream.ndjson"));
    BOOST_TEST(instructions(s) == (std::vector<std::string>{
                                      "[1/6] FROM local/busybox:1", "[2/6] COPY blob1 /blob1",
                                      "[3/6] RUN i=0; while [ $i -lt 3000 ]; do echo \"compiling module $i: ok [$(($i*7 % 100))%]\"; i=$((i+1)); done",
                                      "[4/6] COPY blob2 /blob2", "[5/6] RUN echo done > /done",
                                      "[6/6] LABEL org.example.runtime=1"}),
               boost::test_tools::per_element());
    std::vector<std::string> compiled;
    for (const auto& l : s.lines())
        if (l.starts_with("compiling")) compiled.push_back(l);
    BOOST_REQUIRE_EQUAL(compiled.size(), 3000u);
    for (int i = 0; i < 3000; ++i) BOOST_TEST(compiled[static_cast<std::size_t>(i)] == compile_line(i));
    const auto images = s.all<events::image_built>();
    BOOST_REQUIRE_EQUAL(images.size(), 1u);
    BOOST_TEST(images[0].id == "sha256:e4b7c910a850639bd0357914286a3bebbd32305946e14949999db7cebdd6b234");
    BOOST_TEST(s.count<events::failure>() == 0u);
    BOOST_TEST(s.lines().back() == "Successfully tagged 127.0.0.1:5000/runtime:fixture");
    for (const auto& l : s.lines()) BOOST_TEST(!l.empty());  // "Step ..." and its lone "\n" make one step, no blank line
}

BOOST_AUTO_TEST_CASE(docker_failing_build_gives_exit_code_3_message_and_step) {
    const auto s = decode_all(fixture("build_fail_stream.ndjson"));
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].exit_code == std::optional<int>(3));
    BOOST_TEST(f[0].message == "The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3");
    BOOST_TEST(f[0].step == "[2/2] RUN echo about to fail && exit 3");
    BOOST_TEST(s.lines() == (std::vector<std::string>{" ---> e4b7c910a850", " ---> Running in 268ec4d933dd", "about to fail"}),
               boost::test_tools::per_element());
    BOOST_TEST(s.count<events::image_built>() == 0u);
    BOOST_TEST(std::holds_alternative<events::failure>(s.events.back()));
}

BOOST_AUTO_TEST_CASE(podman_build_stream_gives_the_image_id_once) {
    const auto s = decode_all(fixture("podman_build_stream.ndjson"));
    BOOST_TEST(instructions(s).size() == 6u);
    BOOST_TEST(instructions(s)[5] == "[6/6] LABEL org.example.runtime=1");
    const auto images = s.all<events::image_built>();
    BOOST_REQUIRE_EQUAL(images.size(), 1u);  // the bare id line and aux.ID name the same image
    BOOST_TEST(images[0].id == "sha256:e062daf1f689d4a25436b17d9a6f563085be25736296c737218f3c15dfa15a82");
    std::size_t compiled = 0;
    for (const auto& l : s.lines()) compiled += l.starts_with("compiling module ");
    BOOST_TEST(compiled == 3000u);
    BOOST_TEST(s.count<events::failure>() == 0u);
}

BOOST_AUTO_TEST_CASE(podman_failing_build_gets_its_exit_code_from_the_message) {
    const auto s = decode_all(fixture("podman_build_fail_stream.ndjson"));
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(f[0].exit_code == std::optional<int>(3));  // "... exit status 3": Podman sends no code field
    BOOST_TEST(f[0].message ==
               "building at STEP \"RUN echo about to fail && exit 3\": while running runtime: exit status 3");
    BOOST_TEST(f[0].step == "[2/2] RUN echo about to fail && exit 3");
    BOOST_TEST(s.lines() == std::vector<std::string>{"about to fail"});
}

BOOST_AUTO_TEST_CASE(push_stream_gives_layer_progress_and_the_pushed_digest) {
    const auto s = decode_all(fixture("push_stream.ndjson"));
    const auto pushed = s.all<events::pushed>();
    BOOST_REQUIRE_EQUAL(pushed.size(), 1u);
    BOOST_TEST(pushed[0].tag == "fixture");
    BOOST_TEST(pushed[0].digest == "sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913");
    BOOST_TEST(pushed[0].size == 1158u);
    std::map<std::string, events::progress> last;
    for (const auto& p : s.all<events::progress>()) last[p.id] = p;
    BOOST_TEST(last.size() == 4u);
    for (const auto& [id, p] : last) BOOST_TEST(p.status == "Pushed", id);
    const auto first_push = s.all<events::progress>()[4];
    BOOST_TEST(first_push.id == "4ce683ccd7be");
    BOOST_TEST(first_push.status == "Pushing");
    BOOST_TEST(first_push.current == 35328u);
    BOOST_TEST(first_push.total == 1982298u);
    BOOST_TEST(s.lines().front() == "The push refers to repository [127.0.0.1:5000/runtime]");
    BOOST_TEST(s.count<events::failure>() == 0u);
}

BOOST_AUTO_TEST_CASE(pull_stream_gives_per_layer_progress_to_completion) {
    const auto s = decode_all(fixture("pull_stream.ndjson"));
    std::map<std::string, std::string> last;
    for (const auto& p : s.all<events::progress>()) last[p.id] = p.status;
    BOOST_TEST(last["e2e6de9f3946"] == "Already exists");
    for (const char* id : {"6f4926d64fd8", "1eb077dad20a", "64f0d12044aa"}) BOOST_TEST(last[id] == "Pull complete", id);
    BOOST_TEST(last["fixture"] == "Pulling from runtime");
    BOOST_TEST(s.lines() == (std::vector<std::string>{
                                "Digest: sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913",
                                "Status: Downloaded newer image for 127.0.0.1:5000/runtime:fixture"}),
               boost::test_tools::per_element());
    BOOST_TEST(s.count<events::failure>() == 0u);
}

// ---- every chunking -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(small_fixtures_decode_alike_under_every_chunking_up_to_their_size) {
    for (const char* name : {"build_fail_stream.ndjson", "podman_build_fail_stream.ndjson", "push_stream.ndjson",
                             "pull_stream.ndjson"}) {
        BOOST_TEST_CONTEXT(name) {
            const auto data = fixture(name);
            check_all_chunkings(data, data.size(), 200);
        }
    }
}

BOOST_AUTO_TEST_CASE(big_fixtures_decode_alike_under_chunkings_1_to_4096_and_random_ones) {
    for (const char* name : {"build_stream.ndjson", "podman_build_stream.ndjson"}) {
        BOOST_TEST_CONTEXT(name) { check_all_chunkings(fixture(name), 4096, 300); }
    }
}

BOOST_AUTO_TEST_CASE(utf8_split_anywhere_comes_out_whole) {
    const std::string data =
        "{\"stream\":\"\xe7\xbc\x96\xe8\xaf\x91\xe4\xb8\xad \xf0\x9f\x9a\x80 caf\xc3\xa9\\n\xe2\x9c\x93 ok\\n\"}\n"
        "{\"stream\":\"Step 1/1 : RUN echo \xe2\x82\xac\"}\n{\"stream\":\"\\n\"}\n";
    const auto s = decode_all(data);
    BOOST_TEST(s.lines() == (std::vector<std::string>{"\xe7\xbc\x96\xe8\xaf\x91\xe4\xb8\xad \xf0\x9f\x9a\x80 caf\xc3\xa9",
                                                      "\xe2\x9c\x93 ok"}));
    BOOST_TEST(instructions(s) == std::vector<std::string>{"[1/1] RUN echo \xe2\x82\xac"});
    check_all_chunkings(data, data.size(), 50);
}

// ---- stream text ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(stream_text_carries_partial_lines_across_documents) {
    const auto s = decode_all("{\"stream\":\"par\"}\n{\"stream\":\"tial\\nnext\"}\n{\"stream\":\" line\\nthird\\n\"}\n");
    BOOST_TEST(s.lines() == (std::vector<std::string>{"partial", "next line", "third"}));
}

BOOST_AUTO_TEST_CASE(a_pending_partial_line_is_flushed_by_another_event_and_at_the_end) {
    const auto s = decode_all("{\"stream\":\"Step 1/2 : FROM x\"}\n{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\n"
                              "{\"stream\":\"no newline at the end\"}\n");
    BOOST_REQUIRE_EQUAL(s.events.size(), 3u);
    BOOST_TEST(std::get<events::step>(s.events[0]).instruction == "FROM x");
    BOOST_TEST(std::get<events::progress>(s.events[1]).id == "abc");
    BOOST_TEST(std::get<events::log_line>(s.events[2]).text == "no newline at the end");
}

BOOST_AUTO_TEST_CASE(carriage_returns_keep_what_a_terminal_would_show) {
    const auto s = decode_all("{\"stream\":\"10%\\r50%\\r100%\\nwin\\r\\nlast\\r\\n\"}\n");
    BOOST_TEST(s.lines() == (std::vector<std::string>{"100%", "win", "last"}));
}

BOOST_AUTO_TEST_CASE(step_headers_are_recognised_in_docker_and_podman_wording_only) {
    const auto s = decode_all(
        "{\"stream\":\"Step 10/12 : RUN make\\nSTEP 3/7: COPY . /app\\nSTEP 4: RUN old buildah\\n"
        "Step 1/2: no space\\nStepping 1/2 : x\\nSTEP x: y\\nstep 1/2 : lower\\nStep 1/2 :\\n\"}\n");
    const auto steps = s.all<events::step>();
    BOOST_REQUIRE_EQUAL(steps.size(), 3u);
    BOOST_TEST((steps[0] == events::step{10, 12, "RUN make", "", 0}));
    BOOST_TEST((steps[1] == events::step{3, 7, "COPY . /app", "", 0}));
    BOOST_TEST((steps[2] == events::step{4, 0, "RUN old buildah", "", 0}));
    BOOST_TEST(step_text(steps[2]) == "[4] RUN old buildah");
    BOOST_TEST(s.lines() == (std::vector<std::string>{"Step 1/2: no space", "Stepping 1/2 : x", "STEP x: y",
                                                      "step 1/2 : lower", "Step 1/2 :"}));
}

BOOST_AUTO_TEST_CASE(an_overlong_log_line_is_split_not_buffered_without_bound) {
    recording_sink sink;
    engine_stream_decoder d(sink, {.max_line = 100, .source = "s"});
    for (int i = 0; i < 10; ++i) d.feed("{\"stream\":\"" + std::string(30, 'a') + "\"}\n");
    d.feed("{\"stream\":\"\\n\"}\n");
    d.finish();
    const auto lines = sink.lines();
    BOOST_TEST(lines == (std::vector<std::string>{std::string(100, 'a'), std::string(100, 'a'), std::string(100, 'a')}));
}

// ---- status, aux, errors ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unknown_fields_and_unknown_values_are_ignored) {
    const auto s = decode_all(
        "{\"time\":1700000000,\"stream\":\"a\\n\",\"extra\":{\"nested\":[1,2,{\"k\":null}]},\"from\":\"x\"}\n"
        "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":5,\"total\":10,\"start\":99,\"hidecounts\":true},"
        "\"progress\":\"[=>   ]\",\"id\":\"l1\",\"unknown\":true}\n"
        "{\"id\":\"moby.buildkit.trace\",\"aux\":\"CmsKR3NoYTI1Njo=\"}\n"
        "{\"somethingelse\":{}}\n");
    BOOST_REQUIRE_EQUAL(s.events.size(), 2u);
    BOOST_TEST(std::get<events::log_line>(s.events[0]).text == "a");
    BOOST_TEST((std::get<events::progress>(s.events[1]) == events::progress{"l1", "Downloading", 5, 10}));
}

BOOST_AUTO_TEST_CASE(buildkit_image_id_through_the_engine_api_is_an_image_event) {
    const auto s = decode_all("{\"id\":\"moby.image.id\",\"aux\":{\"ID\":\"sha256:" + std::string(64, 'a') + "\"}}\n");
    BOOST_REQUIRE_EQUAL(s.count<events::image_built>(), 1u);
    BOOST_TEST(s.all<events::image_built>()[0].id == "sha256:" + std::string(64, 'a'));
}

BOOST_AUTO_TEST_CASE(progress_without_detail_or_with_negative_numbers) {
    const auto s = decode_all("{\"status\":\"Waiting\",\"id\":\"l1\"}\n"
                              "{\"status\":\"Extracting\",\"progressDetail\":{\"current\":7,\"total\":-1},\"id\":\"l1\"}\n");
    const auto p = s.all<events::progress>();
    BOOST_REQUIRE_EQUAL(p.size(), 2u);
    BOOST_TEST((p[0] == events::progress{"l1", "Waiting", 0, 0}));
    BOOST_TEST((p[1] == events::progress{"l1", "Extracting", 7, 0}));
}

BOOST_AUTO_TEST_CASE(an_error_without_detail_is_a_failure_without_exit_code) {
    const auto s = decode_all("{\"error\":\"pull access denied for nope, repository does not exist\"}\n");
    const auto f = s.all<events::failure>();
    BOOST_REQUIRE_EQUAL(f.size(), 1u);
    BOOST_TEST(!f[0].exit_code.has_value());
    BOOST_TEST(f[0].message == "pull access denied for nope, repository does not exist");
    BOOST_TEST(f[0].step.empty());
}

BOOST_AUTO_TEST_CASE(error_detail_code_wins_and_messages_give_codes_in_every_wording) {
    BOOST_TEST(decode_all("{\"errorDetail\":{\"code\":7,\"message\":\"exit status 3\"}}\n")
                   .all<events::failure>()[0]
                   .exit_code == std::optional<int>(7));
    const std::pair<const char*, std::optional<int>> cases[] = {
        {"The command '/bin/sh -c make' returned a non-zero code: 127", 127},
        {"building at STEP \\\"RUN x\\\": while running runtime: exit status 2\\n", 2},
        {"process \\\"/bin/sh -c x\\\" did not complete successfully: exit code: 42", 42},
        {"no space left on device", std::nullopt},
        {"exit status x", std::nullopt},
    };
    for (const auto& [message, code] : cases) {
        const auto s = decode_all(std::string("{\"errorDetail\":{\"message\":\"") + message + "\"}}\n");
        BOOST_TEST(s.all<events::failure>()[0].exit_code == code, message);
    }
}

BOOST_AUTO_TEST_CASE(podman_names_the_failing_step_in_its_message_when_no_header_came) {
    const auto s = decode_all("{\"error\":\"building at STEP \\\"RUN make\\\": exit status 2\"}\n");
    BOOST_TEST(s.all<events::failure>()[0].step == "RUN make");
}

BOOST_AUTO_TEST_CASE(events_of_one_document_come_in_a_fixed_order) {
    const auto s = decode_all(
        "{\"stream\":\"line\\n\",\"status\":\"Pushed\",\"id\":\"l\",\"aux\":{\"ID\":\"sha256:1\",\"Tag\":\"t\","
        "\"Digest\":\"sha256:2\",\"Size\":3},\"error\":\"boom\"}\n");
    std::vector<std::string_view> kinds;
    for (const auto& e : s.events) kinds.push_back(event_kind(e));
    BOOST_TEST(kinds == (std::vector<std::string_view>{"log", "progress", "image", "pushed", "failure"}));
}

BOOST_AUTO_TEST_CASE(a_known_field_of_the_wrong_type_is_a_parse_error) {
    for (const char* line : {"{\"stream\":5}\n", "{\"progressDetail\":[1]}\n", "{\"errorDetail\":{\"code\":\"3\"}}\n",
                             "{\"status\":\"x\",\"progressDetail\":{\"current\":\"big\"}}\n", "{\"aux\":{\"ID\":1}}\n"}) {
        try {
            decode_all(line);
            BOOST_ERROR("no error for " << line);
        } catch (const error& e) {
            BOOST_TEST((e.value() == errc::parse_error));
            BOOST_TEST(contains(e.what(), "engine stream: malformed JSON in line 1 at byte 0"), e.what());
        }
    }
}

BOOST_AUTO_TEST_CASE(malformed_lines_report_their_stream_offset) {
    const auto good = fixture("build_fail_stream.ndjson");
    try {
        decode_all(good + "{\"stream\":\"trunc", 3);
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(contains(e.what(), "line 9 at byte " + std::to_string(good.size())), e.what());
    }
}

// ---- transports ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(curl_write_callback_takes_everything_or_stops_the_transfer) {
    recording_sink sink;
    engine_stream_decoder d(sink);
    std::string ok = "{\"stream\":\"hello\\n\"}\n";
    BOOST_TEST(decltype(d)::curl_write(ok.data(), 1, ok.size(), &d) == ok.size());
    d.rethrow_if_failed();
    std::string bad = "{nope}\n";
    BOOST_TEST(decltype(d)::curl_write(bad.data(), 1, bad.size(), &d) == 0u);
    BOOST_CHECK_THROW(d.rethrow_if_failed(), error);
    BOOST_TEST(sink.lines() == std::vector<std::string>{"hello"});
}

BOOST_AUTO_TEST_CASE(a_throwing_sink_stops_the_decoder) {
    struct throwing_sink {
        void on_event(const build_event&) { throw std::runtime_error("disk full"); }
    } sink;
    engine_stream_decoder d(sink);
    BOOST_CHECK_THROW(d.feed("{\"stream\":\"x\\n\"}\n"), std::runtime_error);
    BOOST_CHECK_THROW(d.feed("{\"stream\":\"y\\n\"}\n"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(summary_tells_the_outcome) {
    recording_sink sink;
    const auto ok = decode_engine_stream(fixture("build_stream.ndjson"), sink);
    BOOST_TEST(ok.image_id == "sha256:e4b7c910a850639bd0357914286a3bebbd32305946e14949999db7cebdd6b234");
    BOOST_TEST(!ok.failed());
    BOOST_TEST(ok.last_step == "[6/6] LABEL org.example.runtime=1");
    BOOST_TEST(ok.log_lines > 3000u);
    const auto bad = decode_engine_stream(fixture("build_fail_stream.ndjson"), sink);
    BOOST_TEST(bad.failed());
    BOOST_TEST(bad.failure->exit_code == std::optional<int>(3));
    const auto push = decode_engine_stream(fixture("push_stream.ndjson"), sink);
    BOOST_TEST(push.push->digest == "sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913");
}

BOOST_AUTO_TEST_CASE(no_allocation_per_line_once_warmed_up) {
    struct counting_sink {
        std::size_t n = 0;
        void on_event(const build_event&) noexcept { ++n; }
    } sink;
    engine_stream_decoder d(sink);
    const auto pull = fixture("pull_stream.ndjson");
    std::string output;  // log lines only
    for (int i = 0; i < 200; ++i) output += "{\"stream\":\"" + compile_line(i) + "\\n\"}\n";
    for (int warm = 0; warm < 2; ++warm) {  // grow every buffer once, on both paths
        rtb::test::feed_in_chunks(pull, 4096, [&](std::string_view p) { d.feed(p); });
        rtb::test::feed_in_chunks(output, 4096, [&](std::string_view p) { d.feed(p); });
        rtb::test::feed_in_chunks(output, 100, [&](std::string_view p) { d.feed(p); });
    }
    const std::size_t before = allocations.load();
    const std::size_t events_before = sink.n;
    std::size_t chunks = 0;
    for (int round = 0; round < 20; ++round) {
        rtb::test::feed_in_chunks(pull, 4096, [&](std::string_view p) { d.feed(p), ++chunks; });
        rtb::test::feed_in_chunks(output, 4096, [&](std::string_view p) { d.feed(p), ++chunks; });
    }
    const std::size_t used = allocations.load() - before;
    const std::size_t events = sink.n - events_before;
    BOOST_TEST(events > 4000u);
    // none per line; simdjson (built with threads) allocates one small object per iterate_many pass
    BOOST_TEST(used <= chunks, used << " allocations for " << events << " events in " << chunks << " chunks");
    // and line by line (chunks too small to batch): none at all
    const std::size_t before_small = allocations.load();
    for (int round = 0; round < 5; ++round)
        rtb::test::feed_in_chunks(output, 100, [&](std::string_view p) { d.feed(p); });
    BOOST_TEST(allocations.load() - before_small == 0u);
}
