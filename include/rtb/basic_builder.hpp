// basic_builder declared: the class, its options and its result, without
// the build flow's code (rtb/builder.hpp defines the member functions).
//
// To compose a builder of your own policies, include rtb/builder.hpp. This
// header alone serves a unit that uses a builder instantiated elsewhere:
// rtb/docker_builder.hpp includes only it under RTB_SEPARATE_COMPILATION,
// where librtb (rtb/src.hpp) compiles the stock aliases once; a unit that
// instantiates another builder from this header alone fails to link, naming
// the member function it lacks.
#pragma once

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/context/runtime_context_options.hpp"
#include "rtb/hooks/build_hooks.hpp"
#include "rtb/plan.hpp"
#include "rtb/policy/build_cache.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/storage.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/tags/tag_set.hpp"

namespace rtb {

// The default TagStrategy and Logger (rtb/tags/openhands_tags.hpp,
// rtb/policy/stderr_logger.hpp): declared only, so that this header does not
// parse them; a builder that uses a default includes its header (as
// rtb/builder.hpp and rtb/docker_builder.hpp do).
class openhands_tags;
class stderr_logger;

class build_context;  // rtb/context/build_context.hpp

/// Where the builder found an existing image.
enum class image_location {
    none,      ///< not found (or not asked: a scratch or forced build)
    engine,    ///< in the engine's (or the build service's) own store
    registry,  ///< only in its registry (lookup::local_then_registry): another host pushed it
};

constexpr std::string_view to_string(image_location l) noexcept {
    switch (l) {
        case image_location::none: return "none";
        case image_location::engine: return "engine";
        case image_location::registry: return "registry";
    }
    return "?";
}

/// What build_runtime_image() did.
struct runtime_image {
    std::string image;                      ///< the source-tagged image: what to run
    plan_kind plan = plan_kind::scratch;    ///< the plan taken (reuse: nothing was built)
    std::string from_image;                 ///< what the build started FROM; empty for reuse
    std::vector<std::string> tags_applied;  ///< full names the build applied; empty for reuse and dry runs
    std::string image_id;                   ///< the built image's id; empty for reuse and dry runs
    /// Where the image the plan rests on was found: the source image for a
    /// reuse, the lock or versioned image for those plans; none for scratch.
    /// A build on an image found in the registry pulls it first (the engine
    /// does, as part of the build).
    image_location found = image_location::none;
    /// Full names pushed to their registry (builder_options::push): the tags
    /// the build applied, or for a reuse those the registry lacked.
    std::vector<std::string> tags_pushed;
    tag_set tags;                           ///< the three tags
    bool dry_run = false;                   ///< planned only: nothing was built
    bool waited = false;                    ///< waited for another build of the same tag (then reused it)
    std::size_t context_entries = 0;        ///< files, links and folders sent (or that would be)
    std::uint64_t bytes_sent = 0;           ///< context bytes sent to the engine or service (0: none, or unknown)
    /// Per phase. Tagging has no phase of its own: the engine applies the
    /// tags when the build succeeds (so no failed image is ever tagged).
    struct timings {
        std::chrono::milliseconds tags{0};     ///< hashing the inputs
        std::chrono::milliseconds lookup{0};   ///< planning: existence queries (and waiting for another build)
        std::chrono::milliseconds context{0};  ///< assembling the context (a dry run: writing the folder)
        std::chrono::milliseconds build{0};    ///< the engine's build, retries included
        std::chrono::milliseconds push{0};     ///< pushing (and asking the registry what it lacks), retries included
        std::chrono::milliseconds total{0};
    } timings;
    /// The image cache answered: an image for these exact inputs existed and nothing was built.
    bool cache_hit() const noexcept { return plan == plan_kind::reuse; }
};

/// How a builder goes about it.
struct builder_options {
    /// Where existence is asked (lookup::local_then_registry also finds
    /// images another machine pushed, without pulling them).
    lookup existence = lookup::local;
    /// The limit for one build, retries included.
    std::chrono::milliseconds build_timeout = std::chrono::minutes(30);
    /// After a successful build, push every tag it applied to its registry;
    /// for a reuse, push the tags (source, lock, versioned) the engine has
    /// and the registry lacks (asked first: a manifest HEAD each). Other
    /// hosts asking the registry then reuse the image, or build on its lock
    /// image, instead of building it again. Needs an ImagePublishing
    /// Transport. A failed push is errc::push_failed: the image is built and
    /// tagged locally; only its push failed.
    bool push = false;
    /// The limit for one push (retries included); a stall_timeout applies too.
    std::chrono::milliseconds push_timeout = std::chrono::minutes(30);
    /// No build output for this long stops the build as stalled; unset: no limit.
    std::optional<std::chrono::milliseconds> stall_timeout;
    /// Lock files (one per source tag) that make concurrent processes build
    /// a tag once; default: cache_directory()/locks.
    std::filesystem::path lock_directory;
    /// Labels added to every image built (rtb's own labels win).
    std::map<std::string, std::string> labels;
    runtime_context_options context;
    /// Free space checked before each build (not for a reuse or a dry run).
    storage_options storage;
    /// Called before and after builds and on errors (rtb/hooks/build_hooks.hpp).
    build_hooks hooks;
};

/// Per call.
struct build_call_options {
    /// Plan and assemble the context, build nothing. With `build_folder`, the
    /// context is written there for inspection.
    bool dry_run = false;
    /// Write the context to this (new or empty) folder and build from it; it
    /// is the caller's and stays. Unset: the context streams from memory
    /// and the source files, and no folder is made.
    std::optional<std::filesystem::path> build_folder;
    std::stop_token stop;
};

/// The builder. The policies are held by value, in this order; the defaults
/// are the ones rtb's own aliases use: the engine's layer cache, retries
/// with backoff for what can succeed later, OpenHands' tags, progress on
/// stderr.
template <Transport T, CachePolicy C = engine_layer_cache, RetryPolicy R = exponential_backoff,
          TagStrategy S = openhands_tags, Logger L = stderr_logger>
class basic_builder {
public:
    using transport_type = T;
    using cache_policy_type = C;
    using retry_policy_type = R;
    using tag_strategy_type = S;
    using logger_type = L;

    basic_builder() requires(std::default_initializable<T> && std::default_initializable<C> &&
                             std::default_initializable<R> && std::default_initializable<S> &&
                             std::default_initializable<L>)
        : basic_builder(T{}, C{}, R{}, S{}, L{}) {}

    basic_builder(T transport, C cache, R retry, S strategy, L logger, builder_options options = {});

    basic_builder(const basic_builder&) = delete;
    basic_builder& operator=(const basic_builder&) = delete;

    /// Builds (or reuses) the runtime image for `spec`; see the top of this file.
    /// Errors: invalid_argument (the spec, the template), io_error (the
    /// source), build_failed (with the exit code, the failing step and the
    /// log's tail), timeout, cancelled, and the transport's.
    runtime_image build_runtime_image(const runtime_spec& spec, const build_call_options& call = {});

    /// The plan build_runtime_image() would take now, with nothing written.
    build_plan plan(const runtime_spec& spec);

    T& transport() noexcept { return transports_.prototype(); }
    C& cache_policy() noexcept { return cache_; }
    R& retry_policy() noexcept { return retry_; }
    const S& tag_strategy() const noexcept { return strategy_; }
    L& logger() noexcept { return logger_; }
    const builder_options& options() const noexcept { return options_; }

    /// Prunes the build cache (CachePolicy::maintain()).
    void maintain_cache() {
        std::lock_guard lock(policy_mutex_);
        cache_.maintain();
    }

private:
    using clock = std::chrono::steady_clock;
    static std::chrono::milliseconds since(clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t);
    }

    struct shared_build {
        std::promise<runtime_image> promise;
        std::shared_future<runtime_image> result = promise.get_future().share();
    };

    /// Hands out a Transport per concurrent build: the one given, or copies of it.
    class transport_pool {
    public:
        explicit transport_pool(T first) {
            idle_.push_back(std::make_unique<T>(std::move(first)));
            prototype_ = idle_.front().get();
        }

        struct lease {
            transport_pool* pool;
            std::unique_ptr<T> t;
            lease(transport_pool* p, std::unique_ptr<T> x) : pool(p), t(std::move(x)) {}
            lease(lease&&) = default;
            ~lease() {
                if (t) pool->give_back(std::move(t));
            }
            T& operator*() noexcept { return *t; }
            T* operator->() noexcept { return t.get(); }
        };

        lease acquire() {
            std::unique_lock lock(mutex_);
            if constexpr (std::copy_constructible<T>) {
                if (idle_.empty()) {
                    lock.unlock();
                    return lease(this, std::make_unique<T>(prototype_copy()));
                }
            } else {
                idle_cv_.wait(lock, [&] { return !idle_.empty(); });
            }
            auto t = std::move(idle_.back());
            idle_.pop_back();
            return lease(this, std::move(t));
        }

        /// The first Transport (for calls the builder does not make).
        T& prototype() noexcept { return *prototype_; }

    private:
        T prototype_copy() {
            std::lock_guard lock(copy_mutex_);
            return T(*prototype_);
        }
        void give_back(std::unique_ptr<T> t) {
            std::lock_guard lock(mutex_);
            idle_.push_back(std::move(t));
            idle_cv_.notify_one();
        }
        std::mutex mutex_, copy_mutex_;
        std::condition_variable idle_cv_;
        std::vector<std::unique_ptr<T>> idle_;
        T* prototype_ = nullptr;
    };

    /// The Logger, one call at a time.
    struct locked_logger {
        basic_builder* b;
        void log(log_level level, std::string_view message) {
            std::lock_guard lock(b->logger_mutex_);
            b->logger_.log(level, message);
        }
        void on_event(const build_event& e) {
            std::lock_guard lock(b->logger_mutex_);
            b->logger_.on_event(e);
        }
    };

    /// Keeps the build's last output lines for on_error hooks.
    struct tail_logger {
        locked_logger& inner;
        std::deque<std::string>& lines;
        void log(log_level level, std::string_view message) { inner.log(level, message); }
        void on_event(const build_event& e) {
            if (const auto* l = std::get_if<events::log_line>(&e)) {
                lines.push_back(l->text);
                if (lines.size() > 20) lines.pop_front();
            }
            inner.on_event(e);
        }
    };

    /// Free space where the engine keeps its data (when the Transport can
    /// say where) and in the cache directory; below a threshold, the
    /// storage.on_low callback may free some, else the build stops here.
    void ensure_storage(T& t, std::stop_token stop, locked_logger& log);

    static void check_spec(const runtime_spec& spec);

    void finish_shared(const std::shared_ptr<shared_build>& b, runtime_image result, std::exception_ptr failure);

    /// Another call of this builder is building the same tag: wait for it.
    /// Its image is reused; its failure is ours too.
    runtime_image wait_for(std::shared_future<runtime_image> theirs, runtime_image out, clock::time_point started,
                           std::stop_token stop);

    /// The plan from what exists; `found` says where the image it rests on
    /// is. `source_absent`: the source image was just asked about and is
    /// not there (not asked again).
    build_plan decide(T& t, const runtime_spec& spec, const tag_set& tags, image_location& found,
                      bool source_absent = false, std::stop_token stop = {});

    /// Where `ref` is, as builder_options::existence asks: the engine's store
    /// first; with lookup::local_then_registry, then its registry alone.
    image_location locate(T& t, const image_ref& ref, std::stop_token stop);

    std::filesystem::path lock_file(const std::string& image) const;

    // The context, its Dockerfile ending in one LABEL line with `labels`.
    build_context context_for(const runtime_spec& spec, const build_plan& plan,
                              const std::map<std::string, std::string>& labels) const;

    std::map<std::string, std::string> labels_for(const runtime_spec& spec, const runtime_image& img) const;

    runtime_image plan_and_build(const runtime_spec& spec, const build_call_options& call, runtime_image& out,
                                 clock::time_point started, std::deque<std::string>& tail,
                                 std::shared_ptr<const hashed_files> hashed);

    /// Pushes `names` (tags the build applied), each under the RetryPolicy,
    /// the push deadline and the stall limit. A failure is push_failed,
    /// saying the build succeeded and which tag did not reach its registry.
    void push_all(T& t, runtime_image& out, const std::vector<std::string>& names, std::stop_token stop,
                  locked_logger& log);

    /// For a reuse: the tags the engine has and the registry lacks are
    /// pushed (a manifest HEAD each first); an image found only in the
    /// registry has nothing to push.
    void push_missing(T& t, runtime_image& out, std::stop_token stop, locked_logger& log);

    void push_one(T& t, runtime_image& out, const std::string& name, std::stop_token stop, locked_logger& log);

    static error push_error(const runtime_image& out, const std::string& name, const error& cause,
                            std::string_view doing);
    /// retry() with the RetryPolicy under the policy lock (the waits are not).
    template <class Operation>
    auto retry_locked(std::stop_token stop, Operation&& op, locked_logger& log);

    static std::string short_id(std::string_view id) {
        if (id.starts_with("sha256:")) id.remove_prefix(7);
        return std::string(id.substr(0, 12));
    }

    static void write_build_folder(const build_context& context, const std::filesystem::path& folder);

    transport_pool transports_;
    C cache_;
    R retry_;
    S strategy_;
    L logger_;
    builder_options options_;
    std::mutex logger_mutex_, policy_mutex_, builds_mutex_;
    std::map<std::string, std::shared_ptr<shared_build>> builds_;
};

}  // namespace rtb
