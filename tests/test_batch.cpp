#define BOOST_TEST_MODULE batch
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>

#include "rtb/batch.hpp"

using namespace rtb;

namespace {

runtime_spec spec_for(const std::string& base) {
    runtime_spec s;
    s.base_image = base;
    return s;
}

// A RuntimeImageBuilder that builds nothing: it answers from the base image's
// name ("fail..." throws build_failed, "crash" a std::runtime_error), counts
// the calls running at once, and can hold each call until `gate` builds are
// running together (to show that `jobs` builds do run at once).
struct counting_builder {
    std::atomic<int> calls{0};
    std::atomic<int> running{0};
    std::atomic<int> most_running{0};
    int gate = 0;
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0;
    bool gate_opened = false;

    runtime_image build_runtime_image(const runtime_spec& spec, const build_call_options& call) {
        ++calls;
        const int now = ++running;
        for (int seen = most_running; now > seen && !most_running.compare_exchange_weak(seen, now);) {
        }
        if (gate > 0) {
            std::unique_lock lock(m);
            if (++arrived == gate) {
                gate_opened = true;
                cv.notify_all();
            }
            // Bounded: a pool smaller than `gate` fails the test instead of hanging it.
            cv.wait_for(lock, std::chrono::seconds(20), [&] { return gate_opened; });
        }
        --running;
        if (spec.base_image.starts_with("fail")) throw error(errc::build_failed, "build of " + spec.base_image + " failed");
        if (spec.base_image == "crash") throw std::runtime_error("not an rtb error");
        if (call.stop.stop_requested()) throw error(errc::cancelled, "stopped");
        runtime_image out;
        out.image = "runtime:" + spec.base_image;
        return out;
    }
};
static_assert(RuntimeImageBuilder<counting_builder>);

}  // namespace

BOOST_AUTO_TEST_CASE(outcomes_come_in_the_order_of_the_range_whatever_order_builds_end_in) {
    counting_builder b;
    const std::vector<std::string> bases{"a", "fail-b", "c", "d", "fail-e", "f", "g"};
    const auto outcomes = build_each(b, bases | ranges::views::transform(spec_for), {.jobs = 3});
    BOOST_TEST(b.calls == 7);
    BOOST_REQUIRE_EQUAL(outcomes.size(), bases.size());
    for (std::size_t i = 0; i < bases.size(); ++i) {
        BOOST_TEST_CONTEXT(bases[i]) {
            if (bases[i].starts_with("fail")) {
                BOOST_TEST(!outcomes[i].image);
                BOOST_REQUIRE(outcomes[i].failure);
                BOOST_TEST((outcomes[i].failure->value() == errc::build_failed));
                BOOST_TEST(std::string(outcomes[i].failure->what()).find(bases[i]) != std::string::npos);
            } else {
                BOOST_REQUIRE(outcomes[i].image);
                BOOST_TEST(outcomes[i].image->image == "runtime:" + bases[i]);
                BOOST_TEST(!outcomes[i].failure);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(any_input_range_of_specs_serves_a_container_a_list_or_a_lazy_view) {
    counting_builder b;
    std::list<runtime_spec> listed{spec_for("x"), spec_for("y")};
    BOOST_TEST(build_each(b, listed).size() == 2u);
    const std::vector<runtime_spec> vec{spec_for("z")};
    BOOST_TEST(build_each(b, vec)[0].image->image == "runtime:z");
    auto numbered = ranges::views::iota(0, 5) | ranges::views::transform([](int i) { return spec_for(std::to_string(i)); });
    const auto outcomes = build_each(b, numbered, {.jobs = 2});
    BOOST_TEST(outcomes[4].image->image == "runtime:4");
    BOOST_TEST(build_each(b, std::vector<runtime_spec>{}).empty());
    BOOST_TEST(b.calls == 8);
}

BOOST_AUTO_TEST_CASE(at_most_jobs_builds_run_at_once_and_jobs_do_run_together) {
    counting_builder b;
    b.gate = 3;  // each call waits until three are running
    const std::vector<std::string> bases(9, "img");
    const auto outcomes = build_each(b, bases | ranges::views::transform(spec_for), {.jobs = 3});
    BOOST_TEST(b.gate_opened);
    BOOST_TEST(b.most_running == 3);
    BOOST_TEST(b.calls == 9);
    for (const auto& o : outcomes) BOOST_TEST(o.image.has_value());

    counting_builder one;
    build_each(one, bases | ranges::views::transform(spec_for), {.jobs = 0});  // 0 counts as 1
    BOOST_TEST(one.most_running == 1);
}

BOOST_AUTO_TEST_CASE(every_end_is_told_once_in_the_order_builds_end) {
    counting_builder b;
    const std::vector<std::string> bases{"a", "fail-b", "c", "d"};
    std::vector<std::size_t> indexes, counts;
    batch_options o;
    o.jobs = 2;
    o.on_ended = [&](std::size_t index, const batch_outcome& outcome, std::size_t ended) {
        indexes.push_back(index);
        counts.push_back(ended);
        BOOST_TEST((outcome.image.has_value() != outcome.failure.has_value()));
    };
    build_each(b, bases | ranges::views::transform(spec_for), o);
    BOOST_TEST((counts == std::vector<std::size_t>{1, 2, 3, 4}));
    std::sort(indexes.begin(), indexes.end());
    BOOST_TEST((indexes == std::vector<std::size_t>{0, 1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(a_stop_starts_no_further_build_and_the_rest_are_cancelled) {
    counting_builder b;
    std::stop_source stop;
    batch_options o;
    o.jobs = 1;
    o.call.stop = stop.get_token();
    o.on_ended = [&](std::size_t, const batch_outcome&, std::size_t) { stop.request_stop(); };
    const std::vector<std::string> bases{"a", "b", "c"};
    const auto outcomes = build_each(b, bases | ranges::views::transform(spec_for), o);
    BOOST_TEST(b.calls == 1);
    BOOST_TEST(outcomes[0].image.has_value());
    for (std::size_t i : {1, 2}) {
        BOOST_REQUIRE(outcomes[i].failure);
        BOOST_TEST((outcomes[i].failure->value() == errc::cancelled));
    }

    counting_builder early;
    std::stop_source before;
    before.request_stop();
    batch_options stopped;
    stopped.call.stop = before.get_token();
    const auto none = build_each(early, bases | ranges::views::transform(spec_for), stopped);
    BOOST_TEST(early.calls == 0);
    BOOST_TEST(none.size() == 3u);
}

BOOST_AUTO_TEST_CASE(an_exception_that_is_not_an_rtb_error_ends_the_batch_and_is_rethrown) {
    counting_builder b;
    const std::vector<std::string> bases{"crash", "a", "b", "c"};
    BOOST_CHECK_THROW(build_each(b, bases | ranges::views::transform(spec_for), {.jobs = 1}), std::runtime_error);
    BOOST_TEST(b.calls == 1);  // nothing started after it
}
