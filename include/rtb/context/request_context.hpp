// The context a build_request stands for, as the Transports send it: on its
// own so that a Transport's declaration names it without the context packer.
#pragma once

#include <memory>

#include "rtb/build_types.hpp"
#include "rtb/detail/config.hpp"

namespace rtb {

/// request.context when it is set; else a snapshot of request.context_dir
/// as the docker CLI would send it (its .dockerignore applied, with
/// request.dockerfile kept even when ignored).
std::shared_ptr<const context_snapshot> context_snapshot_of(const build_request& request);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/context/impl/request_context.ipp"
#endif
