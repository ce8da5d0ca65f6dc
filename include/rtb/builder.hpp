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
// The class, its options and its result are declared in
// rtb/basic_builder.hpp; this header defines the flow. It knows the policies
// only through rtb/concepts.hpp; each stock Transport's builder alias lives
// with it (rtb/docker_builder.hpp, rtb/cli_builder.hpp,
// rtb/remote_builder.hpp), and rtb/any_transport.hpp and its siblings hold
// policies chosen at run time.
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

#include "rtb/basic_builder.hpp"
#include "rtb/build_types.hpp"
#include "rtb/cache_directory.hpp"
#include "rtb/concepts.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/deadline.hpp"
#include "rtb/detail/file_lock.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/hashed_files.hpp"
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

// The member functions, outside the class: not implicitly inline, so an
// explicit instantiation declaration (rtb/docker_builder.hpp in separate
// compilation) keeps a translation unit from compiling them again.

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
std::filesystem::path basic_builder<T, C, R, S, L>::lock_file(const std::string& image) const {
    return build_lock_path(options_.lock_directory, image);
}

template <Transport T, CachePolicy C, RetryPolicy R, TagStrategy S, Logger L>
template <class Operation>
auto basic_builder<T, C, R, S, L>::retry_locked(std::stop_token stop, Operation&& op, locked_logger& log) {
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
