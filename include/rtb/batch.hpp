// build_each: the runtime images of many specs (one per base image of an
// evaluation set, say) on one builder, a bounded number at once. One builder
// serves them all, so specs that share a lock or versioned image wait for
// one build of it, as concurrent calls of build_runtime_image always do.
//
//     auto specs = bases | ranges::views::transform(spec_for);   // any range of runtime_spec
//     auto outcomes = rtb::build_each(builder, specs, {.jobs = 4});
//     for (const auto& o : outcomes) o.image ? use(*o.image) : report(*o.failure);
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

#include <range/v3/range/concepts.hpp>
#include <range/v3/range/conversion.hpp>
#include <range/v3/range/traits.hpp>

#include "rtb/basic_builder.hpp"
#include "rtb/detail/parallel.hpp"
#include "rtb/error.hpp"
#include "rtb/runtime_spec.hpp"

namespace rtb {

/// What build_runtime_image gave for one spec of a batch: the image, or the
/// error that ended its build (a spec left unstarted because the batch was
/// stopped: cancelled).
struct batch_outcome {
    std::optional<runtime_image> image;
    std::optional<error> failure;
};

struct batch_options {
    /// Builds running at once (0 counts as 1).
    std::size_t jobs = 4;
    /// The options of every build. Its stop token stops the batch too: once
    /// a stop is requested no build starts, and the running ones are stopped.
    build_call_options call{};
    /// Told as each build ends, one call at a time, in the order they end:
    /// the spec's position in the range, its outcome, how many have ended.
    /// It must not throw.
    std::function<void(std::size_t index, const batch_outcome& outcome, std::size_t ended)> on_ended{};
};

/// Anything that builds one runtime image as basic_builder does, and may be
/// called from several threads at once (every basic_builder may).
template <class B>
concept RuntimeImageBuilder = requires(B& b, const runtime_spec& spec, const build_call_options& call) {
    { b.build_runtime_image(spec, call) } -> std::same_as<runtime_image>;
};

/// Builds (or reuses) the runtime image of every spec in `specs`, at most
/// options.jobs at once, and returns one outcome per spec in the range's
/// order. A build that fails with an rtb::error fails its spec only; any
/// other exception stops the batch (no build starts after it) and is
/// rethrown once the running builds end. The range is read, and so a view
/// over it computed, before the first build starts.
template <RuntimeImageBuilder B, ranges::input_range Specs>
    requires std::convertible_to<ranges::range_reference_t<Specs>, runtime_spec>
std::vector<batch_outcome> build_each(B& builder, Specs&& specs, const batch_options& options = {}) {
    const auto all = std::forward<Specs>(specs) | ranges::to<std::vector<runtime_spec>>();
    std::vector<batch_outcome> outcomes(all.size());

    std::stop_source abandon;  // a stop asked by the caller, or an exception that is not an rtb::error
    std::stop_callback forward(options.call.stop, [&abandon] { abandon.request_stop(); });
    build_call_options call = options.call;
    call.stop = abandon.get_token();

    std::size_t ended = 0;
    std::mutex ended_mutex;
    // parallel_for stops taking specs at the first exception that escapes
    // and rethrows it once the running builds end; an rtb::error is the
    // spec's outcome and does not escape.
    const auto jobs = static_cast<unsigned>(std::max<std::size_t>(options.jobs, 1));
    detail::parallel_for(all.size(), jobs, [&](std::size_t i) {
        if (abandon.stop_requested()) return;  // its outcome becomes "not started"
        try {
            outcomes[i].image = builder.build_runtime_image(all[i], call);
        } catch (const error& e) {
            outcomes[i].failure = e;
        } catch (...) {
            abandon.request_stop();  // the running builds stop too
            throw;
        }
        std::lock_guard lock(ended_mutex);
        if (options.on_ended) options.on_ended(i, outcomes[i], ++ended);
    });
    for (auto& o : outcomes)
        if (!o.image && !o.failure) o.failure = error(errc::cancelled, "not started: the batch was stopped");
    return outcomes;
}

}  // namespace rtb
