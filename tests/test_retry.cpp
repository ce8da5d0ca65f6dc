#define BOOST_TEST_MODULE retry
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <thread>

#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/policy/retry.hpp"

using namespace rtb;
using namespace std::chrono_literals;

namespace {
const error transient(errc::connection_failed, "connection refused");
exponential_backoff::options fast(int attempts = 5) {
    exponential_backoff::options o;
    o.base = 1ms;
    o.cap = 4ms;
    o.max_attempts = attempts;
    o.budget = 1000ms;
    o.seed = 1;
    return o;
}
}  // namespace

BOOST_AUTO_TEST_CASE(full_jitter_stays_within_the_exponential_ceiling) {
    exponential_backoff::options o;
    o.base = 100ms;
    o.cap = 1000ms;
    o.max_attempts = 1000;
    o.budget = std::chrono::hours(1000);
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        o.seed = seed;
        exponential_backoff p(o);
        for (int attempt = 1; attempt < 10; ++attempt) {
            const auto d = p.next_delay(attempt, transient).value();
            const auto ceiling = std::min<std::int64_t>(1000, 100LL << (attempt - 1));
            BOOST_TEST((d.count() >= 0 && d.count() <= ceiling), "attempt " << attempt << " delay " << d.count());
        }
    }
}

BOOST_AUTO_TEST_CASE(gives_up_after_max_attempts) {
    exponential_backoff p(fast(3));
    BOOST_TEST(p.next_delay(1, transient).has_value());
    BOOST_TEST(p.next_delay(2, transient).has_value());
    BOOST_TEST(!p.next_delay(3, transient).has_value());
}

BOOST_AUTO_TEST_CASE(never_retries_what_cannot_succeed_later) {
    exponential_backoff p(fast());
    for (auto c : {errc::invalid_argument, errc::not_found, errc::unauthorized, errc::build_failed, errc::parse_error,
                   errc::cancelled})
        BOOST_TEST(!p.next_delay(1, error(c, "x")).has_value(), to_string(c));
    BOOST_TEST(!p.next_delay(1, error(errc::server_error, "x").with_http_status(500)).has_value());
    BOOST_TEST(p.next_delay(1, error(errc::server_error, "x").with_http_status(503)).has_value());
    BOOST_TEST(p.next_delay(1, error(errc::rate_limited, "x")).has_value());
    BOOST_TEST(p.next_delay(1, error(errc::timeout, "x")).has_value());
}

BOOST_AUTO_TEST_CASE(retry_after_replaces_the_random_delay) {
    exponential_backoff p(fast());
    const auto e = error(errc::rate_limited, "slow down").with_retry_after(250ms);
    BOOST_TEST(p.next_delay(1, e).value().count() == 250);
}

BOOST_AUTO_TEST_CASE(the_budget_bounds_total_waiting) {
    auto o = fast(100);
    o.budget = 600ms;
    exponential_backoff p(o);
    const auto e = error(errc::rate_limited, "x").with_retry_after(250ms);
    BOOST_TEST(p.next_delay(1, e).has_value());
    BOOST_TEST(p.next_delay(2, e).has_value());
    BOOST_TEST(!p.next_delay(3, e).has_value());  // 750 ms > 600 ms
    BOOST_TEST(p.waited().count() == 500);
}

BOOST_AUTO_TEST_CASE(retry_runs_until_success_and_counts_attempts) {
    exponential_backoff p(fast());
    int calls = 0;
    const int result = retry(p, std::stop_token{}, [&](int attempt) {
        ++calls;
        BOOST_TEST(attempt == calls);
        if (attempt < 3) throw transient;
        return 42;
    });
    BOOST_TEST(result == 42);
    BOOST_TEST(calls == 3);
}

BOOST_AUTO_TEST_CASE(retry_rethrows_the_last_error_when_the_policy_gives_up) {
    exponential_backoff p(fast(4));
    int calls = 0;
    try {
        retry(p, std::stop_token{}, [&](int) -> int {
            ++calls;
            throw error(errc::timeout, fmt::format("attempt {}", calls));
        });
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()) == "attempt 4");
    }
    BOOST_TEST(calls == 4);
}

BOOST_AUTO_TEST_CASE(no_retry_means_one_attempt) {
    no_retry p;
    int calls = 0;
    BOOST_CHECK_THROW(retry(p, std::stop_token{}, [&](int) -> int {
                          ++calls;
                          throw transient;
                      }),
                      error);
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(a_stop_request_interrupts_the_wait) {
    auto o = fast(10);
    o.budget = std::chrono::hours(1);
    exponential_backoff p(o);
    std::stop_source stop;
    int calls = 0;
    std::jthread stopper;
    try {
        retry(p, stop.get_token(), [&](int) -> int {
            ++calls;
            // the server asks for an hour; a stop request must end the wait
            stopper = std::jthread([&] { stop.request_stop(); });
            throw error(errc::rate_limited, "x").with_retry_after(std::chrono::hours(1));
        });
        BOOST_FAIL("no error");
    } catch (const error& e) {
        BOOST_TEST((e.value() == errc::cancelled));
        BOOST_TEST(std::string(e.what()).find("cancelled while waiting") != std::string::npos);
    }
    BOOST_TEST(calls == 1);
}
