// context_snapshot_of (rtb/context/request_context.hpp): included by that
// header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION).
#pragma once

#include <memory>

#include "rtb/build_types.hpp"
#include "rtb/context/directory_context.hpp"
#include "rtb/context/request_context.hpp"
#include "rtb/detail/config.hpp"

namespace rtb {

RTB_DECL std::shared_ptr<const context_snapshot> context_snapshot_of(const build_request& request) {
    if (request.context) return request.context;
    directory_context_options o;
    o.ignore.dockerfile = request.dockerfile;
    return directory_context(request.context_dir, o).snapshot();
}

}  // namespace rtb
