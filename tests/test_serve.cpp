// The Runtime API server's pure parts, as specifications: streaming base64
// decoding, the check of uploaded contexts against hostile tars (sparse
// files, chained links), API keys and tenants (the plain and TOML key files,
// the file's permissions, the image name rules), the per-key rate limit (a
// fake clock), the build queue with owners, expiry and cancellation (a fake
// clock), build ids, log escaping, the Dockerfile scan for remote sources,
// RFC 3339 stamps, multipart bodies, query parameters, listen addresses and
// the HTTP limits, and the client's pure helpers (service URLs, registry
// prefixes, the multipart body).
#define BOOST_TEST_MODULE serve
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtb/context/base64_decoder.hpp"
#include "rtb/context/base64_stream.hpp"
#include "rtb/context/gzip_stream.hpp"
#include "rtb/detail/rfc3339.hpp"
#include "rtb/serve/api_keys.hpp"
#include "rtb/serve/build_id.hpp"
#include "rtb/serve/build_queue.hpp"
#include "rtb/serve/context_check.hpp"
#include "rtb/serve/dockerfile_scan.hpp"
#include "rtb/serve/http_limits.hpp"
#include "rtb/serve/key_file.hpp"
#include "rtb/serve/listen_address.hpp"
#include "rtb/serve/log_text.hpp"
#include "rtb/serve/multipart_reader.hpp"
#include "rtb/serve/query_param.hpp"
#include "rtb/serve/rate_limiter.hpp"
#include "rtb/serve/tenant_file.hpp"
#include "rtb/serve/tenants.hpp"
#include "rtb/transport/remote_api.hpp"
#include "rtb/transport/detail/multipart.hpp"
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
    // Its header declares 64 MiB: refused there, before anything expands.
    const auto e = rejection(bomb, {.max_bytes = std::uint64_t{1} << 20});
    BOOST_TEST(contains(e, "entry 2 'zeros' (67108864 bytes) would make the context larger than 1048576 bytes"), e);
    // And the decompression itself stops at the limit, whatever the headers say.
    memory_source raw(bomb);
    rtb::serve::detail::inflating_reader<memory_source> inflate(raw, std::uint64_t{1} << 20);
    std::uint64_t produced = 0;
    const auto expanded = error_text([&] {
        while (!inflate.next().empty()) produced = inflate.produced();
    });
    BOOST_TEST(contains(expanded, "expands to more than 1048576 bytes"), expanded);
    BOOST_TEST(produced <= (std::uint64_t{1} << 20));
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
    // Each key of a plain file is its own tenant, building under PREFIX/keyN.
    BOOST_TEST(k.tenant_of(0).name == "key1");
    BOOST_TEST(k.tenant_of(1).name == "key2");
    BOOST_TEST(k.tenant_of(1).prefixes == std::vector<std::string>{"local/rtb/key2"});
    BOOST_TEST(api_keys::parse("only-key-0123456789\n", "f", "registry.example.com:5000/team/")
                   .tenant_of(0)
                   .prefixes.front() == "registry.example.com:5000/team/key1");
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
    const auto id = q.submit(std::move(job), "alice");
    BOOST_TEST(is_build_id(id), id);
    BOOST_TEST((q.status(id, "alice")->state == remote_build_state::queued));
    auto w = q.next({});
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST(w->id == id);
    BOOST_TEST((q.status(id, "alice")->state == remote_build_state::working));
    w.reset();
    q.finish(id, remote_build_state::success, "img:1");
    const auto s = q.status(id, "alice");
    BOOST_TEST((s->state == remote_build_state::success));
    BOOST_TEST(s->image == "img:1");
    BOOST_TEST(alive.expired(), "the job (its files) is dropped once finished");
}

BOOST_AUTO_TEST_CASE(a_full_queue_refuses_new_builds) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    for (int i = 0; i < 3; ++i) q.submit({}, "alice");
    const auto e = error_text([&] { q.submit({}, "alice"); }, errc::server_error);
    BOOST_TEST(contains(e, "queue is full"), e);
}

BOOST_AUTO_TEST_CASE(a_build_waiting_too_long_expires_and_never_runs) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto id = q.submit({}, "alice");
    clock.advance(11s);
    const auto s = q.status(id, "alice");
    BOOST_TEST((s->state == remote_build_state::expired));
    BOOST_TEST(contains(s->error, "never ran"));
    q.shutdown();
    BOOST_TEST(!q.next({}).has_value());
}

BOOST_AUTO_TEST_CASE(finished_records_are_dropped_after_keep_finished) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto id = q.submit({}, "alice");
    q.next({});
    q.finish(id, remote_build_state::failure, {}, "boom");
    clock.advance(59s);
    BOOST_TEST(q.status(id, "alice").has_value());
    clock.advance(2s);
    BOOST_TEST(!q.status(id, "alice").has_value());
    BOOST_TEST(!q.status("b-404-00000000", "alice").has_value());
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_queued_build_at_once_and_a_running_one_through_its_token) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto running = q.submit({}, "alice");
    const auto waiting = q.submit({}, "alice");
    auto w = q.next({});
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST((q.cancel(waiting, "alice")->state == remote_build_state::cancelled));
    BOOST_TEST((q.cancel(running, "alice")->state == remote_build_state::working));
    BOOST_TEST(w->stop.stop_requested());
    q.finish(running, remote_build_state::internal_error, {}, "stopped");
    BOOST_TEST((q.status(running, "alice")->state == remote_build_state::cancelled),
               "cancelled wins over what the worker saw");
    BOOST_TEST(!q.cancel("b-9-nothing", "alice").has_value());
    // The cancelled queued build is never handed out.
    q.shutdown();
    BOOST_TEST(!q.next({}).has_value());
}

BOOST_AUTO_TEST_CASE(shutdown_cancels_waiting_builds_and_stops_running_ones) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto a = q.submit({}, "alice");
    const auto b = q.submit({}, "alice");
    auto w = q.next({});
    q.shutdown();
    BOOST_TEST(w->stop.stop_requested());
    BOOST_TEST((q.status(b, "alice")->state == remote_build_state::cancelled));
    BOOST_TEST((q.status(a, "alice")->state == remote_build_state::working));
    BOOST_TEST(contains(error_text([&] { q.submit({}, "alice"); }, errc::server_error), "shutting down"));
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

// ---- uploaded contexts: what will be written, and links as they will be followed -----

BOOST_AUTO_TEST_CASE(a_sparse_file_is_refused_however_small_the_upload) {
    // 3 GiB claimed by a few hundred bytes: refused before anything expands.
    const auto bomb = gzip(dockerfile() + gnu_sparse_entry("big", std::uint64_t{3} << 30, (std::uint64_t{3} << 30) - 512,
                                                           std::string(512, 'x')) +
                           tar_end());
    BOOST_TEST(bomb.size() < 400u);
    std::string written;
    memory_source in(bomb);
    const auto e = error_text([&] { check_context(in, [&](std::string_view b) { written.append(b); }); });
    BOOST_TEST(contains(e, "entry 2 'big' is a sparse file"), e);
    BOOST_TEST(written.size() < 4096u, "nothing of the expanded file was written");
}

BOOST_AUTO_TEST_CASE(the_size_limit_counts_what_the_clean_tar_will_hold) {
    // A header that claims more than the limit is refused at the header,
    // before a byte of it is copied, however small the upload is: the
    // sizes as written count, not the bytes sent.
    const auto e = rejection(dockerfile() + tar_entry("big", '0', "", {}, std::uint64_t{1} << 30) + tar_end(),
                             {.max_bytes = std::uint64_t{1} << 20});
    BOOST_TEST(contains(e, "entry 2 'big' (1073741824 bytes) would make the context larger than 1048576 bytes"), e);
    BOOST_TEST(check(dockerfile() + tar_entry("a", '0', std::string(3000, 'a')) + tar_end(), {.max_bytes = 8000})
                   .summary.content_bytes == 3013u);
}

BOOST_AUTO_TEST_CASE(an_entry_below_a_symlink_is_refused) {
    // l -> . then l/l/x -> ../../etc: lexically inside, but unpacking writes
    // x through l into the root, where ../../etc climbs out.
    const auto e = rejection(dockerfile() + tar_entry("l", '2', {}, ".") + tar_entry("l/l/x", '2', {}, "../../etc") +
                             tar_end());
    BOOST_TEST(contains(e, "entry 3 'l/l/x' is below the symbolic link 'l'"), e);
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("d", '2', {}, "sub") + tar_entry("d/file", '0', "x") + tar_end()),
                        "below the symbolic link 'd'"));
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("f", '0', "x") + tar_entry("f/g", '0', "y") + tar_end()),
                        "is below the file 'f'"));
}

BOOST_AUTO_TEST_CASE(chained_symlinks_are_followed_through_each_other) {
    // b's target passes through a, which points at the root: b climbs out.
    auto e = rejection(dockerfile() + tar_entry("a", '2', {}, ".") + tar_entry("b", '2', {}, "a/../etc") + tar_end());
    BOOST_TEST(contains(e, "entry 3 'b' is a symbolic link that leads above the context root when followed"), e);
    // The same with the links in the other order (b written first).
    e = rejection(dockerfile() + tar_entry("b", '2', {}, "a/../etc") + tar_entry("a", '2', {}, ".") + tar_end());
    BOOST_TEST(contains(e, "'b' is a symbolic link that leads above the context root"), e);
    // Deeper: up -> d/.. (the root); d/x -> ../up/../y is lexically inside
    // (.. up .. y) but climbs above the root through up.
    e = rejection(dockerfile() + tar_entry("d/", '5') + tar_entry("up", '2', {}, "d/..") +
                  tar_entry("d/x", '2', {}, "../up/../y") + tar_end());
    BOOST_TEST(contains(e, "entry 4 'd/x' is a symbolic link that leads above the context root"), e);
    // A loop is refused; chains that stay inside pass.
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("a", '2', {}, "b") + tar_entry("b", '2', {}, "a") + tar_end()),
                        "more than 40 links"));
    BOOST_TEST(check(dockerfile() + tar_entry("sub/", '5') + tar_entry("sub/f", '0', "x") + tar_entry("a", '2', {}, "sub") +
                     tar_entry("b", '2', {}, "a/f") + tar_entry("sub/c", '2', {}, "../a/../Dockerfile") + tar_end())
                   .summary.entries == 6u);
}

BOOST_AUTO_TEST_CASE(an_entry_may_not_replace_another) {
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("x", '0', "1") + tar_entry("x", '0', "2") + tar_end()),
                        "entry 3 'x' appears twice"));
    BOOST_TEST(contains(rejection(dockerfile() + tar_entry("d/f", '0', "1") + tar_entry("d", '2', {}, ".") + tar_end()),
                        "would replace the directory 'd'"));
    // A directory named again is fine (tar writers do that).
    BOOST_TEST(check(dockerfile() + tar_entry("d/", '5') + tar_entry("d/f", '0', "1") + tar_entry("d/", '5') + tar_end())
                   .summary.entries == 4u);
}

BOOST_AUTO_TEST_CASE(the_dockerfile_is_a_regular_file_and_its_text_is_kept) {
    const auto r = check(tar_entry("Dockerfile", '0', "FROM scratch\nADD x /x\n") + tar_entry("x", '0', "1") + tar_end());
    BOOST_TEST(r.summary.dockerfile == "FROM scratch\nADD x /x\n");
    BOOST_TEST(contains(rejection(tar_entry("real", '0', "FROM scratch\n") + tar_entry("Dockerfile", '2', {}, "real") +
                                  tar_end()),
                        "is the Dockerfile but not a regular file"));
    BOOST_TEST(contains(rejection(tar_entry("Dockerfile", '0', std::string(2000, '#')) + tar_end(), {.max_dockerfile = 1000}),
                        "Dockerfile of 2000 bytes"));
}

// ---- tenants ------------------------------------------------------------------------

namespace {
tenant alice() { return {"alice", {"local/rtb/alice", "registry.example.com:5000/teams/alice"}, false}; }
}  // namespace

BOOST_AUTO_TEST_CASE(a_tenant_builds_only_below_its_own_prefixes) {
    for (const char* ok : {"local/rtb/alice/runtime:oh_v1", "local/rtb/alice/runtime", "docker.io/local/rtb/alice/x:1",
                           "local/rtb/alice/deep/er/name:tag", "registry.example.com:5000/teams/alice/app:1"})
        BOOST_TEST(!image_name_refusal(alice(), ok, "target_image"), ok);
    struct refused {
        const char* name;
        int status;
        const char* says;
    };
    for (const auto& r : std::vector<refused>{
             {"local/rtb/alice:1", 403, "outside the image names tenant alice may build"},  // the prefix itself
             {"local/rtb/alicex/app:1", 403, "outside"},                                     // a sibling
             {"local/rtb/bob/app:1", 403, "outside"},
             {"victim/base:1", 403, "outside"},
             {"docker.io/library/alpine", 403, "outside"},
             {"alpine", 403, "outside"},
             {"registry.example.com/teams/alice/app:1", 403, "outside"},  // another registry (no port)
             {"ghcr.io/local/rtb/alice/x:1", 403, "outside"},
             {"local/rtb/alice/x@sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 400,
              "names a digest"},
             {"local/rtb/alice/X:1", 400, "is not an image name"},
             {"local/rtb/alice/x:bad tag", 400, "is not an image name"},
             {"", 400, "is not an image name"}}) {
        const auto why = image_name_refusal(alice(), r.name, "tag 2");
        BOOST_TEST_CONTEXT(r.name) {
            BOOST_TEST_REQUIRE(why.has_value());
            BOOST_TEST(why->status == r.status);
            BOOST_TEST(contains(why->message, r.says), why->message);
            BOOST_TEST(why->message.starts_with("tag 2 '"), why->message);
        }
    }
    const auto why = image_name_refusal(alice(), "victim/base:1", "target_image");
    BOOST_TEST(contains(why->message, "local/rtb/alice/, registry.example.com:5000/teams/alice/"), why->message);
}

BOOST_AUTO_TEST_CASE(tenant_names_prefixes_and_overlaps) {
    for (const char* ok : {"alice", "team-7", "a.b_c", "x"}) BOOST_TEST(!tenant_name_problem(ok), ok);
    for (const char* bad : {"", "Alice", "-a", "a-", "a--b", "a/b", "a b", "a\nb", "ü"}) BOOST_TEST(tenant_name_problem(bad).has_value(), bad);
    BOOST_TEST(tenant_name_problem(std::string(65, 'a')).has_value());
    BOOST_TEST(default_prefix("local/rtb", "alice") == "local/rtb/alice");
    BOOST_TEST(default_prefix("local/rtb/", "alice") == "local/rtb/alice");
    BOOST_TEST(normalized_prefix("local/rtb/alice") == "docker.io/local/rtb/alice");
    BOOST_TEST(normalized_prefix("localhost:5000/a/") == "localhost:5000/a");
    for (const char* bad : {"", "local/rtb:tag", "local/rtb@sha256:00", "local/X", "a//b"})
        BOOST_TEST(contains(error_text([&] { normalized_prefix(bad); }), "prefix"), bad);
    check_tenants_apart({{"a", {"local/rtb/a"}, false}, {"b", {"local/rtb/b"}, false}}, "f");
    auto e = error_text([] { check_tenants_apart({{"a", {"local/rtb"}, false}, {"b", {"local/rtb/b"}, false}}, "f"); });
    BOOST_TEST(contains(e, "tenants a and b share image names"), e);
    e = error_text([] { check_tenants_apart({{"a", {"docker.io/local/x"}, false}, {"b", {"local/x"}, false}}, "f"); });
    BOOST_TEST(contains(e, "share image names"), e);
}

BOOST_AUTO_TEST_CASE(a_plain_key_file_refuses_a_key_twice_without_showing_it) {
    const auto e = error_text([] { api_keys::parse("same-key-0123456789\nother-key-0123456789\nsame-key-0123456789\n"); });
    BOOST_TEST(contains(e, "line 3: the same key as key 1"), e);
    BOOST_TEST(!contains(e, "same-key"), e);
}

BOOST_AUTO_TEST_CASE(the_toml_key_file_names_tenants_and_their_prefixes) {
    const auto k = parse_tenant_file(R"(# the tenants
[tenants.alice]
keys = ["alice-key-0123456789", "alice-ci-0123456789"]
prefixes = ["local/rtb/alice", "localhost:5000/alice"]
metrics = true

[tenants.bob]
keys = ["bob-key-0123456789ab"]
)",
                                     "keys.toml", "local/rtb");
    BOOST_TEST(k.size() == 3u);
    BOOST_TEST(k.tenants().size() == 2u);
    BOOST_TEST(k.tenant_of(k.match("alice-ci-0123456789").value()).name == "alice");
    BOOST_TEST(k.tenant_of(k.match("bob-key-0123456789ab").value()).name == "bob");
    BOOST_TEST(k.tenants()[0].prefixes.size() == 2u);
    BOOST_TEST(k.tenants()[0].metrics);
    BOOST_TEST(k.tenants()[1].prefixes == std::vector<std::string>{"local/rtb/bob"}, "the default prefix");
    BOOST_TEST(!k.tenants()[1].metrics, "metrics must be granted");
    BOOST_TEST(k.describe(2) == "key 3 (line 8)");
}

BOOST_AUTO_TEST_CASE(a_bad_toml_key_file_says_where_and_never_shows_a_key) {
    struct bad {
        const char* text;
        const char* says;
    };
    for (const auto& b : std::vector<bad>{
             {"[tenants.alice]\nkeys = [\"alice-key-0123456789\"]\nprefix = [\"x/y\"]\n", "keys.toml:3:10: unknown key 'prefix'"},
             {"[tenant.alice]\nkeys = [\"alice-key-0123456789\"]\n", "unknown key 'tenant'"},
             {"[tenants.Alice]\nkeys = [\"alice-key-0123456789\"]\n", "tenant name 'Alice'"},
             {"[tenants.alice]\nprefixes = [\"x/y\"]\n", "tenant alice has no key"},
             {"[tenants.alice]\nkeys = [\"alice-key-0123456789\"]\nprefixes = []\n", "has no image name prefix"},
             {"[tenants.alice]\nkeys = \"alice-key-0123456789\"\n", "keys is a list of strings"},
             {"[tenants.alice]\nkeys = [\"alice-key-0123456789\"]\nmetrics = \"yes\"\n", "metrics is true or false"},
             {"[tenants.alice]\nkeys = [\"alice-key-0123456789\"]\n[tenants.bob]\nkeys = [\"alice-key-0123456789\"]\n",
              "the same key as key 1"},
             {"[tenants.alice]\nkeys = [\"alice-key-0123456789\"]\nprefixes = [\"local/rtb\"]\n[tenants.bob]\nkeys = "
              "[\"bob-key-0123456789ab\"]\n",
              "tenants alice and bob share image names"},
             {"[tenants.alice]\nkeys = [\"short\"]\n", "a key has 16 to 4096 characters"},
             {"[tenants.alice\nkeys = [\"alice-key-0123456789\"]\n", "not valid TOML"}}) {
        const auto e = error_text([&] { parse_tenant_file(b.text, "keys.toml", "local/rtb"); });
        BOOST_TEST(contains(e, b.says), e);
        BOOST_TEST(!contains(e, "alice-key-0123456789"), e);
        BOOST_TEST(!contains(e, "bob-key"), e);
    }
}

// ---- the key file on disk ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_key_file_others_can_read_or_write_is_refused_as_ssh_does) {
    BOOST_TEST(!key_file_problem("k", S_IFREG | 0600, 1000, 1000));
    BOOST_TEST(!key_file_problem("k", S_IFREG | 0400, 0, 1000), "root's file is fine");
    for (const mode_t mode : {0640u, 0604u, 0660u, 0644u, 0620u, 0602u}) {
        const auto p = key_file_problem("/etc/rtb/keys", S_IFREG | mode, 1000, 1000);
        BOOST_TEST_REQUIRE(p.has_value());
        BOOST_TEST(contains(*p, "chmod 600 '/etc/rtb/keys'"), *p);
        BOOST_TEST(contains(*p, fmt::format("mode {:04o}", mode)), *p);
    }
    BOOST_TEST(contains(key_file_problem("k", S_IFCHR | 0666, 0, 0).value(), "not a regular file"));
    BOOST_TEST(contains(key_file_problem("k", S_IFDIR | 0700, 0, 0).value(), "not a regular file"));
    BOOST_TEST(contains(key_file_problem("k", S_IFREG | 0600, 1001, 1000).value(), "belongs to uid 1001"));
}

BOOST_AUTO_TEST_CASE(a_key_file_is_read_with_a_limit_and_checked_on_the_open_file) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtb-keyfile-{}", ::getpid());
    std::filesystem::create_directories(dir);
    struct cleanup {
        std::filesystem::path p;
        ~cleanup() { std::filesystem::remove_all(p); }
    } gone{dir};
    const auto file = (dir / "keys").string();
    { std::ofstream(file) << "a-key-0123456789abcdef\n"; }
    ::chmod(file.c_str(), 0644);
    auto e = error_text([&] { load_api_keys(file, "local/rtb"); });
    BOOST_TEST(contains(e, "chmod 600"), e);
    ::chmod(file.c_str(), 0600);
    BOOST_TEST(load_api_keys(file, "local/rtb").size() == 1u);
    // /dev/zero would never end: refused before a byte is read.
    const auto start = std::chrono::steady_clock::now();
    e = error_text([&] { read_key_file("/dev/zero"); });
    BOOST_TEST(contains(e, "not a regular file"), e);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
    // A FIFO without a writer: refused, not waited on.
    const auto fifo = (dir / "fifo").string();
    BOOST_TEST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    BOOST_TEST(contains(error_text([&] { read_key_file(fifo); }), "not a regular file"));
    // Large: refused at the limit.
    const auto big = (dir / "big").string();
    { std::ofstream(big) << std::string(5000, '#'); }
    ::chmod(big.c_str(), 0600);
    BOOST_TEST(contains(error_text([&] { read_key_file(big, 4096); }), "larger than 4096 bytes"));
    BOOST_TEST(error_of([&] { read_key_file((dir / "missing").string()); }).value() == errc::io_error);
}

// ---- build ids and owners -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(build_ids_are_128_random_bits) {
    std::set<std::string> seen;
    std::array<int, 128> ones{};
    for (int i = 0; i < 1000; ++i) {
        const auto id = new_build_id();
        BOOST_TEST_REQUIRE(is_build_id(id), id);
        BOOST_TEST_REQUIRE(id.size() == 34u);
        seen.insert(id);
        for (std::size_t k = 0; k < 32; ++k) {
            const char c = id[2 + k];
            const int v = c <= '9' ? c - '0' : c - 'a' + 10;
            for (int b = 0; b < 4; ++b) ones[k * 4 + static_cast<std::size_t>(b)] += (v >> b) & 1;
        }
    }
    BOOST_TEST(seen.size() == 1000u);
    // Every bit varies (a counter or a 32-bit generator leaves bits fixed):
    // set in 35% to 65% of 1000 ids (a fair bit leaves that range with
    // probability below 1e-20).
    for (std::size_t b = 0; b < 128; ++b) BOOST_TEST((ones[b] > 350 && ones[b] < 650), "bit " << b << ": " << ones[b]);
    for (const char* bad : {"b-1-3f2a0000", "", "b-", "B-0123456789abcdef0123456789abcdef",
                            "b-0123456789ABCDEF0123456789abcdef", "b-0123456789abcdef0123456789abcde"})
        BOOST_TEST(!is_build_id(bad), bad);
}

BOOST_AUTO_TEST_CASE(another_owners_build_is_as_unknown_as_no_build) {
    fake_clock clock;
    build_queue<fake_job> q(queue_options(clock));
    const auto id = q.submit({}, "alice");
    BOOST_TEST(!q.status(id, "bob").has_value());
    BOOST_TEST(!q.cancel(id, "bob").has_value());
    BOOST_TEST((q.status(id, "alice")->state == remote_build_state::queued), "bob's cancel did nothing");
    BOOST_TEST((q.cancel(id, "alice")->state == remote_build_state::cancelled));
}

BOOST_AUTO_TEST_CASE(a_huge_error_record_keeps_its_head_and_tail_within_the_bound) {
    fake_clock clock;
    auto o = queue_options(clock);
    o.max_error_bytes = 4096;
    build_queue<fake_job> q(o);
    const auto id = q.submit({}, "alice");
    q.next({});
    q.finish(id, remote_build_state::failure, {}, "Step 3/9 failed" + std::string(2'400'000, 'x') + "exit code 7");
    const auto s = q.status(id, "alice").value();
    BOOST_TEST(s.error.size() <= 4096u + 64u);
    BOOST_TEST(s.error.starts_with("Step 3/9 failed"));
    BOOST_TEST(s.error.ends_with("exit code 7"));
    BOOST_TEST(contains(s.error, "bytes cut"));
}

// ---- log escaping ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(request_bytes_reach_the_log_escaped_and_never_decoded) {
    BOOST_TEST(log_escape("/build_status%0a127.0.0.1 GET /x -> 200") == "/build_status%0a127.0.0.1 GET /x -> 200");
    BOOST_TEST(log_escape("/a\nb\r\x1b[31mc\x7f\\") == "/a\\x0ab\\x0d\\x1b[31mc\\x7f\\\\");
    BOOST_TEST(log_escape(std::string("\0\xff", 2)) == "\\x00\\xff");
    BOOST_TEST(log_escape(std::string(300, 'a'), 10) == "aaaaaaaaaa...(300 bytes)");
    const auto line = log_line_safe("GET /x\n-> 200\x1b");
    BOOST_TEST(line == "GET /x\\x0a-> 200\\x1b");
    for (int c = 0; c < 256; ++c) {
        const auto out = log_escape(std::string(1, static_cast<char>(c)));
        for (const char o : out) BOOST_TEST_REQUIRE((o >= 0x20 && o <= 0x7e), "byte " << c);
    }
}

// ---- the Dockerfile scan ---------------------------------------------------------------

namespace {
std::vector<std::string> findings(std::string_view dockerfile) {
    std::vector<std::string> out;
    for (const auto& f : network_reaching_instructions(dockerfile)) out.push_back(f.describe());
    return out;
}
bool refused(std::string_view dockerfile) { return !network_reaching_instructions(dockerfile).empty(); }
}  // namespace

BOOST_AUTO_TEST_CASE(remote_add_sources_are_found_in_every_form) {
    const auto f = findings("FROM busybox\nADD http://127.0.0.1:9/x /x\n");
    BOOST_TEST_REQUIRE(f.size() == 1u);
    BOOST_TEST(contains(f[0], "Dockerfile line 2: ADD 'http://127.0.0.1:9/x' fetches from the network"), f[0]);
    for (const char* d : {
             "FROM b\nADD https://example.com/a.tgz /a\n",
             "FROM b\nadd http://x/y /y\n",                                       // any case
             "FROM b\nAdd\tHTTP://X/Y /y\n",
             "FROM b\nADD --checksum=sha256:00 https://x/y /y\n",                 // flags
             "FROM b\nADD --chown=1:1 --link http://x/y /y\n",
             "FROM b\nADD [\"http://x/y\", \"/y\"]\n",                             // JSON form
             "FROM b\nADD [\"http://x/y\",\"/y\"]\n",
             "FROM b\nADD [\"\\u0068ttp://x/y\", \"/y\"]\n",                     // a JSON escape
             "FROM b\nADD local http://x/y /dir/\n",                              // any source but the last
             "FROM b\nADD \\\n  http://x/y \\\n  /y\n",                            // continuations
             "FROM b\nADD \\\n# a comment inside\n\n  http://x/y /y\n",           // comment and blank lines inside
             "FROM b\nADD h\\\nttp://x/y /y\n",                                   // a continuation mid-word
             "FROM b\nADD \"http://x/y\" /y\n",                                   // quotes
             "FROM b\nADD h\\ttp://x/y /y\n",                                     // an escape inside
             "FROM b\nADD git://github.com/o/r.git /r\n",
             "FROM b\nADD git@github.com:o/r.git /r\n",
             "FROM b\nADD ftp://x/y /y\n",
             "FROM b\nONBUILD ADD http://x/y /y\n",
             "FROM b\nADD $URL /y\n",                                             // a variable: unknowable
             "FROM b\nADD ${URL:-http://x} /y\n",
             "FROM b\nADD [\"$U\", \"/y\"]\n",
             "# escape=`\nFROM b\nADD `\n http://x/y /y\n",                       // the escape directive
             "# syntax=docker/dockerfile:1\n# escape=`\nFROM b\nADD h`\nttp://x/y /y\n",
             "FROM b\nRUN echo <<EOF\nADD http://x/y /y\nEOF\n",                   // heredoc lines read as instructions
             "FROM b\r\nADD http://x/y /y\r\n",
         })
        BOOST_TEST(refused(d), d);
}

BOOST_AUTO_TEST_CASE(run_flags_that_reach_a_network_or_the_host_are_found) {
    BOOST_TEST(refused("FROM b\nRUN --network=host wget x\n"));
    BOOST_TEST(refused("FROM b\nRUN --network=default wget x\n"));
    BOOST_TEST(refused("FROM b\nRUN --mount=type=bind,source=/,target=/h cat /h/etc/shadow\n"));
    BOOST_TEST(refused("FROM b\nRUN --security=insecure id\n"));
    BOOST_TEST(refused("FROM b\nONBUILD RUN --network=host x\n"));
    BOOST_TEST(!refused("FROM b\nRUN --network=none echo ok\n"));
    BOOST_TEST(contains(findings("FROM b\nRUN --mount=type=cache,target=/c true\n").at(0), "RUN '--mount=type=cache"));
}

BOOST_AUTO_TEST_CASE(local_sources_and_other_instructions_pass) {
    for (const char* d : {
             "FROM b\nADD app.tgz /app\nCOPY . /src\n",
             "FROM b\nADD [\"a\", \"b\", \"/dst/\"]\n",
             "FROM b\nCOPY http://x/y /y\n",                          // COPY never fetches (the builder refuses it)
             "FROM b\nRUN curl http://x/y\n",                         // RUN has no network anyway
             "FROM b\nENV U=http://x/y\nLABEL u=http://x\n",
             "FROM b\nADD \\$literal /y\n",                           // an escaped $
             "FROM b\n# ADD http://x/y /y\n",                         // a comment
             "FROM b\nADD http://x/y\n",                              // a destination alone is no source
             "# escape=`\nFROM b\nADD c:\\path\\file /y\n",           // backslashes are not escapes here
             "FROM b\nCOPY --from=builder /x /y\n",
             "",
         })
        BOOST_TEST(!refused(d), d);
}

BOOST_AUTO_TEST_CASE(the_escape_directive_counts_only_at_the_top) {
    BOOST_TEST(dockerfile_escape_char("# escape=`\nFROM b\n") == '`');
    BOOST_TEST(dockerfile_escape_char("#escape = `\nFROM b\n") == '`');
    BOOST_TEST(dockerfile_escape_char("# syntax=x\n# escape=`\n") == '`');
    BOOST_TEST(dockerfile_escape_char("# a comment\n# escape=`\n") == '\\');
    BOOST_TEST(dockerfile_escape_char("\n# escape=`\n") == '\\');
    BOOST_TEST(dockerfile_escape_char("FROM b\n# escape=`\n") == '\\');
    BOOST_TEST(dockerfile_escape_char("# escape=x\n") == '\\');
    BOOST_TEST(is_remote_source("HTTPS://x"));
    BOOST_TEST(is_remote_source("[http://x"));
    BOOST_TEST(!is_remote_source("http:/x"));
    BOOST_TEST(!is_remote_source("dir/file"));
}

// ---- RFC 3339 -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(rfc3339_stamps_as_docker_and_podman_write_them) {
    using rtb::detail::parse_rfc3339;
    BOOST_TEST(parse_rfc3339("2026-11-29T10:00:00Z")->seconds == 1795946400);
    const auto docker = parse_rfc3339("2026-11-29T10:00:00.123456789Z").value();
    BOOST_TEST(docker.seconds == 1795946400);
    BOOST_TEST(docker.nanos == 123456789);
    BOOST_TEST(parse_rfc3339("2026-11-29T11:30:00.5+01:30")->seconds == 1795946400, "Podman's local offset");
    BOOST_TEST(parse_rfc3339("2026-11-29T11:30:00.5+01:30")->nanos == 500000000);
    BOOST_TEST(parse_rfc3339("2026-11-29T05:00:00-05:00")->seconds == 1795946400);
    BOOST_TEST(parse_rfc3339("2026-11-29t10:00:00z")->seconds == 1795946400);
    BOOST_TEST(parse_rfc3339("1970-01-01T00:00:00Z")->seconds == 0);
    BOOST_TEST(parse_rfc3339("2024-02-29T00:00:00Z").has_value(), "a leap day");
    BOOST_TEST(parse_rfc3339("2016-12-31T23:59:60Z").has_value(), "a leap second");
    for (const char* bad : {"1795946400", "", "2026-11-29", "2026-11-29T10:00:00", "2026-11-29 10:00:00Z",
                            "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
                            "2026-11-29T24:00:00Z", "2026-11-29T10:00:00.Z", "2026-11-29T10:00:00.1234567890Z",
                            "2026-11-29T10:00:00+0100", "2026-11-29T10:00:00+25:00", "2026-11-29T10:00:00Zjunk"})
        BOOST_TEST(!parse_rfc3339(bad).has_value(), bad);
    BOOST_TEST(rtb::detail::format_rfc3339_utc(1795946400) == "2026-11-29T10:00:00Z");
    BOOST_TEST(rtb::detail::format_rfc3339_utc(0) == "1970-01-01T00:00:00Z");
    BOOST_TEST(rtb::detail::format_rfc3339_utc(951782400) == "2000-02-29T00:00:00Z");
    for (std::int64_t t = -86400 * 366; t < std::int64_t{86400} * 366 * 200; t += 86400 * 37 + 3607)
        BOOST_TEST_REQUIRE(parse_rfc3339(rtb::detail::format_rfc3339_utc(t))->seconds == t);
}

// ---- multipart bodies -----------------------------------------------------------------

namespace {
struct collected_parts : multipart_reader::handler {
    std::vector<std::pair<std::string, std::string>> parts;  // name, data
    std::vector<std::string> files;
    bool open = false;
    void begin_part(std::string_view name, std::string_view filename) override {
        BOOST_TEST(!open);
        open = true;
        parts.emplace_back(std::string(name), "");
        files.emplace_back(filename);
    }
    void part_data(std::string_view b) override {
        BOOST_TEST(open);
        parts.back().second.append(b);
    }
    void end_part() override {
        BOOST_TEST(open);
        open = false;
    }
};
const std::string form_body =
    "--xyz\r\nContent-Disposition: form-data; name=\"target_image\"\r\n\r\nlocal/rtb/a/x:1\r\n"
    "--xyz\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nlocal/rtb/a/x:2\r\n"
    "--xyz\r\nContent-Disposition: form-data; name=\"context\"; filename=\"context.tar.gz\"\r\n"
    "Content-Type: application/gzip\r\n\r\nQUJD\r\n--xy\r\n-xyz\r\na--xyzREVG\r\n"
    "--xyz--\r\nepilogue";
}  // namespace

BOOST_AUTO_TEST_CASE(a_multipart_form_reads_the_same_split_anywhere) {
    for (std::size_t split = 0; split <= form_body.size(); ++split) {
        collected_parts h;
        multipart_reader r("xyz", h);
        r.feed(std::string_view(form_body).substr(0, split));
        r.feed(std::string_view(form_body).substr(split));
        r.finish();
        BOOST_TEST_REQUIRE(h.parts.size() == 3u);
        BOOST_TEST(h.parts[0].first == "target_image");
        BOOST_TEST(h.parts[0].second == "local/rtb/a/x:1");
        BOOST_TEST(h.parts[1].second == "local/rtb/a/x:2");
        BOOST_TEST(h.parts[2].first == "context");
        BOOST_TEST(h.parts[2].second == "QUJD\r\n--xy\r\n-xyz\r\na--xyzREVG", "near-boundaries are data");
        BOOST_TEST(h.files[2] == "context.tar.gz");
    }
    // Byte by byte too.
    collected_parts h;
    multipart_reader r("xyz", h);
    for (const char c : form_body) r.feed(std::string_view(&c, 1));
    r.finish();
    BOOST_TEST(h.parts.size() == 3u);
}

BOOST_AUTO_TEST_CASE(malformed_and_oversized_forms_are_refused) {
    auto refuse = [](std::string body, multipart_limits l = {}) {
        return error_text([&] {
            collected_parts h;
            multipart_reader r("xyz", h, l);
            r.feed(body);
            r.finish();
        });
    };
    BOOST_TEST(contains(refuse("--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv"), "cut short"));
    BOOST_TEST(contains(refuse("--xyz\r\nContent-Type: text/plain\r\n\r\nv\r\n--xyz--"), "no Content-Disposition name"));
    BOOST_TEST(contains(refuse("--xyz\r\nno colon here\r\n\r\nv\r\n--xyz--"), "without ':'"));
    BOOST_TEST(contains(refuse("--xyzjunk\r\n"), "followed by something other"));
    BOOST_TEST(contains(refuse(std::string(5000, 'p') + "\r\n--xyz--"), "no boundary in its first 4096 bytes"));
    BOOST_TEST(contains(refuse("--xyz\r\nX: " + std::string(9000, 'h')), "headers are longer than 8192 bytes"));
    std::string many;
    for (int i = 0; i < 11; ++i) many += "--xyz\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\na=b\r\n";
    BOOST_TEST(contains(refuse(many + "--xyz--", {.max_parts = 10}), "more than 10 parts"));
}

BOOST_AUTO_TEST_CASE(the_boundary_comes_from_the_content_type) {
    BOOST_TEST(multipart_boundary_of("multipart/form-data; boundary=abc").value() == "abc");
    BOOST_TEST(multipart_boundary_of("Multipart/Form-Data;boundary=\"a b\"").value() == "a b");
    BOOST_TEST(multipart_boundary_of("multipart/form-data; charset=x; boundary=----rtb-1_2").value() == "----rtb-1_2");
    for (const char* bad : {"application/json", "multipart/form-data", "multipart/form-data; boundary=",
                            "multipart/mixed; boundary=a", "multipart/form-data; boundary=a\r\nb"})
        BOOST_TEST(!multipart_boundary_of(bad).has_value(), bad);
    BOOST_TEST(!multipart_boundary_of("multipart/form-data; boundary=" + std::string(71, 'a')).has_value());
}

BOOST_AUTO_TEST_CASE(query_parameters_are_decoded_and_nothing_else_is) {
    BOOST_TEST(query_param("build_id=b-12&x=1", "build_id").value() == "b-12");
    BOOST_TEST(query_param("image=local%2Frtb%2Fa%2Fx%3A1", "image").value() == "local/rtb/a/x:1");
    BOOST_TEST(query_param("a=1+2&a=3", "a").value() == "1 2");
    BOOST_TEST(query_param("a=%zz%4", "a").value() == "%zz%4");
    BOOST_TEST(query_param("a", "a").value().empty());
    BOOST_TEST(!query_param("ab=1", "a").has_value());
    BOOST_TEST(!query_param("", "a").has_value());
}

// ---- listening ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(listen_addresses_are_numeric_loopback_or_localhost) {
    BOOST_TEST(parse_listen("127.0.0.1:8000").host == "127.0.0.1");
    BOOST_TEST(parse_listen("[::1]:0").host == "::1");
    BOOST_TEST(parse_listen("fd:3").fd == 3);
    for (const char* bad : {"8000", ":80", "127.0.0.1:x", "127.0.0.1:70000", "::1:80", "[::1:80", "fd:", "fd:2", "fd:x"})
        BOOST_TEST(contains(error_text([&] { parse_listen(bad); }), "--listen"), bad);
    BOOST_TEST(listen_address(parse_listen("127.0.0.1:1"), false).str() == "127.0.0.1:1");
    BOOST_TEST(listen_address(parse_listen("127.3.4.5:1"), false).str() == "127.3.4.5:1");
    BOOST_TEST(listen_address(parse_listen("localhost:1"), false).str() == "127.0.0.1:1");
    BOOST_TEST(listen_address(parse_listen("[::1]:1"), false).str() == "[::1]:1");
    BOOST_TEST(listen_address(parse_listen("[::ffff:127.0.0.1]:1"), false).port() == 1);
    // Names are never resolved without --allow-non-loopback: what DNS says
    // today (127.0.0.1.nip.io is 127.0.0.1) is not what is bound tomorrow.
    for (const char* bad : {"127.0.0.1.nip.io:1", "0.0.0.0:1", "10.0.0.1:1", "[::]:1", "[::ffff:10.0.0.1]:1",
                            "127.1:1", "example.com:1"})
        BOOST_TEST(contains(error_text([&] { listen_address(parse_listen(bad), false); }), "not a loopback address"), bad);
    BOOST_TEST(listen_address(parse_listen("0.0.0.0:1"), true).str() == "0.0.0.0:1");
}

BOOST_AUTO_TEST_CASE(socket_activation_names_this_process) {
    BOOST_TEST(activation_fd("42", "1", 42).value() == 3);
    BOOST_TEST(!activation_fd("41", "1", 42), "inherited from a parent: not ours");
    BOOST_TEST(!activation_fd(nullptr, "1", 42));
    BOOST_TEST(!activation_fd("42", nullptr, 42));
    BOOST_TEST(!activation_fd("x42", "1", 42));
    BOOST_TEST(contains(error_text([] { activation_fd("42", "2", 42); }), "takes one listening socket"));
    BOOST_TEST(contains(error_text([] { activation_fd("42", "0", 42); }), "names no socket"));
}

BOOST_AUTO_TEST_CASE(a_handed_over_socket_must_be_a_listening_loopback_tcp_socket) {
    auto listener = open_listener(listen_address(parse_listen("127.0.0.1:0"), false));
    const auto a = check_inherited_listener(listener.get(), false);
    BOOST_TEST(a.port() > 0);
    BOOST_TEST((::fcntl(listener.get(), F_GETFD) & FD_CLOEXEC) != 0);
    rtb::detail::unique_fd unbound(::socket(AF_INET, SOCK_STREAM, 0));
    BOOST_TEST(contains(error_text([&] { check_inherited_listener(unbound.get(), false); }), "not a listening"));
    int pipe_fds[2];
    BOOST_TEST_REQUIRE(::pipe(pipe_fds) == 0);
    BOOST_TEST(contains(error_text([&] { check_inherited_listener(pipe_fds[0], false); }), "is not a socket"));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    auto wide = open_listener(listen_address(parse_listen("0.0.0.0:0"), true));
    BOOST_TEST(contains(error_text([&] { check_inherited_listener(wide.get(), false); }), "not a loopback address"));
    BOOST_TEST(check_inherited_listener(wide.get(), true).port() > 0);
}

// ---- HTTP limits ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_body_must_keep_the_minimum_rate_after_the_grace) {
    http_limits l;
    l.body_grace = 10s;
    l.min_body_rate = 1000;
    const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
    const auto after = [&](std::uint64_t received) { return body_deadline(t0, received, l) - t0; };
    BOOST_TEST(after(0).count() == std::chrono::nanoseconds(10s).count());
    BOOST_TEST(after(1000).count() == std::chrono::nanoseconds(11s).count());
    BOOST_TEST(after(1).count() == std::chrono::nanoseconds(10s + 1ms).count(), "a byte buys 1/rate seconds, no more");
    BOOST_TEST(after(std::uint64_t{512} << 20).count() ==
               std::chrono::nanoseconds(10s + std::chrono::microseconds(536870912000)).count());
    BOOST_TEST(connection_refusal(0, 0, l) == nullptr);
    BOOST_TEST(std::string(connection_refusal(l.max_connections, 0, l)) == "connection_limit");
    BOOST_TEST(std::string(connection_refusal(1, l.max_connections_per_address, l)) == "address_limit");
    validate(l);
    l.min_body_rate = 0;
    BOOST_TEST(contains(error_text([&] { validate(l); }), "minimum body rate"));
}
