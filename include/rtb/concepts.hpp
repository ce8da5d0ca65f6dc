// The five policies a builder is assembled from, as C++20 concepts. Each says
// what a type must offer; rtb's stock policies sit beside them in policy/,
// tags/ and transport/, and any user type that satisfies a concept works.
#pragma once

#include <chrono>
#include <concepts>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "rtb/build_types.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/tags/tag_set.hpp"

namespace rtb {

/// Logger: receives messages and the typed events of pulls and builds.
/// Called from the thread running the build; one instance per builder.
/// Must never write secrets it is handed (rtb never hands it any).
template <class L>
concept Logger = requires(L& l, log_level level, std::string_view message, const build_event& event) {
    l.log(level, message);
    l.on_event(event);
};

/// RetryPolicy: decides whether, and after how long, a failed operation is
/// tried again. `attempt` counts from 1. Return std::nullopt to give up.
/// Policies may keep state (a budget); one instance serves one builder.
template <class P>
concept RetryPolicy = requires(P& p, int attempt, const error& e) {
    { p.next_delay(attempt, e) } -> std::same_as<std::optional<std::chrono::milliseconds>>;
};

/// TagStrategy: derives the three tags from everything that shapes the image.
/// Every input that changes the image must change a tag.
template <class S>
concept TagStrategy = requires(const S& s, const runtime_spec& spec) {
    { s.tags(spec) } -> std::same_as<tag_set>;
};

/// CachePolicy: which build cache a build uses and how it is kept.
/// prepare() adds cache options to a request; after_build() sees the result;
/// maintain() prunes (old files, size limits).
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

/// Transport: builds images and looks them up on an engine or a service.
/// build() streams events to the logger, honours the stop token (the build is
/// stopped engine-side and nothing is left behind) and throws rtb::error.
template <class T>
concept Transport = requires(T& t, const image_ref& ref, lookup mode, const build_request& request,
                             detail::logger_archetype& logger, std::stop_token stop) {
    { t.image_exists(ref, mode) } -> std::same_as<bool>;
    { t.build(request, logger, stop) } -> std::same_as<build_result>;
    t.tag(ref, ref);
    { t.info() } -> std::same_as<server_info>;
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

/// ImageNaming (optional, for a Transport): the Transport stores images
/// under names of its own (a build service places them below its registry
/// prefix). stored_name(ref) is the name an image asked for as `ref` has
/// there; the builder reports these names, so a caller runs what exists.
template <class T>
concept ImageNaming = requires(T& t, const image_ref& ref, std::stop_token stop) {
    { t.stored_name(ref, stop) } -> std::convertible_to<std::string>;
};

}  // namespace rtb
