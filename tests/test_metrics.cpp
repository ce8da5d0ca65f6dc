// rtb serve's metrics, as specifications: the Prometheus text format 0.0.4
// exactly as a scraper reads it (counters, gauges, cumulative histograms),
// label and help escaping, hostile label values (quotes, newlines, invalid
// UTF-8), refused names, exact totals under concurrent updates, and the
// build queue's transitions that feed the build metrics (a fake clock).
#define BOOST_TEST_MODULE metrics
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rtb/serve/build_queue.hpp"
#include "rtb/serve/metrics.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::serve;
using namespace rtb::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_counter_renders_help_type_and_one_line_per_series_sorted_by_labels) {
    metrics_registry r;
    auto& plain = r.counter("rtb_things_total", "Things seen.");
    auto& by = r.counter("rtb_builds_total", "Builds by outcome.", {"outcome", "plan"});
    plain.inc();
    plain.inc({}, 41);
    by.inc({"success", "scratch"});
    by.inc({"failure", "lock"}, 2);
    by.inc({"success", "scratch"});
    by.touch({"expired", "unknown"});
    BOOST_TEST(r.render() ==
               "# HELP rtb_things_total Things seen.\n"
               "# TYPE rtb_things_total counter\n"
               "rtb_things_total 42\n"
               "# HELP rtb_builds_total Builds by outcome.\n"
               "# TYPE rtb_builds_total counter\n"
               "rtb_builds_total{outcome=\"expired\",plan=\"unknown\"} 0\n"
               "rtb_builds_total{outcome=\"failure\",plan=\"lock\"} 2\n"
               "rtb_builds_total{outcome=\"success\",plan=\"scratch\"} 2\n");
    BOOST_TEST(by.value({"success", "scratch"}) == 2u);
    BOOST_TEST(by.value({"timeout", "scratch"}) == 0u);
}

BOOST_AUTO_TEST_CASE(a_label_less_series_exists_at_zero_and_a_labelled_family_starts_empty) {
    metrics_registry r;
    r.counter("rtb_a_total", "A.");
    r.gauge("rtb_b", "B.");
    r.counter("rtb_c_total", "C.", {"x"});
    BOOST_TEST(r.render() ==
               "# HELP rtb_a_total A.\n# TYPE rtb_a_total counter\nrtb_a_total 0\n"
               "# HELP rtb_b B.\n# TYPE rtb_b gauge\nrtb_b 0\n"
               "# HELP rtb_c_total C.\n# TYPE rtb_c_total counter\n");
}

BOOST_AUTO_TEST_CASE(gauges_go_up_and_down_and_special_values_are_written_as_go_does) {
    metrics_registry r;
    auto& depth = r.gauge("rtb_build_queue_depth", "Builds waiting.");
    auto& g = r.gauge("rtb_g", "G.", {"k"});
    depth.set(3);
    g.set({"half"}, 0.5);
    g.set({"neg"}, -2);
    g.add({"neg"}, 0.25);
    g.set({"inf"}, std::numeric_limits<double>::infinity());
    g.set({"minf"}, -std::numeric_limits<double>::infinity());
    g.set({"nan"}, std::numeric_limits<double>::quiet_NaN());
    g.set({"big"}, 1e21);
    BOOST_TEST(r.render() ==
               "# HELP rtb_build_queue_depth Builds waiting.\n"
               "# TYPE rtb_build_queue_depth gauge\n"
               "rtb_build_queue_depth 3\n"
               "# HELP rtb_g G.\n"
               "# TYPE rtb_g gauge\n"
               "rtb_g{k=\"big\"} 1e+21\n"
               "rtb_g{k=\"half\"} 0.5\n"
               "rtb_g{k=\"inf\"} +Inf\n"
               "rtb_g{k=\"minf\"} -Inf\n"
               "rtb_g{k=\"nan\"} NaN\n"
               "rtb_g{k=\"neg\"} -1.75\n");
    depth.set(0);
    BOOST_TEST(depth.value() == 0);
}

BOOST_AUTO_TEST_CASE(a_histogram_has_cumulative_buckets_ending_with_inf_then_sum_and_count) {
    metrics_registry r;
    auto& h = r.histogram("rtb_build_duration_seconds", "Build time.", {"outcome"}, {1, 5, 15.5});
    h.observe({"success"}, 0.5);
    h.observe({"success"}, 1);  // a bound is inclusive (le)
    h.observe({"success"}, 3);
    h.observe({"success"}, 100);
    h.touch({"failure"});
    BOOST_TEST(r.render() ==
               "# HELP rtb_build_duration_seconds Build time.\n"
               "# TYPE rtb_build_duration_seconds histogram\n"
               "rtb_build_duration_seconds_bucket{outcome=\"failure\",le=\"1\"} 0\n"
               "rtb_build_duration_seconds_bucket{outcome=\"failure\",le=\"5\"} 0\n"
               "rtb_build_duration_seconds_bucket{outcome=\"failure\",le=\"15.5\"} 0\n"
               "rtb_build_duration_seconds_bucket{outcome=\"failure\",le=\"+Inf\"} 0\n"
               "rtb_build_duration_seconds_sum{outcome=\"failure\"} 0\n"
               "rtb_build_duration_seconds_count{outcome=\"failure\"} 0\n"
               "rtb_build_duration_seconds_bucket{outcome=\"success\",le=\"1\"} 2\n"
               "rtb_build_duration_seconds_bucket{outcome=\"success\",le=\"5\"} 3\n"
               "rtb_build_duration_seconds_bucket{outcome=\"success\",le=\"15.5\"} 3\n"
               "rtb_build_duration_seconds_bucket{outcome=\"success\",le=\"+Inf\"} 4\n"
               "rtb_build_duration_seconds_sum{outcome=\"success\"} 104.5\n"
               "rtb_build_duration_seconds_count{outcome=\"success\"} 4\n");
    BOOST_TEST(h.count({"success"}) == 4u);
}

BOOST_AUTO_TEST_CASE(a_label_less_histogram_writes_only_le_in_its_buckets) {
    metrics_registry r;
    auto& h = r.histogram("rtb_build_queue_wait_seconds", "Wait.", {}, {0.1, 2});
    h.observe(0.0625);
    h.observe(7.25);
    BOOST_TEST(r.render() ==
               "# HELP rtb_build_queue_wait_seconds Wait.\n"
               "# TYPE rtb_build_queue_wait_seconds histogram\n"
               "rtb_build_queue_wait_seconds_bucket{le=\"0.1\"} 1\n"
               "rtb_build_queue_wait_seconds_bucket{le=\"2\"} 1\n"
               "rtb_build_queue_wait_seconds_bucket{le=\"+Inf\"} 2\n"
               "rtb_build_queue_wait_seconds_sum 7.3125\n"
               "rtb_build_queue_wait_seconds_count 2\n");
}

BOOST_AUTO_TEST_CASE(label_values_escape_backslash_quote_and_newline_and_help_escapes_its_two) {
    BOOST_TEST(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
    BOOST_TEST(escape_label_value("") == "");
    BOOST_TEST(escape_label_value("tab\there, {}=, ok") == "tab\there, {}=, ok");
    BOOST_TEST(escape_help("line one\nback\\slash \"quoted\"") == "line one\\nback\\\\slash \"quoted\"");
    metrics_registry r;
    auto& c = r.counter("rtb_x_total", "Two\nlines \\ here.", {"v"});
    c.inc({"x\"} 999\nrtb_evil_total 1\n# TYPE"});
    const auto text = r.render();
    BOOST_TEST(text ==
               "# HELP rtb_x_total Two\\nlines \\\\ here.\n"
               "# TYPE rtb_x_total counter\n"
               "rtb_x_total{v=\"x\\\"} 999\\nrtb_evil_total 1\\n# TYPE\"} 1\n");
    BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 3, "an injected newline never starts a line");
}

BOOST_AUTO_TEST_CASE(label_values_that_are_not_utf8_are_replaced_and_valid_utf8_is_kept) {
    const std::string fffd = "\xef\xbf\xbd";
    BOOST_TEST(escape_label_value("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3");
    BOOST_TEST(escape_label_value("a\xff" "b") == "a" + fffd + "b");
    BOOST_TEST(escape_label_value("\xc0\xaf") == fffd + fffd, "an overlong '/'");
    BOOST_TEST(escape_label_value("\xed\xa0\x80") == fffd + fffd + fffd, "a surrogate");
    BOOST_TEST(escape_label_value("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd, "past U+10FFFF");
    BOOST_TEST(escape_label_value("cut \xe2\x82") == "cut " + fffd + fffd, "a sequence cut short");
    BOOST_TEST(escape_label_value(std::string("nul\0here", 8)) == std::string("nul\0here", 8));
}

BOOST_AUTO_TEST_CASE(bad_names_label_counts_bounds_and_duplicates_are_refused) {
    metrics_registry r;
    BOOST_TEST(contains(message_of([&] { r.counter("", "x"); }), "is not a metric name"));
    BOOST_TEST(contains(message_of([&] { r.counter("rtb-dash", "x"); }), "is not a metric name"));
    BOOST_TEST(contains(message_of([&] { r.counter("9rtb", "x"); }), "is not a metric name"));
    BOOST_TEST(contains(message_of([&] { r.counter("rtb_a", "x", {"a b"}); }), "is not a label name"));
    BOOST_TEST(contains(message_of([&] { r.counter("rtb_a", "x", {"__reserved"}); }), "is not a label name"));
    BOOST_TEST(contains(message_of([&] { r.histogram("rtb_h", "x", {"le"}, {1}); }), "is not a label name"));
    BOOST_TEST(contains(message_of([&] { r.histogram("rtb_h", "x", {}, {5, 1}); }), "finite and increasing"));
    BOOST_TEST(contains(message_of([&] { r.histogram("rtb_h", "x", {}, {1, 1}); }), "finite and increasing"));
    BOOST_TEST(contains(message_of([&] { r.histogram("rtb_h", "x", {}, {1, INFINITY}); }), "finite and increasing"));
    auto& c = r.counter("rtb_ok_total", "x", {"a", "b"});
    BOOST_TEST(contains(message_of([&] { c.inc({"only one"}); }), "takes 2 label values, not 1"));
    BOOST_TEST(contains(message_of([&] { r.gauge("rtb_ok_total", "again"); }), "added twice"));
    BOOST_TEST(r.render() == "# HELP rtb_ok_total x\n# TYPE rtb_ok_total counter\n", "nothing half-added");
}

BOOST_AUTO_TEST_CASE(concurrent_updates_and_scrapes_give_exact_totals) {
    metrics_registry r;
    auto& c = r.counter("rtb_requests_total", "R.", {"endpoint", "code"});
    auto& plain = r.counter("rtb_bytes_total", "B.");
    auto& h = r.histogram("rtb_h_seconds", "H.", {"outcome"}, {1, 10});
    auto& g = r.gauge("rtb_g", "G.");
    constexpr int threads = 8, rounds = 20000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                c.inc({"/build", (i % 2) ? "200" : "429"});
                plain.inc({}, 3);
                h.observe({t % 2 ? "success" : "failure"}, (i % 3) * 5.0);  // 0, 5, 10
                g.add({}, 1);
            }
        });
    std::thread scraper([&] {
        for (int i = 0; i < 200; ++i) BOOST_TEST(!r.render().empty());
    });
    for (auto& th : pool) th.join();
    scraper.join();
    BOOST_TEST(c.value({"/build", "200"}) == std::uint64_t{threads} * rounds / 2);
    BOOST_TEST(c.value({"/build", "429"}) == std::uint64_t{threads} * rounds / 2);
    BOOST_TEST(plain.value() == std::uint64_t{3} * threads * rounds);
    BOOST_TEST(h.count({"success"}) + h.count({"failure"}) == std::uint64_t{threads} * rounds);
    BOOST_TEST(g.value() == double(threads) * rounds);
    const auto text = r.render();
    BOOST_TEST(contains(text, "rtb_requests_total{endpoint=\"/build\",code=\"200\"} 80000\n"), text);
    BOOST_TEST(contains(text, "rtb_bytes_total 480000\n"));
    // 20000 rounds: 6667 zeros, 6667 fives, 6666 tens per thread; 4 threads per outcome.
    BOOST_TEST(contains(text, "rtb_h_seconds_bucket{outcome=\"success\",le=\"1\"} 26668\n"), text);
    BOOST_TEST(contains(text, "rtb_h_seconds_bucket{outcome=\"success\",le=\"10\"} 80000\n"), text);
    BOOST_TEST(contains(text, "rtb_h_seconds_sum{outcome=\"success\"} 399980\n"), text);
    BOOST_TEST(contains(text, "rtb_g 160000\n"));
}

// ---- the build queue's transitions (what the server's build metrics count) ----

namespace {
struct labelled_job {
    std::string plan;
};
struct fake_clock {
    std::shared_ptr<std::chrono::steady_clock::time_point> now =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::time_point{} + 1000s);
    void advance(std::chrono::milliseconds d) const { *now += d; }
};
struct seen {
    std::string plan;
    std::string owner;
    remote_build_state from, to;
    double seconds;
};
}  // namespace

BOOST_AUTO_TEST_CASE(the_queue_reports_every_transition_with_its_time_and_job) {
    fake_clock clock;
    std::vector<seen> log;
    build_queue<labelled_job>::options o;
    o.max_wait = 10s;
    o.now = [clock] { return *clock.now; };
    o.observe = [&log](const build_queue<labelled_job>::transition& t) {
        log.push_back({t.job ? t.job->plan : "<none>", t.owner ? *t.owner : "<none>", t.from, t.to,
                       std::chrono::duration<double>(t.in_state).count()});
    };
    build_queue<labelled_job> q(o);
    const auto a = q.submit({"lock"}, "alice");
    const auto b = q.submit({"scratch"}, "bob");
    const auto c = q.submit({"versioned"}, "alice");
    BOOST_TEST(q.count().queued == 3u);
    clock.advance(2s);
    auto w = q.next({});
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST(w->id == a);
    BOOST_TEST(q.count().queued == 2u);
    BOOST_TEST(q.count().working == 1u);
    clock.advance(3s);
    q.cancel(b, "bob");
    q.finish(a, remote_build_state::success, "img:1");
    clock.advance(6s);  // c has waited 11 s: expired
    BOOST_TEST(q.count().queued == 0u);
    BOOST_TEST(q.count().working == 0u);
    q.finish(a, remote_build_state::failure);  // finishing twice tells nothing
    BOOST_TEST_REQUIRE(log.size() == 4u);
    BOOST_TEST((log[0].plan == "lock" && log[0].from == remote_build_state::queued &&
                log[0].to == remote_build_state::working && log[0].seconds == 2));
    BOOST_TEST((log[1].plan == "scratch" && log[1].from == remote_build_state::queued &&
                log[1].to == remote_build_state::cancelled && log[1].seconds == 5));
    BOOST_TEST((log[2].plan == "lock" && log[2].from == remote_build_state::working &&
                log[2].to == remote_build_state::success && log[2].seconds == 3));
    BOOST_TEST((log[3].plan == "versioned" && log[3].from == remote_build_state::queued &&
                log[3].to == remote_build_state::expired && log[3].seconds == 11));
    BOOST_TEST((log[0].owner == "alice" && log[1].owner == "bob" && log[3].owner == "alice"),
               "each transition names the tenant that submitted the build");
    BOOST_TEST(is_build_id(c));
}

BOOST_AUTO_TEST_CASE(shutdown_reports_waiting_builds_cancelled_and_an_observer_that_throws_is_ignored) {
    std::vector<remote_build_state> to;
    build_queue<labelled_job>::options o;
    o.observe = [&to](const build_queue<labelled_job>::transition& t) {
        to.push_back(t.to);
        throw std::runtime_error("a broken observer");
    };
    build_queue<labelled_job> q(o);
    const auto a = q.submit({"lock"}, "alice");
    q.submit({"scratch"}, "alice");
    auto w = q.next({});
    BOOST_TEST_REQUIRE(w.has_value());
    q.shutdown();
    q.finish(a, remote_build_state::internal_error);
    BOOST_TEST_REQUIRE(to.size() == 3u);
    BOOST_TEST((to[0] == remote_build_state::working));
    BOOST_TEST((to[1] == remote_build_state::cancelled));
    BOOST_TEST((to[2] == remote_build_state::cancelled), "a build stopped by shutdown ends CANCELLED");
    BOOST_TEST(q.count().working == 0u);
}
