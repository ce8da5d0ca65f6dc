// The Runtime API server's builds: a bounded queue of submitted builds, the
// records of their states (the states GET /build_status names), expiry, and
// cancellation. Workers take builds with next(); readers ask status();
// options::observe hears every state change (the server's metrics).
// A build belongs to the tenant that submitted it: status() and cancel()
// for another owner answer exactly as for an unknown id. Ids are 128 random
// bits (build_id.hpp); error records are cut to a bounded size.
// Time comes from an injected clock, so tests step through expiry without
// waiting; the server uses steady_clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/serve/build_id.hpp"
#include "rtb/stream/runtime_api.hpp"

namespace rtb::serve {

/// A build's state as a reader sees it.
struct build_status_view {
    std::string id;
    remote_build_state state = remote_build_state::queued;
    std::string image;
    std::string image_id;  ///< the built image's id (success only)
    std::string error;
};

/// `Job` is what a worker needs to run a build (the checked context, the
/// image names); it is destroyed (its files removed) once the build is
/// finished, cancelled or expired.
template <class Job>
class build_queue {
public:
    using clock = std::chrono::steady_clock;
    /// A build leaving QUEUED (for WORKING or a final state) or WORKING (for
    /// a final state), as options::observe hears it: what metrics need.
    struct transition {
        const Job* job;  ///< the build's job (null only if it is already gone)
        const std::string* owner;  ///< the tenant that submitted it
        remote_build_state from, to;
        clock::duration in_state;  ///< how long the build was in `from`
    };

    struct options {
        std::size_t max_queued = 64;                              ///< waiting builds; more are refused
        std::chrono::milliseconds max_wait{30 * 60 * 1000};       ///< in the queue longer: EXPIRED
        std::chrono::milliseconds keep_finished{60 * 60 * 1000};  ///< records of finished builds are kept this long
        std::size_t max_records = 10'000;                         ///< finished records beyond this go, oldest first
        std::size_t max_error_bytes = 16 * 1024;                  ///< a longer error record keeps its head and tail
        std::function<clock::time_point()> now = [] { return clock::now(); };
        /// Told of every transition, under the queue's lock: keep it short and
        /// never call back into the queue. What it throws is ignored.
        std::function<void(const transition&)> observe;
    };

    /// What next() hands a worker.
    struct work {
        std::string id;
        std::shared_ptr<Job> job;
        std::stop_token stop;  ///< requested by cancel() and shutdown()
    };

    explicit build_queue(options o) : opts_(std::move(o)) {}
    build_queue() : build_queue(options{}) {}

    /// Queues a build for `owner` (its tenant); returns its id (new_build_id():
    /// "b-" and 128 random bits in hex). Throws server_error (HTTP 503) when
    /// the queue is full or shut down.
    std::string submit(Job job, std::string owner) {
        std::lock_guard lock(mutex_);
        sweep_locked(opts_.now());
        if (closed_) throw error(errc::server_error, "the server is shutting down");
        if (queue_.size() >= opts_.max_queued)
            throw error(errc::server_error,
                        fmt::format("the build queue is full ({} builds waiting); try again later", queue_.size()));
        std::string id = new_build_id();
        while (records_.contains(id)) id = new_build_id();  // 2^-128: never, but cheap to be sure
        record r;
        r.owner = std::move(owner);
        r.state = remote_build_state::queued;
        r.job = std::make_shared<Job>(std::move(job));
        r.created = opts_.now();
        records_.emplace(id, std::move(r));
        queue_.push_back(id);
        cv_.notify_one();
        return id;
    }

    /// The next build to run (marked WORKING), waiting until there is one;
    /// std::nullopt once `stop` is requested or the queue is shut down.
    /// Builds that waited longer than max_wait are marked EXPIRED instead.
    std::optional<work> next(std::stop_token stop) {
        std::unique_lock lock(mutex_);
        while (true) {
            sweep_locked(opts_.now());
            while (!queue_.empty()) {
                const std::string id = queue_.front();
                queue_.pop_front();
                auto it = records_.find(id);
                if (it == records_.end() || it->second.state != remote_build_state::queued) continue;
                auto& r = it->second;
                r.state = remote_build_state::working;
                r.started = opts_.now();
                tell(r, remote_build_state::queued, r.started - r.created);
                return work{id, r.job, r.stop.get_token()};
            }
            if (closed_ || stop.stop_requested()) return std::nullopt;
            cv_.wait_for(lock, stop, std::chrono::seconds(1), [&] { return closed_ || !queue_.empty(); });
            if (stop.stop_requested() && queue_.empty()) return std::nullopt;
        }
    }

    /// Records a worker's outcome. A build cancelled while it ran stays
    /// CANCELLED whatever the worker reports.
    void finish(const std::string& id, remote_build_state state, std::string image = {}, std::string message = {},
                std::string image_id = {}) {
        std::lock_guard lock(mutex_);
        auto it = records_.find(id);
        if (it == records_.end()) return;
        auto& r = it->second;
        if (r.stop.stop_requested() && r.cancelled) state = remote_build_state::cancelled;
        if (state == remote_build_state::cancelled && message.empty()) message = "the build was cancelled";
        const auto from = r.state;
        r.state = state;
        r.image = std::move(image);
        r.image_id = std::move(image_id);
        r.error = bounded_error(std::move(message), opts_.max_error_bytes);
        r.finished = opts_.now();
        if (from == remote_build_state::working)
            tell(r, from, r.finished - r.started);
        else if (from == remote_build_state::queued)
            tell(r, from, r.finished - r.created);
        r.job.reset();
        finished_order_.push_back(id);
        cv_.notify_all();
    }

    /// The build's state; std::nullopt for an unknown id (never issued, or
    /// its record was dropped after keep_finished) and for a build `owner`
    /// did not submit (indistinguishable from an unknown one).
    std::optional<build_status_view> status(const std::string& id, std::string_view owner) {
        std::lock_guard lock(mutex_);
        sweep_locked(opts_.now());
        auto it = records_.find(id);
        if (it == records_.end() || it->second.owner != owner) return std::nullopt;
        return view(it->first, it->second);
    }

    /// Cancels a build: a queued one at once (CANCELLED), a running one
    /// through its stop token (CANCELLED once its worker stops). Returns the
    /// state after the call; std::nullopt for an unknown id or another
    /// owner's build (nothing is cancelled). A finished build keeps its state.
    std::optional<build_status_view> cancel(const std::string& id, std::string_view owner) {
        std::lock_guard lock(mutex_);
        sweep_locked(opts_.now());
        auto it = records_.find(id);
        if (it == records_.end() || it->second.owner != owner) return std::nullopt;
        auto& r = it->second;
        if (r.state == remote_build_state::queued) {
            r.state = remote_build_state::cancelled;
            r.error = "the build was cancelled before it started";
            r.finished = opts_.now();
            tell(r, remote_build_state::queued, r.finished - r.created);
            r.job.reset();
            finished_order_.push_back(id);
        } else if (r.state == remote_build_state::working) {
            r.cancelled = true;
            r.stop.request_stop();
        }
        return view(it->first, r);
    }

    /// Stops taking builds: waiting ones are CANCELLED, running ones asked to
    /// stop, workers' next() returns std::nullopt.
    void shutdown() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        const auto now = opts_.now();
        for (auto& [id, r] : records_) {
            if (r.state == remote_build_state::queued) {
                r.state = remote_build_state::cancelled;
                r.error = "the server shut down before the build started";
                tell(r, remote_build_state::queued, now - r.created);
                r.job.reset();
            } else if (r.state == remote_build_state::working) {
                r.cancelled = true;
                r.stop.request_stop();
            }
        }
        queue_.clear();
        cv_.notify_all();
    }

    /// Counts by state, for tests and logs.
    std::size_t waiting() const {
        std::lock_guard lock(mutex_);
        return queue_.size();
    }
    std::size_t records() const {
        std::lock_guard lock(mutex_);
        return records_.size();
    }

    /// Builds waiting and running now (expired ones are marked first).
    struct counts {
        std::size_t queued = 0, working = 0;
    };
    counts count() {
        std::lock_guard lock(mutex_);
        sweep_locked(opts_.now());
        counts c;
        for (const auto& entry : records_) {
            if (entry.second.state == remote_build_state::queued) ++c.queued;
            else if (entry.second.state == remote_build_state::working) ++c.working;
        }
        return c;
    }

private:
    struct record {
        remote_build_state state = remote_build_state::queued;
        std::string owner;
        std::string image, image_id, error;
        std::shared_ptr<Job> job;
        std::stop_source stop;
        bool cancelled = false;
        clock::time_point created{}, started{}, finished{};
    };

    // Tells options::observe that `r` left `from` (r.state is the new state).
    void tell(const record& r, remote_build_state from, clock::duration in_state) noexcept {
        if (!opts_.observe) return;
        try {
            opts_.observe(transition{r.job.get(), &r.owner, from, r.state, in_state});
        } catch (...) {
        }
    }

    static build_status_view view(const std::string& id, const record& r) { return {id, r.state, r.image, r.image_id, r.error}; }

    // An error record of at most `max` bytes: the head (what failed) and the
    // tail (the log's last lines), with what was cut in between.
    static std::string bounded_error(std::string message, std::size_t max) {
        if (message.size() <= max || max < 256) return message.size() <= max ? message : message.substr(0, max);
        const std::size_t head = max / 4, tail = max - head - 64;
        return fmt::format("{}\n[... {} bytes cut ...]\n{}", message.substr(0, head),
                           message.size() - head - tail, message.substr(message.size() - tail));
    }

    // Expires builds that waited too long; drops old finished records.
    void sweep_locked(clock::time_point now) {
        for (auto& [id, r] : records_) {
            if (r.state == remote_build_state::queued && now - r.created > opts_.max_wait) {
                r.state = remote_build_state::expired;
                r.error = fmt::format("the build waited in the queue for more than {} s and never ran",
                                      std::chrono::duration_cast<std::chrono::seconds>(opts_.max_wait).count());
                r.finished = now;
                tell(r, remote_build_state::queued, now - r.created);
                r.job.reset();
                finished_order_.push_back(id);
            }
        }
        while (!finished_order_.empty()) {
            auto it = records_.find(finished_order_.front());
            const bool too_many = finished_order_.size() > opts_.max_records;
            if (it != records_.end() && !too_many && now - it->second.finished <= opts_.keep_finished) break;
            if (it != records_.end()) records_.erase(it);
            finished_order_.pop_front();
        }
    }

    options opts_;
    mutable std::mutex mutex_;
    std::condition_variable_any cv_;
    std::map<std::string, record> records_;
    std::deque<std::string> queue_;
    std::deque<std::string> finished_order_;
    bool closed_ = false;
};

}  // namespace rtb::serve
