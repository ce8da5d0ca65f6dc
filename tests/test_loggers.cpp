#define BOOST_TEST_MODULE loggers
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <simdjson.h>

#include "rtb/policy/loggers.hpp"
#include "rtb/stream/engine_stream.hpp"
#include "support/stream_support.hpp"
#include "support/terminal.hpp"

using namespace rtb;
using rtb::test::fixture;
using rtb::test::recording_sink;

static_assert(Logger<null_logger> && Logger<rolling_logger> && Logger<stderr_logger> && Logger<json_logger>);
static_assert(Logger<console_logger> && Logger<tee_logger<json_logger, rolling_logger, null_logger>>);
static_assert(Logger<redacting_logger<null_logger>>);
static_assert(!SecretMaskingLogger<null_logger>);

namespace {

template <class L>
void replay(const std::string& stream, L& logger) {
    engine_stream_decoder d(logger);
    rtb::test::feed_in_chunks(stream, 1000, [&](std::string_view p) { d.feed(p); });
    d.finish();
}

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < s.size()) {
        auto nl = s.find('\n', at);
        if (nl == std::string::npos) nl = s.size();
        out.push_back(s.substr(at, nl - at));
        at = nl + 1;
    }
    return out;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// A FILE* whose content can be read at any time (open_memstream).
class memory_file {
public:
    memory_file() : f_(::open_memstream(&buf_, &len_)) {}
    memory_file(const memory_file&) = delete;
    memory_file& operator=(const memory_file&) = delete;
    ~memory_file() {
        std::fclose(f_);
        std::free(buf_);
    }
    std::FILE* get() const noexcept { return f_; }
    std::string content() {
        std::fflush(f_);
        return {buf_, len_};
    }

private:
    char* buf_ = nullptr;
    std::size_t len_ = 0;
    std::FILE* f_;
};

// Build output with secrets in every place an engine could put them.
const std::string secret = "tok-9f8e7d6c5b4a";
std::string leaky_stream() {
    return "{\"stream\":\"Step 1/2 : RUN curl -H 'X-Token: " + secret + "' https://bob:hunter2@example.com/x\"}\n"
           "{\"stream\":\"\\n\"}\n"
           "{\"stream\":\"using " + secret + " now\\n\"}\n"
           "{\"status\":\"Downloading " + secret + "\",\"id\":\"" + secret + "\"}\n"
           "{\"errorDetail\":{\"message\":\"failed with " + secret + ": exit status 4\"},\"error\":\"x\"}\n";
}

}  // namespace

// ---- rolling_logger ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(rolling_logger_keeps_the_last_10_lines_by_default) {
    rolling_logger r;
    BOOST_TEST(r.max_lines() == 10u);
    recording_sink all;
    const auto stream = fixture("build_stream.ndjson");
    replay(stream, r);
    decode_engine_stream(stream, all);
    std::vector<std::string> expected;
    for (const auto& e : all.events) {
        if (const auto* l = std::get_if<events::log_line>(&e)) expected.push_back(l->text);
        if (const auto* s = std::get_if<events::step>(&e)) expected.push_back(step_text(*s));
    }
    expected.erase(expected.begin(), expected.end() - 10);
    BOOST_TEST(r.lines() == expected, boost::test_tools::per_element());
    BOOST_TEST(!r.failed());
}

BOOST_AUTO_TEST_CASE(rolling_logger_reports_a_failed_build) {
    rolling_logger r;
    replay(fixture("build_fail_stream.ndjson"), r);
    BOOST_TEST(r.failed());
    const auto report = r.failure_report();
    BOOST_TEST(report.exit_code == std::optional<int>(3));
    BOOST_TEST(report.failing_step == "[2/2] RUN echo about to fail && exit 3");
    BOOST_TEST(report.log_tail == (std::vector<std::string>{"[1/2] FROM local/busybox:1", " ---> e4b7c910a850",
                                                            "[2/2] RUN echo about to fail && exit 3",
                                                            " ---> Running in 268ec4d933dd", "about to fail"}),
               boost::test_tools::per_element());
    const auto e = r.build_error();
    BOOST_TEST((e.value() == errc::build_failed));
    BOOST_TEST(std::string(e.what()) ==
               "build failed at [2/2] RUN echo about to fail && exit 3 (exit code 3): The command '/bin/sh -c echo about "
               "to fail && exit 3' returned a non-zero code: 3");
    BOOST_REQUIRE(e.build().has_value());
    BOOST_TEST(e.build()->log_tail.size() == 5u);
    BOOST_TEST(!e.retryable());
}

BOOST_AUTO_TEST_CASE(rolling_logger_takes_the_last_step_when_the_engine_names_none) {
    rolling_logger r(3);
    r.on_event(events::step{1, 2, "FROM x", "", 0});
    r.on_event(events::step{2, 2, "RUN make", "", 0});
    r.on_event(events::log_line{"error: it broke", 0});
    r.on_event(events::failure{std::nullopt, "boom", ""});
    const auto report = r.failure_report();
    BOOST_TEST(report.failing_step == "[2/2] RUN make");
    BOOST_TEST(!report.exit_code.has_value());
    BOOST_TEST(report.log_tail == (std::vector<std::string>{"[1/2] FROM x", "[2/2] RUN make", "error: it broke"}));
    BOOST_TEST(std::string(r.build_error().what()) == "build failed at [2/2] RUN make: boom");
}

BOOST_AUTO_TEST_CASE(rolling_logger_keeps_warnings_not_progress_or_info) {
    rolling_logger r(4);
    r.log(log_level::info, "plan: scratch");
    r.log(log_level::debug, "details");
    r.on_event(events::progress{"abc", "Downloading", 1, 2});
    r.log(log_level::warning, "cache dir unusable");
    r.log(log_level::error, "engine gone");
    BOOST_TEST(r.lines() == (std::vector<std::string>{"warning: cache dir unusable", "error: engine gone"}));
    r.clear();
    BOOST_TEST(r.lines().empty());
}

BOOST_AUTO_TEST_CASE(rolling_logger_with_room_for_one_or_no_line) {
    rolling_logger one(1), none(0);
    for (auto* r : {&one, &none}) {
        r->on_event(events::log_line{"a", 0});
        r->on_event(events::log_line{"b", 0});
    }
    BOOST_TEST(one.lines() == std::vector<std::string>{"b"});
    BOOST_TEST(none.lines().empty());
}

// ---- json_logger --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(json_logger_writes_one_valid_object_per_event_in_a_pipe) {
    rtb::test::pipe_capture pipe;
    recording_sink events;
    {
        json_logger j({.out = pipe.out(), .min_level = log_level::info, .flush_each_line = true});
        j.log(log_level::info, "pushing");
        j.log(log_level::debug, "hidden");
        const auto push = fixture("push_stream.ndjson");
        replay(push, j);
        decode_engine_stream(push, events);
        j.on_event(events::log_line{"bad utf-8 \xff\xfe and \x01 control", 3});
    }
    const auto lines = split_lines(pipe.output());
    BOOST_REQUIRE_EQUAL(lines.size(), events.events.size() + 2);
    simdjson::dom::parser parser;
    for (const auto& line : lines) {
        simdjson::dom::element doc;
        BOOST_TEST(!parser.parse(line).get(doc), line);
    }
    BOOST_TEST(lines.front() == R"({"event":"message","level":"info","message":"pushing"})");
    BOOST_TEST(lines[lines.size() - 2] ==
               R"({"event":"pushed","tag":"fixture","digest":"sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913","size":1158})");
    BOOST_TEST(lines.back() == R"({"event":"log","text":"bad utf-8 \ufffd\ufffd and \u0001 control","vertex":3})");
    BOOST_TEST(lines[2] == R"({"event":"progress","id":"f817f5f891db","status":"Preparing","current":0,"total":0})");
}

BOOST_AUTO_TEST_CASE(json_logger_renders_every_event_kind) {
    memory_file f;
    json_logger j({.out = f.get()});
    j.on_event(events::step{3, 7, "RUN make", "builder", 9});
    j.on_event(events::step_done{9, false, 0.5});
    j.on_event(events::step_done{4, true, std::nullopt});
    j.on_event(events::image_built{"sha256:abc"});
    j.on_event(events::failure{3, "exit code: 3", "[3/7] RUN make"});
    j.on_event(events::failure{std::nullopt, "boom", ""});
    BOOST_TEST(split_lines(f.content()) ==
               (std::vector<std::string>{
                   R"({"event":"step","index":3,"total":7,"instruction":"RUN make","stage":"builder","vertex":9})",
                   R"({"event":"step_done","vertex":9,"cached":false,"seconds":0.5})",
                   R"({"event":"step_done","vertex":4,"cached":true,"seconds":null})",
                   R"({"event":"image","id":"sha256:abc"})",
                   R"({"event":"failure","exit_code":3,"message":"exit code: 3","step":"[3/7] RUN make"})",
                   R"({"event":"failure","exit_code":null,"message":"boom","step":""})"}),
               boost::test_tools::per_element());
}

// ---- stderr_logger: plain --------------------------------------------------------

BOOST_AUTO_TEST_CASE(stderr_logger_in_a_pipe_writes_plain_lines) {
    rtb::test::pipe_capture pipe;
    {
        stderr_logger l({.out = pipe.out()});
        BOOST_TEST(!l.terminal());
        l.log(log_level::info, "pulling 127.0.0.1:5000/runtime:fixture");
        replay(fixture("pull_stream.ndjson"), l);
        l.log(log_level::warning, "slow registry");
        l.log(log_level::debug, "not shown");
    }
    const auto out = pipe.output();
    BOOST_TEST(out.find('\x1b') == std::string::npos);
    BOOST_TEST(split_lines(out) ==
               (std::vector<std::string>{
                   "rtb: pulling 127.0.0.1:5000/runtime:fixture", "fixture: Pulling from runtime",
                   "e2e6de9f3946: Already exists", "6f4926d64fd8: Pulling fs layer", "1eb077dad20a: Pulling fs layer",
                   "64f0d12044aa: Pulling fs layer", "6f4926d64fd8: Downloading", "1eb077dad20a: Downloading",
                   "64f0d12044aa: Downloading", "64f0d12044aa: Verifying Checksum", "64f0d12044aa: Download complete",
                   "1eb077dad20a: Verifying Checksum", "1eb077dad20a: Download complete",
                   "6f4926d64fd8: Download complete", "6f4926d64fd8: Extracting", "6f4926d64fd8: Pull complete",
                   "1eb077dad20a: Extracting", "1eb077dad20a: Pull complete", "64f0d12044aa: Extracting",
                   "64f0d12044aa: Pull complete",
                   "Digest: sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913",
                   "Status: Downloaded newer image for 127.0.0.1:5000/runtime:fixture", "rtb: warning: slow registry"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stderr_logger_in_a_pipe_shows_a_failed_build) {
    rtb::test::pipe_capture pipe;
    {
        stderr_logger l({.out = pipe.out()});
        replay(fixture("build_fail_stream.ndjson"), l);
    }
    BOOST_TEST(split_lines(pipe.output()) ==
               (std::vector<std::string>{"=> [1/2] FROM local/busybox:1", " ---> e4b7c910a850",
                                         "=> [2/2] RUN echo about to fail && exit 3", " ---> Running in 268ec4d933dd",
                                         "about to fail",
                                         "=> failed at [2/2] RUN echo about to fail && exit 3 (exit code 3): The command "
                                         "'/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stderr_logger_keeps_each_event_on_one_line) {
    rtb::test::pipe_capture pipe;
    {
        stderr_logger l({.out = pipe.out()});
        l.on_event(events::log_line{"two\nlines \x1b[31mred\x1b[0m", 0});
    }
    BOOST_TEST(pipe.output() == "two\\x0alines \\x1b[31mred\\x1b[0m\n");
}

// ---- stderr_logger: terminal ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(stderr_logger_on_a_real_pty_draws_progress_and_leaves_final_rows) {
    rtb::test::pseudo_terminal pty(100, 30);
    {
        stderr_logger l({.out = pty.out()});
        BOOST_TEST(l.terminal());  // detected with isatty
        replay(fixture("pull_stream.ndjson"), l);
    }
    const auto& out = pty.output();
    BOOST_TEST(contains(out, "\x1b["));  // drawn in place
    const auto lines = rtb::test::screen(out);
    BOOST_TEST(lines == (std::vector<std::string>{
                            "fixture: Pulling from runtime", "e2e6de9f3946: Already exists", "6f4926d64fd8: Pull complete",
                            "1eb077dad20a: Pull complete", "64f0d12044aa: Pull complete",
                            "Digest: sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913",
                            "Status: Downloaded newer image for 127.0.0.1:5000/runtime:fixture"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stderr_logger_on_a_real_pty_shows_a_build_and_its_image) {
    rtb::test::pseudo_terminal pty(120, 40);
    {
        stderr_logger l({.out = pty.out()});
        replay(fixture("build_stream.ndjson"), l);
    }
    const auto lines = rtb::test::screen(pty.output());
    BOOST_REQUIRE(lines.size() > 3000u);
    BOOST_TEST(lines.front() == "=> [1/6] FROM local/busybox:1");
    BOOST_TEST(lines[lines.size() - 3] ==
               "=> image sha256:e4b7c910a850639bd0357914286a3bebbd32305946e14949999db7cebdd6b234");
    BOOST_TEST(lines.back() == "Successfully tagged 127.0.0.1:5000/runtime:fixture");
    // no live row is left behind: each step header appears once
    std::size_t headers = 0;
    for (const auto& line : lines) headers += line.starts_with("=> [");
    BOOST_TEST(headers == 6u);
}

BOOST_AUTO_TEST_CASE(mid_pull_the_live_rows_show_bars_for_each_layer) {
    memory_file f;
    stderr_logger l({.out = f.get(), .mode = stderr_logger::display::terminal, .redraw_interval = std::chrono::milliseconds(0), .width = 100, .height = 30});
    const auto pull = fixture("pull_stream.ndjson");
    const auto cut = pull.find("{\"status\":\"Download complete\",\"progressDetail\":{},\"id\":\"6f4926d64fd8\"}");
    engine_stream_decoder d(l);
    d.feed(pull.substr(0, cut));
    const auto lines = rtb::test::screen(f.content());
    BOOST_TEST(lines == (std::vector<std::string>{
                            "fixture: Pulling from runtime",
                            "e2e6de9f3946: Already exists",
                            "6f4926d64fd8: Downloading       [========================================>        ] 16.46MB/20.01MB",
                            "1eb077dad20a: Download complete",
                            "64f0d12044aa: Download complete"}),
               boost::test_tools::per_element());
    d.feed(pull.substr(cut));
    d.finish();
    l.finish();
    const auto done = rtb::test::screen(f.content());
    BOOST_TEST(done.size() == 7u);
    BOOST_TEST(done[2] == "6f4926d64fd8: Pull complete");
}

BOOST_AUTO_TEST_CASE(the_current_step_line_counts_output_and_is_redrawn_in_place) {
    memory_file f;
    stderr_logger l({.out = f.get(), .mode = stderr_logger::display::terminal, .redraw_interval = std::chrono::milliseconds(0), .width = 60, .height = 30});
    l.on_event(events::step{3, 6, "RUN i=0; while [ $i -lt 3000 ]; do echo compiling; done", "", 0});
    l.on_event(events::log_line{"compiling 1", 0});
    l.on_event(events::log_line{"compiling 2", 0});
    const auto lines = rtb::test::screen(f.content());
    BOOST_TEST(lines == (std::vector<std::string>{"=> [3/6] RUN i=0; while [ $i -lt 3000 ]; do echo compiling; done",
                                                  "compiling 1", "compiling 2",
                                                  "=> [3/6] RUN i=0; while [ $i -lt 3000 ]; do echo\u2026 (2 lines)"}),
               boost::test_tools::per_element());
    BOOST_TEST(detail::columns(lines.back()) == 59u);  // never wider than the terminal: no wrapping
}

BOOST_AUTO_TEST_CASE(too_many_layers_for_the_screen_are_summarised) {
    detail::progress_view v;
    for (int i = 0; i < 10; ++i) v.update(events::progress{"layer" + std::to_string(i) + "aaaaaa", "Waiting", 0, 0});
    std::string out;
    BOOST_TEST(v.render(out, 80, 5) == 5u);
    BOOST_TEST(contains(out, "... and 6 more layers"));
}

BOOST_AUTO_TEST_CASE(progress_rows_render_bars_and_sizes) {
    detail::progress_view v;
    BOOST_TEST(v.update(events::progress{"abcdef012345", "Downloading", 5'000'000, 10'000'000}));
    BOOST_TEST(!v.update(events::progress{"abcdef012345", "Downloading", 6'000'000, 10'000'000}));  // counters only
    BOOST_TEST(v.update(events::progress{"0123456789ab", "Waiting", 0, 0}));
    std::string out;
    v.render(out, 81, 10);
    BOOST_TEST(out ==
               "abcdef012345: Downloading       [======================>              ] 6MB/10MB\n"
               "0123456789ab: Waiting\n");
    BOOST_TEST(detail::human_size(512) == "512B");
    BOOST_TEST(detail::human_size(1'982'298) == "1.982MB");
    BOOST_TEST(detail::human_size(20'000'000) == "20MB");
}

// ---- compositions -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(tee_logger_feeds_every_logger) {
    rtb::test::pipe_capture pipe;
    {
        console_logger c(stderr_logger({.out = pipe.out()}), rolling_logger(2));
        replay(fixture("build_fail_stream.ndjson"), c);
        BOOST_TEST(c.get<rolling_logger>().failed());
        BOOST_TEST(c.get<1>().lines() == (std::vector<std::string>{" ---> Running in 268ec4d933dd", "about to fail"}));
    }
    BOOST_TEST(contains(pipe.output(), "=> failed at [2/2]"));
}

BOOST_AUTO_TEST_CASE(redacting_logger_masks_for_loggers_that_cannot) {
    struct keeping_logger {
        std::vector<build_event> events;
        std::vector<std::string> messages;
        void log(log_level, std::string_view m) { messages.emplace_back(m); }
        void on_event(const build_event& e) { events.push_back(e); }
    };
    redacting_logger<keeping_logger> r;
    r.add_secret(secret);
    r.log(log_level::info, "key " + secret);
    r.on_event(events::failure{2, "bad " + secret, "[1/1] RUN echo " + secret});
    r.on_event(events::log_line{"harmless", 0});
    BOOST_TEST(r.inner().messages == std::vector<std::string>{"key ***"});
    BOOST_TEST((std::get<events::failure>(r.inner().events[0]) == events::failure{2, "bad ***", "[1/1] RUN echo ***"}));
    BOOST_TEST((std::get<events::log_line>(r.inner().events[1]) == events::log_line{"harmless", 0}));
}

// ---- secrets --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(secrets_never_reach_any_log) {
    rtb::test::pipe_capture plain, json;
    rtb::test::pseudo_terminal pty(100, 30);
    std::string report, error_text;
    {
        tee_logger<stderr_logger, stderr_logger, json_logger, rolling_logger> all(
            stderr_logger({.out = plain.out()}), stderr_logger({.out = pty.out()}), json_logger({.out = json.out()}),
            rolling_logger());
        all.add_secret(secret);
        all.log(log_level::warning, "using key " + secret);
        replay(leaky_stream(), all);
        const auto& r = all.get<rolling_logger>();
        for (const auto& l : r.lines()) report += l + "\n";
        report += r.failure_report().failing_step;
        error_text = r.build_error().what();
        BOOST_TEST(r.build_error().build()->exit_code == std::optional<int>(4));
    }
    for (const std::string* out : std::initializer_list<const std::string*>{&plain.output(), &json.output(), &pty.output(), &report, &error_text}) {
        BOOST_TEST(!contains(*out, secret), *out);
        BOOST_TEST(!contains(*out, "hunter2"), *out);
        BOOST_TEST(contains(*out, "***"), *out);
    }
}
