// basic_builder: the runtime build flow, assembled from five policies.
//
//     rtb::docker_builder builder;                 // rtb/docker_builder.hpp: the engine at DOCKER_HOST
//     rtb::runtime_spec spec{.base_image = "python:3.12-slim", .source_dir = "src", ...};
//     auto image = builder.build_runtime_image(spec);
//     // image.image: "ghcr.io/openhands/runtime:oh_v1.0_..."; image.plan: reuse, lock, versioned or scratch
//
// The flow (docs/builder.md): tags from the TagStrategy -> does the
// source-tagged image exist? (reuse: done) -> a lock file per source tag,
// so a second process waits and then reuses -> plan_build() on what exists
// -> the context for the plan (the template section, lock files, the source
// as the TagStrategy filters it, so the tags cover exactly what is sent) ->
// the build under the RetryPolicy, an overall deadline and the CachePolicy's
// options, events to the Logger -> the engine applies the plan's tags only
// when the build succeeds.
//
// This header knows the policies only through rtb/concepts.hpp; each stock
// Transport's builder alias lives with it (rtb/docker_builder.hpp,
// rtb/cli_builder.hpp, rtb/remote_builder.hpp), and rtb/any_transport.hpp
// and its siblings hold policies chosen at run time.
//
// Thread safety: build_runtime_image() may be called from several threads.
// Calls for the same source tag share one build. Each concurrent build needs
// a Transport of its own: a copyable Transport (docker_engine) is copied per
// thread; a move-only one is shared and builds take turns. The Logger,
// RetryPolicy and CachePolicy are called under a lock, one call at a time.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <xxhash.h>

#include "rtb/build_types.hpp"
#include "rtb/cache_directory.hpp"
#include "rtb/concepts.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/deadline.hpp"
#include "rtb/detail/file_lock.hpp"
#include "rtb/error.hpp"
#include "rtb/hooks/build_hooks.hpp"
#include "rtb/image_labels.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/plan.hpp"
#include "rtb/policy/build_cache.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/storage.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/version.hpp"

namespace rtb {

/// The lock file a build of `image` (a source-tagged name) holds in `dir`
/// (builder_options::lock_directory) while it runs: builds of the same image
/// in other processes wait on it. Another tool may hold it too, to keep rtb
/// from building that image meanwhile.
inline std::filesystem::path build_lock_path(const std::filesystem::path& dir, std::string_view image) {
    return dir / fmt::format("{:016x}.lock", XXH3_64bits(image.data(), image.size()));
}

/// The name to report for an image the caller named `asked` and the
/// Transport stores as `stored` (ImageNaming): the caller's own spelling when
/// both name the same image (an engine keeps names as given; a type-erased
/// Transport answers with the normalized form), else the stored name.
inline std::string reported_name(const std::string& asked, const std::string& stored) {
    try {
        if (image_ref::parse(stored) == image_ref::parse(asked)) return asked;
    } catch (const error&) {
        // not a reference: report it as the Transport gave it
    }
    return stored;
}

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

    std::filesystem::path lock_file(const std::string& image) const { return build_lock_path(options_.lock_directory, image); }

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
    auto retry_locked(std::stop_token stop, Operation&& op, locked_logger& log) {
        struct guarded {
            basic_builder* b;
            std::optional<std::chrono::milliseconds> next_delay(int attempt, const error& e) {
                std::lock_guard lock(b->policy_mutex_);
                return b->retry_.next_delay(attempt, e);
            }
        } policy{this};
        return retry(policy, stop, op, [&](int attempt, const error& e, std::chrono::milliseconds delay) {
            log.log(log_level::warning, fmt::format("attempt {} failed: {}; trying again in {} ms", attempt, e.what(),
                                                    delay.count()));
        });
    }

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

// The member functions, outside the class: not implicitly inline, so an
// explicit instantiation declaration (rtb/docker_builder.hpp in separate
// compilation) keeps a translation unit from compiling them again.

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
basic_builder<T, C, R, S, L>::basic_builder(T transport, C cache, R retry, S strategy, L logger, builder_options options)
                                            : transports_(std::move(transport)),
                                            cache_(std::move(cache)),
                                            retry_(std::move(retry)),
                                            strategy_(std::move(strategy)),
                                            logger_(std::move(logger)),
                                            options_(std::move(options)) {
    if (options_.lock_directory.empty()) options_.lock_directory = cache_directory() / "locks";
    if constexpr (!ImagePublishing<T>) {
        if (options_.push)
            throw error(errc::invalid_argument,
                        "builder_options::push needs a Transport that can push images (ImagePublishing)");
    }
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
runtime_image basic_builder<T, C, R, S, L>::build_runtime_image(const runtime_spec& spec, const build_call_options& call) {
    const auto started = clock::now();
    check_spec(spec);
    runtime_image out;
    out.dry_run = call.dry_run;
    // What the tags hashed, so the context sends exactly that (RecordsHashedFiles).
    auto hashed = std::make_shared<hashed_files>();
    if constexpr (RecordsHashedFiles<S>) out.tags = strategy_.tags(spec, *hashed);
    else out.tags = strategy_.tags(spec);
    out.image = out.tags.source_image();
    out.timings.tags = since(started);

    // Calls for the same source tag share one build (dry runs go their own way).
    std::shared_ptr<shared_build> mine;
    std::shared_future<runtime_image> theirs;
    if (!call.dry_run) {
        std::lock_guard lock(builds_mutex_);
        auto [it, fresh] = builds_.try_emplace(out.image);
        if (fresh) {
            it->second = std::make_shared<shared_build>();
            mine = it->second;
        } else {
            theirs = it->second->result;
        }
    }
    std::deque<std::string> tail;  // the build's last output lines, for on_error
    runtime_image result;
    try {
        if (!mine && theirs.valid()) {
            result = wait_for(std::move(theirs), out, started, call.stop);
        } else {
            try {
                result = plan_and_build(spec, call, out, started, tail, std::move(hashed));
                if (mine) finish_shared(mine, result, nullptr);
            } catch (...) {
                if (mine) finish_shared(mine, {}, std::current_exception());
                throw;
            }
        }
    } catch (const error& e) {
        if (options_.hooks.on_error) {
            const std::vector<std::string> lines =
                e.build() && !e.build()->log_tail.empty() ? e.build()->log_tail
                                                          : std::vector<std::string>(tail.begin(), tail.end());
            options_.hooks.on_error(build_error_event{spec, out, e, lines});
        }
        throw;
    }
    if (options_.hooks.post_build && !result.dry_run) options_.hooks.post_build(post_build_event{spec, result});
    return result;
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
build_plan basic_builder<T, C, R, S, L>::plan(const runtime_spec& spec) {
    check_spec(spec);
    const auto tags = strategy_.tags(spec);
    auto t = transports_.acquire();
    image_location found = image_location::none;
    return decide(*t, spec, tags, found);
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::ensure_storage(T& t, std::stop_token stop, locked_logger& log) {
    const auto& o = options_.storage;
    std::vector<storage_need> needs;
    if constexpr (ReportsStorage<T>) {
        if (o.engine_min_free > 0)
            if (auto root = t.data_root(stop)) needs.push_back({"the engine's data root", *root, o.engine_min_free});
    }
    needs.push_back({"the cache directory", cache_directory(), o.cache_min_free});
    auto findings = check_storage(needs);
    if (!any_low(findings)) return;
    if (o.on_low) {
        for (const auto& f : findings)
            if (f.low()) log.log(log_level::warning, f.describe() + "; freeing space");
        {
            std::lock_guard lock(policy_mutex_);
            o.on_low(findings);
        }
        findings = check_storage(needs);
    }
    if (any_low(findings)) throw low_storage_error(findings);
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::check_spec(const runtime_spec& spec) {
    if (spec.base_image.empty()) throw error(errc::invalid_argument, "the runtime spec has no base image");
    if (spec.source_dir.empty()) throw error(errc::invalid_argument, "the runtime spec has no source folder");
    if (!spec.platform.empty()) check_platform(spec.platform);
    image_ref::parse(spec.base_image);  // names what is wrong with it
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::finish_shared(const std::shared_ptr<shared_build>& b, runtime_image result, std::exception_ptr failure) {
    {
        std::lock_guard lock(builds_mutex_);
        for (auto it = builds_.begin(); it != builds_.end(); ++it)
            if (it->second == b) {
                builds_.erase(it);
                break;
            }
    }
    if (failure) b->promise.set_exception(failure);
    else b->promise.set_value(std::move(result));
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
runtime_image basic_builder<T, C, R, S, L>::wait_for(std::shared_future<runtime_image> theirs, runtime_image out, clock::time_point started,
                                                     std::stop_token stop) {
    while (theirs.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
        if (stop.stop_requested())
            throw error(errc::cancelled, fmt::format("cancelled while waiting for the build of {}", out.image));
    out.image = theirs.get().image;  // rethrows its failure; the name as the Transport stored it
    out.plan = plan_kind::reuse;
    out.waited = true;
    out.timings.lookup = since(started) - out.timings.tags;
    out.timings.total = since(started);
    return out;
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
build_plan basic_builder<T, C, R, S, L>::decide(T& t, const runtime_spec& spec, const tag_set& tags, image_location& found,
                                                bool source_absent, std::stop_token stop) {
    found = image_location::none;
    if (spec.force_rebuild) return plan_build(tags, spec.base_image, {}, true);
    existing_images known;
    auto ask = [&](const std::string& image) {
        found = locate(t, image_ref::parse(image), stop);
        return found != image_location::none;
    };
    if (!source_absent) known.source = ask(tags.source_image());
    if (!known.source) known.lock = ask(tags.lock_image());
    if (!known.source && !known.lock) known.versioned = ask(tags.versioned_image());
    return plan_build(tags, spec.base_image, known, false);
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
image_location basic_builder<T, C, R, S, L>::locate(T& t, const image_ref& ref, std::stop_token stop) {
    if (options_.existence != lookup::local_then_registry)
        return t.image_exists(ref, options_.existence) ? image_location::engine : image_location::none;
    if (t.image_exists(ref, lookup::local)) return image_location::engine;
    if constexpr (ImagePublishing<T>) {
        return t.in_registry(ref, stop) ? image_location::registry : image_location::none;
    } else {
        return t.image_exists(ref, lookup::local_then_registry) ? image_location::registry : image_location::none;
    }
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
build_context basic_builder<T, C, R, S, L>::context_for(const runtime_spec& spec, const build_plan& plan,
                                                        const std::map<std::string, std::string>& labels) const {
    auto options = options_.context;
    options.labels = labels;
    if constexpr (SourceFiltering<S>) {
        return runtime_build_context(spec, plan.kind, plan.from_image, strategy_.source_filter(spec), options);
    } else {
        return runtime_build_context(spec, plan.kind, plan.from_image, options);
    }
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
std::map<std::string, std::string> basic_builder<T, C, R, S, L>::labels_for(const runtime_spec& spec, const runtime_image& img) const {
    auto labels = options_.labels;
    for (auto& [k, v] : runtime_image_labels(img.tags, spec.base_image, img.plan)) labels[k] = std::move(v);
    return labels;
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
runtime_image basic_builder<T, C, R, S, L>::plan_and_build(const runtime_spec& spec, const build_call_options& call, runtime_image& out,
                                                           clock::time_point started, std::deque<std::string>& tail,
                                                           std::shared_ptr<const hashed_files> hashed) {
    locked_logger log{this};
    auto t = transports_.acquire();
    const auto lookup_started = clock::now();

    build_plan plan;
    if (!spec.force_rebuild) {
        out.found = locate(*t, image_ref::parse(out.image), call.stop);
        if (out.found != image_location::none) plan = plan_build(out.tags, spec.base_image, {.source = true}, false);
    }
    // Another process may be building this tag: take its lock file, and
    // when we had to wait, ask again (it is probably there now).
    std::optional<detail::file_lock> held;
    if (plan.kind != plan_kind::reuse && !call.dry_run) {
        held.emplace(lock_file(out.image), call.stop, [&] {
            log.log(log_level::info, fmt::format("waiting for another build of {}", out.image));
        });
        out.waited = held->waited();
        if (out.waited) log.log(log_level::info, fmt::format("waited for another build of {}", out.image));
    }
    // Unless we waited, the source image was asked about a moment ago.
    if (plan.kind != plan_kind::reuse) plan = decide(*t, spec, out.tags, out.found, !out.waited, call.stop);
    out.plan = plan.kind;
    out.from_image = plan.from_image;
    out.timings.lookup = since(lookup_started);
    if constexpr (ImageNaming<T>) out.image = reported_name(out.image, t->stored_name(image_ref::parse(out.image), call.stop));
    if (plan.kind == plan_kind::reuse) {
        log.log(log_level::info, fmt::format("reusing {} (found in the {})", out.image, to_string(out.found)));
        if (options_.push && !call.dry_run) {
            const auto push_started = clock::now();
            if constexpr (ImagePublishing<T>) push_missing(*t, out, call.stop, log);
            out.timings.push = since(push_started);
        }
        out.timings.total = since(started);
        return out;
    }
    log.log(log_level::info,
            fmt::format("plan: {} (from {}{})", to_string(plan.kind), plan.from_image,
                        out.found == image_location::registry ? ", found in the registry: the engine pulls it"
                        : out.found == image_location::engine ? ", found in the engine"
                                                              : ""));

    std::map<std::string, std::string> hook_labels;
    if (!call.dry_run) {
        if (options_.hooks.pre_build) {
            pre_build_event e{spec, out, hook_labels};
            const auto verdict = options_.hooks.pre_build(e);
            if (!verdict.go)
                throw error(errc::vetoed, fmt::format("the pre-build hook vetoed the build of {}: {}", out.image,
                                                      verdict.reason.empty() ? "no reason given" : verdict.reason));
        }
        ensure_storage(*t, call.stop, log);
    }

    // rtb's own labels win, then builder_options::labels, the hooks', the context options'
    auto labels = labels_for(spec, out);
    labels.insert(hook_labels.begin(), hook_labels.end());
    labels.insert(options_.context.labels.begin(), options_.context.labels.end());
    const auto context_started = clock::now();
    build_context context = context_for(spec, plan, labels);
    context.send_as_hashed(std::move(hashed));  // a file changed since the tags were computed fails the build
    out.context_entries = context.entries().size();
    std::optional<std::filesystem::path> folder;
    if (call.build_folder) {
        folder = *call.build_folder;
        write_build_folder(context, *folder);
    }
    out.timings.context = since(context_started);
    if (call.dry_run) {
        out.timings.total = since(started);
        return out;
    }

    build_request request;
    request.context_dir = folder.value_or(spec.source_dir);
    if (!folder) request.context = context.snapshot();
    request.tags = plan.tags_to_apply;
    request.build_args = spec.build_args;
    request.platform = spec.platform;
    // the Dockerfile sets them: one step, where build parameters cost a step each
    request.labels = std::move(labels);
    request.labels_in_dockerfile = true;
    {
        std::lock_guard lock(policy_mutex_);
        cache_.prepare(request);
    }

    // The images the build will take names from (a forced or superseding
    // build), so they can go once it has: see ImageStore.
    std::vector<named_image> previous;
    if constexpr (ImageStore<T>) previous = images_named(*t, request.tags, call.stop);

    const auto build_started = clock::now();
    const auto overall = deadline::after(options_.build_timeout);
    const auto what = fmt::format("building {}", out.image);
    build_result result;
    try {
        result = retry_locked(call.stop, [&](int) {
            watchdog dog({.what = what, .overall = overall, .stall = options_.stall_timeout}, call.stop);
            tail_logger tailed{log, tail};
            watched_logger<tail_logger> watched(tailed, dog);
            return dog.run([&](std::stop_token stop) { return t->build(request, watched, stop); });
        }, log);
    } catch (const error& e) {
        throw e.with_context(what);  // "building IMAGE: cannot connect to ..." says what was going on
    }
    out.timings.build = since(build_started);
    {
        std::lock_guard lock(policy_mutex_);
        cache_.after_build(result);
    }
    out.image_id = result.image_id;
    out.bytes_sent = result.bytes_sent;
    out.tags_applied = plan.tags_to_apply;
    if constexpr (ImageNaming<T>)
        for (auto& name : out.tags_applied) name = reported_name(name, t->stored_name(image_ref::parse(name), call.stop));
    if constexpr (ImageStore<T>)
        remove_superseded(*t, previous, result.image_id, [&](log_level l, std::string_view m) { log.log(l, m); });
    log.log(log_level::info, fmt::format("built {}{} in {:.1f} s", out.image,
                                         out.image_id.empty() ? "" : fmt::format(" ({})", short_id(out.image_id)),
                                         static_cast<double>(out.timings.build.count()) / 1000.0));
    if (options_.push) {
        const auto push_started = clock::now();
        if constexpr (ImagePublishing<T>) push_all(*t, out, plan.tags_to_apply, call.stop, log);
        out.timings.push = since(push_started);
    }
    out.timings.total = since(started);
    return out;
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::push_all(T& t, runtime_image& out, const std::vector<std::string>& names, std::stop_token stop,
                                            locked_logger& log) {
    for (const auto& name : names) push_one(t, out, name, stop, log);
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::push_missing(T& t, runtime_image& out, std::stop_token stop, locked_logger& log) {
    for (const auto& name : {out.tags.source_image(), out.tags.lock_image(), out.tags.versioned_image()}) {
        const auto ref = image_ref::parse(name);
        bool there = false;
        try {
            there = retry_locked(stop, [&](int) { return t.in_registry(ref, stop); }, log);
        } catch (const error& e) {
            if (e.value() == errc::cancelled) throw;
            throw push_error(out, name, e, "asking the registry for");
        }
        if (there) continue;
        if (!t.image_exists(ref, lookup::local)) continue;  // neither here nor there: nothing to push
        push_one(t, out, name, stop, log);
    }
    if (out.tags_pushed.empty()) log.log(log_level::info, fmt::format("{} is in its registry already", out.image));
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::push_one(T& t, runtime_image& out, const std::string& name, std::stop_token stop, locked_logger& log) {
    const auto ref = image_ref::parse(name);
    const auto what = fmt::format("pushing {}", name);
    const auto overall = deadline::after(options_.push_timeout);
    log.log(log_level::info, what);
    events::pushed pushed;
    try {
        pushed = retry_locked(stop, [&](int) {
            watchdog dog({.what = what, .overall = overall, .stall = options_.stall_timeout}, stop);
            watched_logger<locked_logger> watched(log, dog);
            return dog.run([&](std::stop_token s) { return t.push_image(ref, watched, s); });
        }, log);
    } catch (const error& e) {
        if (e.value() == errc::cancelled) throw;
        throw push_error(out, name, e, "pushing");
    }
    out.tags_pushed.push_back(name);
    log.log(log_level::info, fmt::format("pushed {}{}", name, pushed.digest.empty() ? "" : " (" + pushed.digest + ")"));
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
error basic_builder<T, C, R, S, L>::push_error(const runtime_image& out, const std::string& name, const error& cause,
                                               std::string_view doing) {
    return error(errc::push_failed, fmt::format("{} {} (it is tagged in the engine), but {} {} failed: {}",
                                                 out.plan == plan_kind::reuse ? "reused" : "built", out.image, doing,
                                                 name, cause.what()));
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
void basic_builder<T, C, R, S, L>::write_build_folder(const build_context& context, const std::filesystem::path& folder) {
    std::error_code ec;
    if (std::filesystem::exists(folder, ec) && !std::filesystem::is_empty(folder, ec))
        throw error(errc::invalid_argument,
                    fmt::format("build folder {} is not empty; rtb writes the context only into a new or empty folder",
                                detail::printable(folder.string())));
    std::filesystem::create_directories(folder, ec);
    if (ec) detail::throw_io("create the build folder", folder.string());
    context.write_to(folder);
}

}  // namespace rtb
