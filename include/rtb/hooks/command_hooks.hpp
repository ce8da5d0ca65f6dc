// build_hooks that run programs: each hook is an argument vector (never a
// shell line) started with a JSON description of the build on stdin. This
// is how the rtb program runs the hooks its configuration names.
//
// pre_build: exit status 0 lets the build go; anything else (or running past
// the timeout) vetoes it, with the last line the hook wrote to stderr as the
// reason. It may print one JSON object on stdout, {"labels": {"k": "v"}}, to
// add labels. post_build and on_error cannot change the outcome: their
// failures are reported through `warn`.
//
// stdin, by hook (every hook gets "hook", "image", "plan", "from_image",
// "base_image", "tags" {source, lock, versioned}):
//   post_build adds "image_id", "tags_applied", "cache_hit", "bytes_sent",
//     "seconds" {hash, plan, context, build, total};
//   on_error adds "error" {code, message, exit_code, failing_step}, "log_tail".
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/basic_builder.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/hooks/build_hooks.hpp"

namespace rtb {

struct hook_commands {
    std::vector<std::string> pre_build, post_build, on_error;  ///< argv; empty: no hook
    std::chrono::milliseconds timeout = std::chrono::seconds(60);
    /// Where post_build and on_error failures are reported.
    std::function<void(std::string_view)> warn = [](std::string_view) {};
};

/// The result's statistics as JSON members (no braces: `"cache_hit":...,"phases":{...}`),
/// as post_build hooks and `rtb build --json` show them.
RTB_DECL std::string statistics_json(const runtime_image& img);

/// build_hooks that run the programs of `c`.
RTB_DECL build_hooks command_hooks(hook_commands c);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/hooks/impl/command_hooks.ipp"
#endif
