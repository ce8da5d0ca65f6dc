// The Runtime API server's pure parts, as specifications: streaming base64
// decoding, the check of uploaded contexts against hostile tars, API keys,
// the per-key rate limit (a fake clock), the build queue with expiry and
// cancellation (a fake clock), and the client's pure helpers (service URLs,
// registry prefixes, the multipart body).
#define BOOST_TEST_MODULE serve
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "rtb/context/base64_decoder.hpp"
#include "rtb/context/base64_stream.hpp"
#include "rtb/context/gzip_stream.hpp"
#include "rtb/serve/api_keys.hpp"
#include "rtb/serve/build_queue.hpp"
#include "rtb/serve/context_check.hpp"
#include "rtb/serve/rate_limiter.hpp"
#include "rtb/transport/remote_api.hpp"
#include "support/checks.hpp"
#include "support/mini_tar.hpp"

using namespace rtb;
using namespace rtb::serve;
using namespace rtb::test;
using namespace std::chrono_literals;

namespace {

template <class F>
std::string error_text(F&& f, errc expected = errc::invalid_argument) {
    try {
        f();
    } catch (const error& e) {
        BOOST_TEST((e.value() == expected), e.what());
        return e.what();
    }
    BOOST_FAIL("no rtb::error was thrown");
    return {};
}

// ---- tar and gzip makers for hostile inputs

std::string tar_end() { return std::string(1024, '\0'); }
std::string dockerfile() { return tar_entry("Dockerfile", '0', "FROM scratch\n"); }

std::string gzip(std::string bytes) {
    gzip_stream<memory_source> z(memory_source(std::move(bytes)), {.level = 9, .jobs = 1});
    return read_all(z);
}

struct check_result {
    std::string clean;
    context_summary summary;
};
check_result check(std::string input, context_limits limits = {}) {
    memory_source in(std::move(input));
    check_result r;
    r.summary = check_context(in, [&](std::string_view b) { r.clean.append(b); }, limits);
    return r;
}
std::string rejection(std::string input, context_limits limits = {}) {
    return error_text([&] { check(std::move(input), limits); });
}

}  // namespace

// ---- base64_decoder -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(base64_round_trips_in_chunks_split_anywhere) {
    std::string data;
    for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7 % 256);
    for (std::size_t len : {0, 1, 2, 3, 4, 5, 999, 1000}) {
        const std::string input = data.substr(0, len);
        const std::string text = base64_encode(input);
        for (std::size_t step : {1, 2, 3, 5, 64, 4096}) {
            base64_decoder d;
            std::string out;
            for (std::size_t i = 0; i < text.size(); i += step) d.feed(std::string_view(text).substr(i, step), out);
            d.finish(out);
            BOOST_TEST(out == input, "length " << len << " step " << step);
        }
    }
}

BOOST_AUTO_TEST_CASE(base64_skips_line_breaks_and_accepts_an_unpadded_tail) {
    base64_decoder d;
    std::string out;
    d.feed("aGVs\r\nbG8", out);
    d.finish(out);
    BOOST_TEST(out == "hello");
}

BOOST_AUTO_TEST_CASE(base64_refuses_what_is_not_base64_naming_the_offset) {
    auto bad = [](std::string_view text) {
        return error_text([&] {
            base64_decoder d("uploaded context");
            std::string out;
            d.feed(text, out);
            d.finish(out);
        });
    };
    auto e = bad("aGVs*G8=");
    BOOST_TEST(contains(e, "uploaded context: not valid base64 at offset 4"), e);
    BOOST_TEST(contains(bad("aGVsbG8=aGVs"), "data after the padding"));
    BOOST_TEST(contains(bad("a==="), "padding"));
    BOOST_TEST(contains(bad("aGVsb"), "middle of a byte"));
    BOOST_TEST(contains(bad("aG=="  "=="), "padding"));
    BOOST_TEST(contains(bad("aGVsbG8"  "="  "x"), "after the padding"));
    BOOST_TEST(contains(bad("aGVsbA="), "incomplete padding"));
}

// ---- check_context ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_plain_context_passes_and_comes_out_clean) {
    const auto r = check(gzip(dockerfile() + tar_entry("./app/", '5') + tar_entry("./app/run.sh", '0', "echo hi\n") +
                              tar_entry("app/link", '2', {}, "run.sh") + tar_entry("app/hard", '1', {}, "app/run.sh") +
                              tar_end()));
    BOOST_TEST(r.summary.entries == 5u);
    BOOST_TEST(r.summary.content_bytes == 13u + 8u);
    // The clean tar reads back with the same entries, names cleaned.
    const auto again = check(r.clean);
    BOOST_TEST(again.summary.entries == 5u);
    BOOST_TEST(contains(r.clean, "app/run.sh"));
    BOOST_TEST(!contains(r.clean, "./app"));
}

BOOST_AUTO_TEST_CASE(a_plain_uncompressed_tar_is_accepted_too) {
    BOOST_TEST(check(dockerfile() + tar_end()).summary.entries == 1u);
}

BOOST_AUTO_TEST_CASE(an_absolute_path_is_refused) {
    const auto e = rejection(dockerfile() + tar_entry("/etc/passwd", '0', "x") + tar_end());
    BOOST_TEST(contains(e, "uploaded context: entry 2 '/etc/passwd' is an absolute path"), e);
}

BOOST_AUTO_TEST_CASE(dot_dot_escaping_the_root_is_refused) {
    const auto e = rejection(gzip(dockerfile() + tar_entry("../etc/passwd", '0', "x") + tar_end()));
    BOOST_TEST(contains(e, "entry 2 '../etc/passwd' escapes the context root"), e);
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("a/../../b", '0', "x") + tar_end()), "escapes the context root"));
}

BOOST_AUTO_TEST_CASE(symlinks_out_of_the_root_are_refused) {
    auto e = rejection(dockerfile() + tar_entry("evil", '2', {}, "/etc/shadow") + tar_end());
    BOOST_TEST(contains(e, "entry 2 'evil' is a symbolic link to '/etc/shadow', outside the context root"), e);
    e = rejection(dockerfile() + tar_entry("a/b/evil", '2', {}, "../../../x") + tar_end());
    BOOST_TEST(contains(e, "outside the context root"), e);
    // Inside the root is fine.
    BOOST_TEST(check(dockerfile() + tar_entry("a/b/ok", '2', {}, "../../Dockerfile") + tar_end()).summary.entries == 2u);
}

BOOST_AUTO_TEST_CASE(hard_links_out_of_the_root_or_to_nothing_are_refused) {
    auto e = rejection(dockerfile() + tar_entry("evil", '1', {}, "/etc/shadow") + tar_end());
    BOOST_TEST(contains(e, "hard link to '/etc/shadow', outside the context root"), e);
    e = rejection(dockerfile() + tar_entry("evil", '1', {}, "../x") + tar_end());
    BOOST_TEST(contains(e, "outside the context root"), e);
    e = rejection(dockerfile() + tar_entry("evil", '1', {}, "later") + tar_entry("later", '0', "x") + tar_end());
    BOOST_TEST(contains(e, "not an earlier file of the context"), e);
}

BOOST_AUTO_TEST_CASE(devices_and_fifos_are_refused) {
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("dev", '3') + tar_end()), "device, FIFO or socket"));
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("fifo", '6') + tar_end()), "device, FIFO or socket"));
}

BOOST_AUTO_TEST_CASE(too_many_entries_is_a_tar_bomb) {
    std::string t = dockerfile();
    for (int i = 0; i < 20; ++i) t += tar_entry(fmt::format("f{}", i), '0', "x");
    const auto e = rejection(gzip(t + tar_end()), {.max_entries = 10});
    BOOST_TEST(contains(e, "more than 10 entries"), e);
}

BOOST_AUTO_TEST_CASE(too_many_bytes_is_refused_and_a_gzip_bomb_stops_at_the_limit) {
    // 64 MiB of zeros compress to ~64 KiB; the check stops at 1 MiB decompressed.
    const std::string zeros(std::size_t{64} << 20, '\0');
    const auto bomb = gzip(dockerfile() + tar_entry("zeros", '0', zeros) + tar_end());
    BOOST_TEST(bomb.size() < (std::size_t{1} << 20));
    const auto e = rejection(bomb, {.max_bytes = std::uint64_t{1} << 20});
    BOOST_TEST(contains(e, "expands to more than 1048576 bytes"), e);
    // A header that declares a huge size with nothing behind it is refused as truncated.
    const auto liar = rejection(dockerfile() + tar_entry("big", '0', "", {}, std::uint64_t{1} << 30));
    BOOST_TEST(contains(liar, "'big'"), liar);
}

BOOST_AUTO_TEST_CASE(garbage_truncated_and_empty_inputs_are_refused) {
    BOOST_TEST(contains(rejection("this is not a tar archive at all, not even close........"), "uploaded context"));
    auto gz = gzip(dockerfile() + tar_entry("a", '0', std::string(10000, 'a')) + tar_end());
    BOOST_TEST(contains(rejection(gz.substr(0, gz.size() / 2)), "uploaded context"));
    auto corrupt = gz;
    corrupt[20] ^= 0x55;
    corrupt[21] ^= 0x55;
    BOOST_TEST(contains(rejection(corrupt), "uploaded context"));
    BOOST_TEST(contains(rejection(""), "uploaded context"));
    BOOST_TEST(contains(rejection(tar_end()), "no Dockerfile"));
}

BOOST_AUTO_TEST_CASE(a_failing_destination_is_the_error_and_a_refused_context_writes_no_trailer) {
    // The sink's own error comes back (not a libarchive one), having crossed
    // no C frame.
    memory_source in(dockerfile() + tar_end());
    const auto e = error_text([&] {
        check_context(in, [](std::string_view) { throw rtb::error(rtb::errc::io_error, "disk full at /srv/ctx"); });
    }, rtb::errc::io_error);
    BOOST_TEST(e == "disk full at /srv/ctx");
    // A refused context: what reached the sink before the refusal stays all
    // there is (the writer is freed while the error unwinds, and its state
    // with it; the fuzzer found the state freed first).
    std::string written;
    memory_source bad(dockerfile() + tar_entry("dev", '3', "") + tar_end());
    BOOST_CHECK_THROW(check_context(bad, [&](std::string_view b) { written.append(b); }), rtb::error);
    // The Dockerfile's header and contents ("FROM scratch\n"); no padding or
    // end-of-archive blocks, so the partial tar never reads as a complete one.
    BOOST_TEST(written.size() == 512u + 13u);
    BOOST_TEST(written.starts_with("Dockerfile"));
}

BOOST_AUTO_TEST_CASE(context_paths_and_links_are_judged_lexically) {
    BOOST_TEST(context_relative_path("./a//b/").value() == "a/b");
    BOOST_TEST(context_relative_path(".").value() == "");
    BOOST_TEST(!context_relative_path("/a"));
    BOOST_TEST(!context_relative_path("a/../b"));
    BOOST_TEST(link_stays_inside("a/link", "b"));
    BOOST_TEST(link_stays_inside("a/link", "../b"));
    BOOST_TEST(!link_stays_inside("a/link", "../../b"));
    BOOST_TEST(!link_stays_inside("link", "/b"));
    BOOST_TEST(!link_stays_inside("link", ""));
}

// ---- api_keys -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(keys_are_read_one_per_line_and_matched) {
    const auto k = api_keys::parse("# keys\n\n  first-key-0123456789  \r\nsecond-key-0123456789\n");
    BOOST_TEST(k.size() == 2u);
    BOOST_TEST(k.match("first-key-0123456789").value() == 0u);
    BOOST_TEST(k.match("second-key-0123456789").value() == 1u);
    BOOST_TEST(!k.match("first-key-012345678"));
    BOOST_TEST(!k.match(""));
    BOOST_TEST(!k.match(std::string(100000, 'x')));
    BOOST_TEST(k.describe(1) == "key 2 (line 4)");
}

BOOST_AUTO_TEST_CASE(bad_key_files_are_refused_without_showing_the_key) {
    auto e = error_text([] { api_keys::parse("short\n"); });
    BOOST_TEST(contains(e, "line 1"), e);
    BOOST_TEST(!contains(e, "short"), e);
    e = error_text([] { api_keys::parse("has a space in it 0123456789\n"); });
    BOOST_TEST(!contains(e, "space in it"), e);
    BOOST_TEST(contains(error_text([] { api_keys::parse("# nothing\n"); }), "holds no key"));
}

// ---- rate_limiter -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_rate_limit_allows_a_burst_then_the_rate_per_key) {
    rate_limiter limit({.per_second = 2, .burst = 3});
    const auto t0 = rate_limiter::clock::time_point{} + 1000s;
    for (int i = 0; i < 3; ++i) BOOST_TEST(!limit.take(0, t0));
    const auto wait = limit.take(0, t0);
    BOOST_TEST_REQUIRE(wait.has_value());
    BOOST_TEST(wait->count() == 500);
    BOOST_TEST(!limit.take(1, t0), "another key has its own bucket");
    BOOST_TEST(!limit.take(0, t0 + 500ms), "a token came back after 1/rate");
    BOOST_TEST(limit.take(0, t0 + 500ms).has_value());
    for (int i = 0; i < 3; ++i) BOOST_TEST(!limit.take(0, t0 + 100s), "refilled up to the burst");
    BOOST_TEST(limit.take(0, t0 + 100s).has_value(), "never beyond the burst");
}

// ---- build_queue --------------------------------------------------------------------

namespace {
struct fake_job {
    std::shared_ptr<int> alive = std::make_shared<int>(1);
};
struct fake_clock {
    std::shared_ptr<std::chrono::steady_clock::time_point> now =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::time_point{} + 1000s);
    void advance(std::chrono::milliseconds d) const { *now += d; }
};
build_queue<fake_job>::options queue_options(const fake_clock& c) {
    build_queue<fake_job>::options o;
    o.max_queued = 3;
    o.max_wait = 10s;
    o.keep_finished = 60s;
    o.now = [c] { return *c.now; };
    return o;
}
}  // namespace

BOOST_AUTO_TEST_CASE(builds_move_from_queued_to_working_to_a_final_state) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    fake_job job;
    std::weak_ptr<int> alive = job.alive;
    const auto id = q.submit(std::move(job));
    BOOST_TEST(id.starts_with("b-1-"));
    BOOST_TEST((q.status(id)->state == remote_build_state::queued));
    auto w = q.next({});
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST(w->id == id);
    BOOST_TEST((q.status(id)->state == remote_build_state::working));
    w.reset();
    q.finish(id, remote_build_state::success, "img:1");
    const auto s = q.status(id);
    BOOST_TEST((s->state == remote_build_state::success));
    BOOST_TEST(s->image == "img:1");
    BOOST_TEST(alive.expired(), "the job (its files) is dropped once finished");
}

BOOST_AUTO_TEST_CASE(a_full_queue_refuses_new_builds) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    for (int i = 0; i < 3; ++i) q.submit({});
    const auto e = error_text([&] { q.submit({}); }, errc::server_error);
    BOOST_TEST(contains(e, "queue is full"), e);
}

BOOST_AUTO_TEST_CASE(a_build_waiting_too_long_expires_and_never_runs) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto id = q.submit({});
    clock.advance(11s);
    const auto s = q.status(id);
    BOOST_TEST((s->state == remote_build_state::expired));
    BOOST_TEST(contains(s->error, "never ran"));
    q.shutdown();
    BOOST_TEST(!q.next({}).has_value());
}

BOOST_AUTO_TEST_CASE(finished_records_are_dropped_after_keep_finished) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto id = q.submit({});
    q.next({});
    q.finish(id, remote_build_state::failure, {}, "boom");
    clock.advance(59s);
    BOOST_TEST(q.status(id).has_value());
    clock.advance(2s);
    BOOST_TEST(!q.status(id).has_value());
    BOOST_TEST(!q.status("b-404-00000000").has_value());
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_queued_build_at_once_and_a_running_one_through_its_token) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto running = q.submit({});
    const auto waiting = q.submit({});
    auto w = q.next({});
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST((q.cancel(waiting)->state == remote_build_state::cancelled));
    BOOST_TEST((q.cancel(running)->state == remote_build_state::working));
    BOOST_TEST(w->stop.stop_requested());
    q.finish(running, remote_build_state::internal_error, {}, "stopped");
    BOOST_TEST((q.status(running)->state == remote_build_state::cancelled), "cancelled wins over what the worker saw");
    BOOST_TEST(!q.cancel("b-9-nothing").has_value());
    // The cancelled queued build is never handed out.
    q.shutdown();
    BOOST_TEST(!q.next({}).has_value());
}

BOOST_AUTO_TEST_CASE(shutdown_cancels_waiting_builds_and_stops_running_ones) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto a = q.submit({});
    const auto b = q.submit({});
    auto w = q.next({});
    q.shutdown();
    BOOST_TEST(w->stop.stop_requested());
    BOOST_TEST((q.status(b)->state == remote_build_state::cancelled));
    BOOST_TEST((q.status(a)->state == remote_build_state::working));
    BOOST_TEST(contains(error_text([&] { q.submit({}); }, errc::server_error), "shutting down"));
}

// ---- client helpers -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(service_urls_are_http_host_port) {
    const auto e = parse_service_url("http://127.0.0.1:8000/");
    BOOST_TEST(e.host == "127.0.0.1");
    BOOST_TEST(e.port == 8000);
    BOOST_TEST(!e.tls.enabled);
    BOOST_TEST(parse_service_url("https://build.example").port == 443);
    BOOST_TEST(parse_service_url("https://build.example").tls.enabled);
    BOOST_TEST(parse_service_url("http://[::1]:9").host == "[::1]");
    BOOST_TEST(contains(error_text([] { parse_service_url("tcp://x:1"); }), "expected http://host:port"));
    BOOST_TEST(contains(error_text([] { parse_service_url("http://x:1/api"); }), "a path is not supported"));
    BOOST_TEST(contains(error_text([] { parse_service_url("http://"); }), "no host"));
    BOOST_TEST(contains(error_text([] { parse_service_url("http://x:99999"); }), "port"));
    BOOST_TEST(contains(error_text([] { parse_service_url("http://u@x:1"); }), "invalid Runtime API URL"));
}

BOOST_AUTO_TEST_CASE(the_registry_prefix_renames_images_below_it) {
    BOOST_TEST(apply_registry_prefix("ghcr.io/openhands/runtime:oh_v1_abc", "reg.example/proj") ==
               "reg.example/proj/runtime:oh_v1_abc");
    BOOST_TEST(apply_registry_prefix("reg.example/proj/runtime:t", "reg.example/proj/") == "reg.example/proj/runtime:t");
    BOOST_TEST(apply_registry_prefix("runtime:t", "local/rtb") == "local/rtb/runtime:t");
    BOOST_TEST(apply_registry_prefix("a/b:t", "") == "a/b:t");
    BOOST_TEST(apply_registry_prefix("reg.example/projx/runtime:t", "reg.example/proj") == "reg.example/proj/runtime:t");
}

BOOST_AUTO_TEST_CASE(the_multipart_body_carries_the_fields_and_the_base64_gzip_tar) {
    build_context c;
    c.add_bytes("Dockerfile", "FROM scratch\n");
    c.add_bytes("app/big", std::string(300000, 'z'));
    const std::string head = rtb::detail::form_field("BOUND", "target_image", "img:1") + rtb::detail::form_field("BOUND", "tags", "img:2") +
                             "--BOUND\r\nContent-Disposition: form-data; name=\"context\"; filename=\"context.tar.gz\"\r\n\r\n";
    rtb::detail::multipart_context_body body(head, c.snapshot(), "\r\n--BOUND--\r\n");
    const std::string all = read_all(body);
    BOOST_TEST(all.starts_with(head));
    BOOST_TEST(all.ends_with("\r\n--BOUND--\r\n"));
    const auto b64 = std::string_view(all).substr(head.size(), all.size() - head.size() - 13);
    base64_decoder d;
    std::string gz;
    d.feed(b64, gz);
    d.finish(gz);
    const auto r = check(gz);
    BOOST_TEST(r.summary.entries == 3u);  // Dockerfile, app/, app/big
    BOOST_TEST(r.summary.content_bytes == 300013u);
    BOOST_TEST(contains(error_text([] { rtb::detail::form_field("B", "tags", "a\r\nb"); }), "line break"));
}
