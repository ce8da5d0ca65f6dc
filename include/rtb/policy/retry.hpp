// retry(): runs an operation under a RetryPolicy, sleeping between attempts
// in a way a stop request interrupts at once.
#pragma once

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <utility>

#include <fmt/format.h>

#include "rtb/concepts.hpp"

namespace rtb {

/// Sleeps for `d` unless `stop` is requested first; returns false if stopped.
inline bool interruptible_sleep(std::chrono::milliseconds d, std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, d, [] { return false; });  // wakes on the stop request or the timeout
    return !stop.stop_requested();
}

/// Calls `operation(attempt)` (attempt counts from 1) until it returns, the
/// policy gives up (the last error is rethrown), or `stop` is requested
/// (rtb::error(cancelled)). Only rtb::error is retried; other exceptions
/// pass. Before each wait, `on_retry(attempt, error, delay)` is told (for a
/// Logger: "attempt 2 failed: ...; retrying in 400 ms"); it may throw to give
/// up early.
template <RetryPolicy Policy, class Operation, class Observer>
    requires std::invocable<Observer&, int, const error&, std::chrono::milliseconds>
auto retry(Policy& policy, std::stop_token stop, Operation&& operation, Observer&& on_retry)
    -> decltype(operation(1)) {
    for (int attempt = 1;; ++attempt) {
        if (stop.stop_requested()) throw error(errc::cancelled, "cancelled before the operation started");
        try {
            return operation(attempt);
        } catch (const error& e) {
            if (e.value() == errc::cancelled) throw;
            const auto delay = policy.next_delay(attempt, e);
            if (!delay) throw;
            on_retry(attempt, e, *delay);
            if (!interruptible_sleep(*delay, stop))
                throw error(errc::cancelled, fmt::format("cancelled while waiting to retry after: {}", e.what()));
        }
    }
}

/// retry() without an observer.
template <RetryPolicy Policy, class Operation>
auto retry(Policy& policy, std::stop_token stop, Operation&& operation) -> decltype(operation(1)) {
    return retry(policy, std::move(stop), std::forward<Operation>(operation),
                 [](int, const error&, std::chrono::milliseconds) {});
}

}  // namespace rtb
