// The builders on the Engine API (docker_engine, podman_engine): the
// aliases most programs use, next to their parts.
//
//     rtb::docker_builder builder;                      // the engine at DOCKER_HOST
//     auto image = builder.build_runtime_image(spec);   // OpenHands' tags
#pragma once

#include "rtb/detail/config.hpp"
#ifdef RTB_SEPARATE_COMPILATION
#include "rtb/basic_builder.hpp"  // the member functions come from librtb (rtb/src.hpp)
#else
#include "rtb/builder.hpp"
#endif
#include "rtb/policy/build_cache.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/transport/docker_engine.hpp"

namespace rtb {

/// Builds on the engine at DOCKER_HOST (or the docker CLI's default socket)
/// with OpenHands' tags, the engine's layer cache, retries with backoff for
/// transient errors, and progress on stderr.
using docker_builder = basic_builder<docker_engine, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;

/// docker_builder on Podman's Docker-compatible service (podman_endpoint_from_env()).
using podman_builder = basic_builder<podman_engine, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;

/// docker_builder with tags from content digests (every input hashed, the
/// source as its .dockerignore sends it; faster than OpenHands' Dirhash).
using docker_content_builder =
    basic_builder<docker_engine, engine_layer_cache, exponential_backoff, content_tags, stderr_logger>;

#ifdef RTB_SEPARATE_COMPILATION
// Compiled once, by <rtb/src.hpp>: a unit that uses these aliases then
// compiles none of the builder's member functions.
extern template class basic_builder<docker_engine, engine_layer_cache, exponential_backoff, openhands_tags,
                                    stderr_logger>;
extern template class basic_builder<podman_engine, engine_layer_cache, exponential_backoff, openhands_tags,
                                    stderr_logger>;
extern template class basic_builder<docker_engine, engine_layer_cache, exponential_backoff, content_tags,
                                    stderr_logger>;
#endif

}  // namespace rtb
