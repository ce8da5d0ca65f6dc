// Callbacks around a build (builder_options::hooks): a pre-build hook may
// veto the build or add labels to it; a post-build hook sees the result; an
// on-error hook sees the error and the last lines of the build's log.
//
//     rtb::builder_options o;
//     o.hooks.pre_build = [](rtb::pre_build_event& e) {
//         if (e.image.plan == rtb::plan_kind::scratch && quota_exhausted())
//             return rtb::hook_verdict::veto("the team's build quota is used up");
//         e.labels["org.example.ticket"] = current_ticket();
//         return rtb::hook_verdict::proceed();
//     };
//
// Order: pre_build (only when a build will run: not for a reuse or a dry
// run), the build, then post_build (also after a reuse) or on_error (any
// error from the lookup on, a veto included). A hook that throws fails the
// call with its error (after a post_build, the image is built and tagged
// all the same). Hooks run on the thread of the build they belong to and
// outside the builder's locks: concurrent builds call them concurrently, so
// a hook that keeps state guards it, and a slow hook delays only its build.
//
// A pre-build hook may add labels but not change build arguments: the tags
// are a hash of everything that shapes the image, so what is built must be
// decided before hashing (put it in the runtime_spec).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rtb/error.hpp"
#include "rtb/runtime_spec.hpp"

namespace rtb {

struct runtime_image;  // rtb/builder.hpp

/// What a pre-build hook sees, and the labels it may add to.
struct pre_build_event {
    const runtime_spec& spec;
    const runtime_image& image;  ///< tags, plan and from_image; nothing built yet
    std::map<std::string, std::string>& labels;  ///< added to the image; rtb's own labels win
};

/// A pre-build hook's answer.
struct hook_verdict {
    bool go = true;
    std::string reason;  ///< why not, for the vetoed error
    static hook_verdict proceed() { return {}; }
    static hook_verdict veto(std::string why) { return {false, std::move(why)}; }
};

/// What a post-build hook sees (after a build or a reuse).
struct post_build_event {
    const runtime_spec& spec;
    const runtime_image& image;
};

/// What an on-error hook sees.
struct build_error_event {
    const runtime_spec& spec;
    const runtime_image& image;            ///< as far as it got (tags, plan, timings)
    const error& failure;
    const std::vector<std::string>& log_tail;  ///< the build's last output lines
};

struct build_hooks {
    std::function<hook_verdict(pre_build_event&)> pre_build;
    std::function<void(const post_build_event&)> post_build;
    std::function<void(const build_error_event&)> on_error;
};

}  // namespace rtb
