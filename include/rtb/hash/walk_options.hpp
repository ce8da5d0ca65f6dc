// How a tree walk goes about it (rtb/hash/tree_walk.hpp), in a header of its
// own: option structs that embed it (the runtime context's, the builder's)
// need it without the walk.
#pragma once

#include <functional>
#include <string_view>

namespace rtb {

/// How a walk reports entries it leaves out for a reason other than the filter
/// (sockets, FIFOs, devices): the path and why.
using skip_handler = std::function<void(std::string_view path, std::string_view why)>;

struct walk_options {
    unsigned jobs = 0;     ///< 0: every core
    skip_handler on_skip;  ///< null: skip silently
};

}  // namespace rtb
