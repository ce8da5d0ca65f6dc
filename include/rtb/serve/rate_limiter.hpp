// A per-client rate limit for the Runtime API server: one token bucket per
// API key (a burst, refilled at a steady rate). Pure: the caller passes the
// time, so tests drive it with a fake clock; the server passes steady_clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace rtb::serve {

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;
    struct options {
        double per_second = 50;  ///< sustained requests per second and key
        double burst = 100;      ///< requests allowed at once
    };

    explicit rate_limiter(options o) : opts_(o) {}
    rate_limiter() : rate_limiter(options{}) {}

    /// Takes one token from `key`'s bucket. std::nullopt: allowed; else how
    /// long until a token is there (for Retry-After, at least 1 ms).
    std::optional<std::chrono::milliseconds> take(std::size_t key, clock::time_point now) {
        std::lock_guard lock(mutex_);
        auto [it, fresh] = buckets_.try_emplace(key, bucket{opts_.burst, now});
        auto& b = it->second;
        if (!fresh && now > b.last) {
            const double elapsed = std::chrono::duration<double>(now - b.last).count();
            b.tokens = std::min(opts_.burst, b.tokens + elapsed * opts_.per_second);
            b.last = now;
        }
        if (b.tokens >= 1) {
            b.tokens -= 1;
            return std::nullopt;
        }
        const double wait_s = (1 - b.tokens) / opts_.per_second;
        return std::max(std::chrono::milliseconds(1),
                        std::chrono::milliseconds(static_cast<long long>(std::ceil(wait_s * 1000))));
    }

private:
    struct bucket {
        double tokens;
        clock::time_point last;
    };
    options opts_;
    std::mutex mutex_;
    std::unordered_map<std::size_t, bucket> buckets_;
};

}  // namespace rtb::serve
