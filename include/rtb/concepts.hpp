// The five policies a builder is assembled from, as C++20 concepts, and the
// optional capabilities it uses when a policy has them. Together they are
// everything basic_builder calls: a type that satisfies a concept plugs in
// with no change to rtb (docs/policies.md walks through writing one).
#pragma once

#include <chrono>
#include <concepts>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "rtb/build_types.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/tags/tag_set.hpp"

namespace rtb {

// Declared here only (a type checked against the concepts does not need
// their code): what a Transport is asked about, rtb/image_ref.hpp, and what
// RecordsHashedFiles fills in, rtb/hash/hashed_files.hpp.
class image_ref;
class hashed_files;

// ------------------------------------------------------------------ policies

/// Logger: receives messages and the typed events of pulls and builds.
///   log(level, message)  a line from rtb itself ("plan: lock (from ...)")
///   on_event(event)      one event of the engine's output (steps, output
///                        lines, layer progress, the image id, a failure)
/// The builder calls it one call at a time (under a lock), from the thread
/// running a build. It must never write secrets it is handed (rtb never
/// hands it any) and should not throw: an exception ends the build.
template <class L>
concept Logger = requires(L& l, log_level level, std::string_view message, const build_event& event) {
    l.log(level, message);
    l.on_event(event);
};

/// RetryPolicy: decides whether, and after how long, a failed operation is
/// tried again. `attempt` counts from 1; `e` is the failure (e.retryable()
/// says whether trying again can help, e.retry_after() what a server asked
/// for). Return std::nullopt to give up. Policies may keep state (a budget);
/// the builder calls one instance under a lock.
template <class P>
concept RetryPolicy = requires(P& p, int attempt, const error& e) {
    { p.next_delay(attempt, e) } -> std::same_as<std::optional<std::chrono::milliseconds>>;
};

/// TagStrategy: derives the three tags (source, lock, versioned) from
/// everything that shapes the image. Every input that changes the image
/// must change a tag (the base image, lock files, source tree, template and
/// its variables, extra dependencies, build args, platform): the builder
/// reuses an image whose source tag exists without building.
///   tags(spec) -> tag_set   const; may be called from several threads at once
/// A strategy that hashes the source tree should also be SourceFiltering
/// and RecordsHashedFiles (below), so that what is sent is what it hashed.
template <class S>
concept TagStrategy = requires(const S& s, const runtime_spec& spec) {
    { s.tags(spec) } -> std::same_as<tag_set>;
};

/// CachePolicy: which build cache a build uses and how it is kept.
///   prepare(request)      adds cache options to a build request (cache_from,
///                         cache_to, no_cache) before it is sent
///   after_build(result)   sees each successful build's result
///   maintain()            prunes (old files, size limits); the builder calls
///                         it on request (basic_builder::maintain_cache())
/// Called one call at a time (under a lock).
template <class C>
concept CachePolicy = requires(C& c, build_request& request, const build_result& result) {
    c.prepare(request);
    c.after_build(result);
    c.maintain();
};

namespace detail {
/// The smallest Logger, used to check Transport's templated build().
struct logger_archetype {
    void log(log_level, std::string_view) {}
    void on_event(const build_event&) {}
};
}  // namespace detail

/// Transport: looks images up and builds them, on an engine or a service.
///   image_exists(ref, mode) -> bool
///       whether the image is there (lookup::local: in the engine's store;
///       local_then_pull: else pulled; local_then_registry: else asked of
///       its registry without pulling)
///   build(request, logger, stop) -> build_result
///       builds the request's context and applies request.tags only when the
///       build succeeds; streams events to `logger` (any Logger); honours
///       `stop` (the build is stopped engine-side, nothing is left behind,
///       rtb::error with errc::cancelled is thrown); failures are rtb::error
///       (errc::build_failed with error::build() for a failed step)
/// One instance serves one thread. A copyable Transport is copied for each
/// concurrent build (a copy opens its own connection); a move-only one is
/// shared and builds take turns.
template <class T>
concept Transport = requires(T& t, const image_ref& ref, lookup mode, const build_request& request,
                             detail::logger_archetype& logger, std::stop_token stop) {
    { t.image_exists(ref, mode) } -> std::same_as<bool>;
    { t.build(request, logger, stop) } -> std::same_as<build_result>;
};

// ------------------------------------------------- optional capabilities

/// SourceFiltering (optional, for a TagStrategy): which files of the source
/// tree its tags cover. source_filter(spec) returns a PathFilter; the
/// builder sends exactly the files it keeps, so a file the tags do not cover
/// never reaches the image. Without it the builder sends the source tree as
/// its .dockerignore says.
template <class S>
concept SourceFiltering = requires(const S& s, const runtime_spec& spec) {
    { s.source_filter(spec) } -> PathFilter;
};

/// RecordsHashedFiles (optional, for a TagStrategy): tags(spec, record)
/// returns what tags(spec) returns and records in `record` every file it
/// read from disk to get there (source tree, lock files), with the size and
/// XXH3-128 of the very bytes it hashed (taken in the same read, so the
/// record costs a few percent of the hashing). The builder hands the record
/// to the build context: the stream that sends the files checks each one
/// against it, and a file changed, added or removed since the tags were
/// computed stops the build with errc::source_changed before the engine
/// applies any tag. Without it the files are sent unchecked, and an edit
/// made during a build can end up in an image tagged with the old content.
template <class S>
concept RecordsHashedFiles = requires(const S& s, const runtime_spec& spec, hashed_files& record) {
    { s.tags(spec, record) } -> std::same_as<tag_set>;
};

/// ReportsStorage (optional, for a Transport): where the engine keeps its
/// images and build layers, when this machine can look at it.
/// data_root(stop) -> std::optional<std::filesystem::path>: std::nullopt for
/// an engine elsewhere. The builder checks the free space there before a
/// build (builder_options::storage); without it, only the cache directory
/// is checked.
template <class T>
concept ReportsStorage = requires(T& t, std::stop_token stop) {
    { t.data_root(stop) } -> std::same_as<std::optional<std::filesystem::path>>;
};

/// ImageStore (optional, for a Transport): the engine keeps images where the
/// Transport can describe them and remove them. A builder on such a
/// Transport removes the image a build took its names from (a forced or
/// superseding build), when rtb built it, no name is left on it and no
/// container uses it; without it, such images stay for `rtb prune`.
///   describe_image(name or id, stop): the image's id, names and labels;
///     std::nullopt when the engine has none by that name.
///   remove_unused_image(id, stop): removes it without force: the engine
///     refuses while a container, a name or a child image holds it
///     (image_removal::in_use); image_removal::gone when there is none.
template <class T>
concept ImageStore = requires(T& t, std::string_view name, std::stop_token stop) {
    { t.describe_image(name, stop) } -> std::same_as<std::optional<image_summary>>;
    { t.remove_unused_image(name, stop) } -> std::same_as<image_removal>;
};

/// ImagePublishing (optional, for a Transport): the engine can push an image
/// it keeps to the image's registry, and the registry can be asked directly.
/// A builder with builder_options::push pushes what it built (and makes sure
/// a reused image is there), so other hosts asking the registry
/// (lookup::local_then_registry) reuse it instead of building it again.
///   in_registry(ref, stop): whether `ref`'s registry has that tag, asked of
///     the registry alone (no pull); the builder uses it to push only what is
///     missing and to say where an image was found.
///   push_image(ref, logger, stop): pushes the local tag `ref` with the
///     credentials the docker config has for its registry; progress goes to
///     `logger` as events; returns what the registry stored (digest, size).
///     Throws rtb::error (unauthorized, not_found, connection_failed, ...).
template <class T>
concept ImagePublishing = requires(T& t, const image_ref& ref, detail::logger_archetype& logger, std::stop_token stop) {
    { t.in_registry(ref, stop) } -> std::same_as<bool>;
    { t.push_image(ref, logger, stop) } -> std::same_as<events::pushed>;
};

/// ImageNaming (optional, for a Transport): the Transport stores images
/// under names of its own (a build service places them below its registry
/// prefix). stored_name(ref, stop) is the name an image asked for as `ref`
/// has there; the builder reports these names, so a caller runs what exists.
template <class T>
concept ImageNaming = requires(T& t, const image_ref& ref, std::stop_token stop) {
    { t.stored_name(ref, stop) } -> std::convertible_to<std::string>;
};

}  // namespace rtb
