// exponential_backoff: the stock RetryPolicy for network calls: full jitter,
// capped, a limit on attempts and on the total time spent waiting, and the
// server's Retry-After honoured.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include "rtb/concepts.hpp"

namespace rtb {

/// Attempt n (counting from 1) that failed with a retryable error waits a
/// random time in [0, min(cap, base * 2^(n-1))] ("full jitter", which spreads
/// clients that failed together). A Retry-After from the server replaces the
/// random delay. Gives up after `max_attempts` attempts, when the next wait
/// would take the total waited past `budget`, or at once for errors that are
/// not retryable (see rtb::error::retryable()).
class exponential_backoff {
public:
    using duration = std::chrono::milliseconds;
    struct options {
        duration base{200};
        duration cap{30'000};
        int max_attempts = 5;
        duration budget{120'000};
        std::uint64_t seed = std::random_device{}();
    };

    exponential_backoff() : exponential_backoff(options{}) {}
    explicit exponential_backoff(options o) : opt_(o), rng_(o.seed) {}

    std::optional<duration> next_delay(int attempt, const error& e) {
        if (!e.retryable() || attempt >= opt_.max_attempts) return std::nullopt;
        duration delay;
        if (const auto after = e.retry_after()) {
            delay = *after;
        } else {
            const int shift = std::clamp(attempt - 1, 0, 30);
            const auto ceiling = std::min<std::int64_t>(opt_.cap.count(), opt_.base.count() << shift);
            delay = duration(std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(ceiling, 0))(rng_));
        }
        if (waited_ + delay > opt_.budget) return std::nullopt;
        waited_ += delay;
        return delay;
    }

    /// Total time this policy has told callers to wait.
    duration waited() const noexcept { return waited_; }

private:
    options opt_;
    std::mt19937_64 rng_;
    duration waited_{0};
};
static_assert(RetryPolicy<exponential_backoff>);

}  // namespace rtb
