// list_containers: the engine's containers with their labels, on its own so
// that what only asks which images containers use (rtb/prune.hpp) reads
// neither launch() nor the log streams (rtb/sandbox/container.hpp).
#pragma once

#include <string>
#include <vector>

#include "rtb/detail/config.hpp"
#include "rtb/sandbox/container_api.hpp"
#include "rtb/transport/docker_engine.hpp"

namespace rtb {

/// The engine's containers (running or not) carrying every label filter
/// ("key" or "key=value"), checked here too: Podman 4.3 answers nothing
/// when given several label filters.
RTB_DECL std::vector<container_summary> list_containers(docker_engine& engine,
                                                        const std::vector<std::string>& label_filters = {});

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/sandbox/impl/container_list.ipp"
#endif
