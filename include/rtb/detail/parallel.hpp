// parallel_for: run f(i) for i in [0, n) on up to `jobs` threads (the calling
// thread included). The first exception stops the others and is rethrown.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace rtb::detail {

/// Number of worker threads to use when the caller says 0 ("all cores").
inline unsigned default_jobs() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

template <class F>
void parallel_for(std::size_t n, unsigned jobs, F&& f) {
    if (jobs == 0) jobs = default_jobs();
    const auto threads = static_cast<unsigned>(std::min<std::size_t>(jobs, n));
    if (threads <= 1) {
        for (std::size_t i = 0; i < n; ++i) f(i);
        return;
    }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto work = [&] {
        try {
            for (std::size_t i; !failed.load(std::memory_order_relaxed) &&
                                (i = next.fetch_add(1, std::memory_order_relaxed)) < n;)
                f(i);
        } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
            failed = true;
        }
    };
    {
        std::vector<std::jthread> pool;
        pool.reserve(threads - 1);
        for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
        work();
    }  // joins
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace rtb::detail
