// rtb's non-template code and its common builders, compiled once.
//
// For separate compilation: define RTB_SEPARATE_COMPILATION in every
// translation unit of the program (the build system's job) and include
// this header in exactly one of them:
//
//     // rtb.cpp
//     #include <rtb/src.hpp>
//
// The other units then declare what this one defines, skipping the heavy
// headers (the Jinja2 renderer's parts, libcurl, the hashing) and the
// builder aliases' member functions (rtb/docker_builder.hpp,
// rtb/any_builder.hpp). meson's `-Drtb:separate_compilation=true` builds
// this as the static library librtb and links it.
#pragma once

#include "rtb/detail/config.hpp"

#ifndef RTB_SEPARATE_COMPILATION
#error "rtb/src.hpp is for separate compilation: define RTB_SEPARATE_COMPILATION in every translation unit (header-only needs no src.hpp)"
#endif

#include "rtb/context/impl/jinja.ipp"
#include "rtb/policy/impl/stderr_logger.ipp"
#include "rtb/tags/impl/content_tags.ipp"
#include "rtb/tags/impl/openhands_tags.ipp"
#include "rtb/transport/impl/docker_api.ipp"
#include "rtb/transport/impl/docker_engine.ipp"
#include "rtb/transport/impl/http.ipp"
#include "rtb/transport/impl/http_client.ipp"
#include "rtb/builder.hpp"  // the member functions, for the instantiations below
#include "rtb/any_builder.hpp"
#include "rtb/docker_builder.hpp"

namespace rtb {

template class basic_builder<docker_engine, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;
template class basic_builder<podman_engine, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;
template class basic_builder<docker_engine, engine_layer_cache, exponential_backoff, content_tags, stderr_logger>;
template class basic_builder<any_transport, any_cache_policy, exponential_backoff, any_tag_strategy, stderr_logger>;

}  // namespace rtb
