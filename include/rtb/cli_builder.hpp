// The builder through the docker or podman client program (docker_cli):
// BuildKit, buildx builders (remote, Kubernetes) and the client's own
// configuration (contexts, credentials).
#pragma once

#include "rtb/builder.hpp"
#include "rtb/policy/build_cache.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/transport/docker_cli.hpp"

namespace rtb {

/// Builds through the docker or podman client program (docker_cli: buildx,
/// the built-in BuildKit client or the legacy builder, or podman build,
/// whichever the client offers). For a BuildKit cache folder, assemble it
/// with buildx_local_cache (rtb/policy/buildx_local_cache.hpp).
using cli_builder = basic_builder<docker_cli, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;

}  // namespace rtb
