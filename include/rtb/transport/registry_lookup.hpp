// registry_lookup: the hook behind lookup::local_then_registry
// (docker_engine::options::registry), on its own so that a Transport's
// header names it without the registry client (rtb/transport/registry.hpp).
#pragma once

#include <functional>
#include <stop_token>

#include "rtb/image_ref.hpp"

namespace rtb {

/// Asks a registry whether an image exists, without pulling it: the hook
/// behind lookup::local_then_registry (docker_engine::options::registry).
using registry_lookup = std::function<bool(const image_ref&, std::stop_token)>;

}  // namespace rtb
