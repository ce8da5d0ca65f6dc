// Time limits for long operations: a `deadline` (a point in time, for an
// overall limit and for clamping per-request timeouts to it), and a
// `watchdog` that stops an operation through a std::stop_token when its
// deadline passes or when it stalls (no event for a while), then reports a
// timeout naming the last build step it saw. `watched_logger` feeds a
// watchdog from a Logger's events.
//
//     watchdog dog({.what = "building app:1", .overall = deadline::after(30min), .stall = 5min}, stop);
//     watched_logger logger(my_logger, dog);
//     auto result = dog.run([&](std::stop_token s) { return engine.build(request, logger, s); });
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "rtb/concepts.hpp"
#include "rtb/error.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

/// A point on the steady clock by which something must be done, or never.
class deadline {
public:
    using clock = std::chrono::steady_clock;
    using duration = std::chrono::milliseconds;

    /// No limit.
    static deadline never() noexcept { return deadline(); }
    /// `d` from `now`; a zero or negative `d` has already passed.
    static deadline after(duration d, clock::time_point now = clock::now()) noexcept { return deadline(now + d); }
    static deadline at(clock::time_point when) noexcept { return deadline(when); }

    bool is_never() const noexcept { return !at_; }
    std::optional<clock::time_point> when() const noexcept { return at_; }
    bool expired(clock::time_point now = clock::now()) const noexcept { return at_ && now >= *at_; }

    /// Time left (0 once passed); duration::max() for never.
    duration remaining(clock::time_point now = clock::now()) const noexcept {
        if (!at_) return duration::max();
        if (now >= *at_) return duration(0);
        return std::chrono::ceil<duration>(*at_ - now);
    }

    /// A per-request timeout that also respects this deadline: the smaller of
    /// `limit` and the time left; `limit` 0 means "no limit of its own" (as in
    /// http::client_options). Never 0 while time is left (0 would mean none);
    /// throws timeout naming `what` once the deadline has passed.
    duration clamp(duration limit, std::string_view what, clock::time_point now = clock::now()) const {
        if (!at_) return limit;
        const auto left = remaining(now);
        if (left.count() <= 0) throw error(errc::timeout, fmt::format("{}: the deadline has passed", what));
        if (limit.count() <= 0) return left;
        return std::min(limit, left);
    }

    /// Throws timeout naming `what` once the deadline has passed.
    void check(std::string_view what, clock::time_point now = clock::now()) const {
        if (expired(now)) throw error(errc::timeout, fmt::format("{}: the deadline has passed", what));
    }

    /// The earlier of two deadlines.
    friend deadline earliest(const deadline& a, const deadline& b) noexcept {
        if (!a.at_) return b;
        if (!b.at_) return a;
        return *a.at_ <= *b.at_ ? a : b;
    }

private:
    deadline() = default;
    explicit deadline(clock::time_point t) : at_(t) {}
    std::optional<clock::time_point> at_;
};

/// Guards one operation (a build, a pull, a batch): gives it a stop token
/// that is stopped when the caller's token is, when the overall deadline
/// passes, or when no activity was reported (kick(), observe()) for `stall`.
/// run() turns the operation's resulting `cancelled` into a `timeout` that
/// says which limit it was and the last build step seen. One thread waits
/// for the limits while there are any; it is joined on destruction.
class watchdog {
public:
    using clock = std::chrono::steady_clock;

    struct options {
        std::string what = "the operation";  ///< named in the timeout: "building app:1 on unix socket ..."
        deadline overall = deadline::never();
        std::optional<std::chrono::milliseconds> stall;  ///< no event for this long is a stall
    };

    /// Why the watchdog stopped the operation.
    enum class reason { none, stopped, deadline, stall };

    explicit watchdog(options o, std::stop_token parent = {})
        : opts_(std::move(o)),
          last_activity_(clock::now().time_since_epoch().count()),
          parent_stop_(parent, [this] { fire(reason::stopped); }) {
        if (!opts_.overall.is_never() || opts_.stall) timer_ = std::jthread([this](std::stop_token own) { watch(own); });
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    ~watchdog() = default;  // the jthread is stopped and joined first (declared last)

    /// The token to hand to the operation.
    std::stop_token token() const noexcept { return source_.get_token(); }

    /// Activity: resets the stall timer. Cheap, any thread.
    void kick() noexcept { last_activity_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed); }

    /// An event: kick(), and remember the step for the timeout's message.
    void observe(const build_event& e) {
        kick();
        if (const auto* s = std::get_if<events::step>(&e)) {
            std::lock_guard lock(mutex_);
            last_step_ = s->total > 0 ? fmt::format("step {}/{}: {}", s->index, s->total, s->instruction)
                                      : fmt::format("step {}: {}", s->index, s->instruction);
        }
    }

    /// An event sink that observes each event, then hands it to `inner`.
    template <class Sink>
    auto wrap(Sink inner) {
        return [this, inner = std::move(inner)](const build_event& e) mutable {
            observe(e);
            if constexpr (requires { static_cast<bool>(inner); }) {
                if (inner) inner(e);
            } else {
                inner(e);
            }
        };
    }

    reason fired() const noexcept { return reason_.load(); }

    /// The last step observed ("step 3/7: RUN make"), empty when none.
    std::string last_step() const {
        std::lock_guard lock(mutex_);
        return last_step_;
    }

    /// The error that says why the watchdog stopped the operation (a
    /// timeout naming the limit and the last step; cancelled for the caller's
    /// stop request). Meaningful once fired() is not reason::none.
    error failure() const {
        const auto step = last_step();
        const auto seen = step.empty() ? std::string("no build step was seen")
                                       : fmt::format("the last step seen was {}", step);
        switch (fired()) {
            case reason::stall:
                return error(errc::timeout, fmt::format("{} stalled: no output for {} s; {}", opts_.what,
                                                        seconds_text(*opts_.stall), seen));
            case reason::deadline:
                return error(errc::timeout, fmt::format("{} did not finish in time (its overall limit passed); {}",
                                                        opts_.what, seen));
            case reason::stopped:
            case reason::none:
                break;
        }
        return error(errc::cancelled, fmt::format("{} was cancelled; {}", opts_.what, seen));
    }

    /// Runs `operation(token())`. When the watchdog stopped it, the
    /// cancelled (or timeout) it threw becomes failure(): a timeout naming the
    /// limit, or cancelled for the caller's stop request. Other errors pass
    /// unchanged, and an operation that returned finished: its result stands.
    template <class Operation>
    auto run(Operation&& operation) -> decltype(operation(std::stop_token{})) {
        try {
            return operation(token());
        } catch (const error& e) {
            if (fired() != reason::none && (e.value() == errc::cancelled || e.value() == errc::timeout)) throw failure();
            throw;
        }
    }

private:
    static std::string seconds_text(std::chrono::milliseconds d) {
        if (d.count() % 1000 == 0) return fmt::format("{}", d.count() / 1000);
        return fmt::format("{:.3f}", static_cast<double>(d.count()) / 1000.0);
    }

    void fire(reason r) {
        reason expected = reason::none;
        if (reason_.compare_exchange_strong(expected, r)) source_.request_stop();
    }

    void watch(std::stop_token own) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        while (!own.stop_requested() && fired() == reason::none) {
            const auto now = clock::now();
            if (opts_.overall.expired(now)) {
                fire(reason::deadline);
                return;
            }
            auto wake = opts_.overall.when().value_or(clock::time_point::max());
            if (opts_.stall) {
                const auto last = clock::time_point(clock::duration(last_activity_.load(std::memory_order_relaxed)));
                const auto stall_at = last + *opts_.stall;
                if (now >= stall_at) {
                    fire(reason::stall);
                    return;
                }
                wake = std::min(wake, stall_at);
            }
            cv.wait_until(lock, own, wake, [] { return false; });
        }
    }

    options opts_;
    std::stop_source source_;
    std::atomic<reason> reason_{reason::none};
    std::atomic<clock::rep> last_activity_;
    mutable std::mutex mutex_;
    std::string last_step_;
    std::stop_callback<std::function<void()>> parent_stop_;
    std::jthread timer_;  // last: stopped and joined before the rest goes
};

/// A Logger that reports every event to a watchdog (so a build that keeps
/// talking never stalls), then forwards it to the Logger it wraps.
template <Logger L>
class watched_logger {
public:
    watched_logger(L& inner, watchdog& dog) noexcept : inner_(inner), dog_(dog) {}
    void log(log_level level, std::string_view message) {
        dog_.kick();
        inner_.log(level, message);
    }
    void on_event(const build_event& e) {
        dog_.observe(e);
        inner_.on_event(e);
    }

private:
    L& inner_;
    watchdog& dog_;
};

}  // namespace rtb
