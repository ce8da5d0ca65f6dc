// A work queue for tree walks: workers take tasks, may add more, and the walk
// ends when the queue is empty and every worker is idle. The first exception
// stops everyone and is rethrown to the caller.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "rtb/detail/parallel.hpp"

namespace rtb::detail {

template <class Task>
class work_queue {
public:
    void push(Task task) {
        {
            std::lock_guard lock(m_);
            q_.push_back(std::move(task));
        }
        cv_.notify_one();
    }

    /// Runs `work(task, queue)` for every task, the initial ones and those the
    /// workers push, on up to `jobs` threads (0: every core).
    template <class Work>
    void run(unsigned jobs, Work&& work) {
        if (jobs == 0) jobs = default_jobs();
        busy_ = static_cast<int>(jobs);
        auto worker = [&] {
            try {
                Task task;
                while (pop(task)) work(task, *this);
            } catch (...) {
                std::lock_guard lock(m_);
                if (!failure_) failure_ = std::current_exception();
                stop_ = true;
                cv_.notify_all();
            }
        };
        {
            std::vector<std::jthread> pool;
            for (unsigned t = 1; t < jobs; ++t) pool.emplace_back(worker);
            worker();
        }
        if (failure_) std::rethrow_exception(failure_);
    }

private:
    bool pop(Task& out) {
        std::unique_lock lock(m_);
        if (--busy_ == 0 && q_.empty()) cv_.notify_all();
        cv_.wait(lock, [&] { return !q_.empty() || busy_ == 0 || stop_; });
        if (stop_ || q_.empty()) return false;
        out = std::move(q_.front());
        q_.pop_front();
        ++busy_;
        return true;
    }

    std::mutex m_;
    std::condition_variable cv_;
    std::deque<Task> q_;
    int busy_ = 0;
    bool stop_ = false;
    std::exception_ptr failure_;
};

}  // namespace rtb::detail
