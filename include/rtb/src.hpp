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
// rtb/any_builder.hpp) and the type-erasing wrappers around the stock
// transports, cache policies and tag strategies. meson's `-Drtb:separate_compilation=true` builds
// this as the static library librtb and links it.
#pragma once

#include "rtb/detail/config.hpp"

#ifndef RTB_SEPARATE_COMPILATION
#error "rtb/src.hpp is for separate compilation: define RTB_SEPARATE_COMPILATION in every translation unit (header-only needs no src.hpp)"
#endif

#include "rtb/context/impl/build_context.ipp"
#include "rtb/context/impl/directory_context.ipp"
#include "rtb/context/impl/jinja.ipp"
#include "rtb/context/impl/request_context.ipp"
#include "rtb/context/impl/runtime_context.ipp"
#include "rtb/hooks/impl/command_hooks.ipp"
#include "rtb/impl/any_tag_strategy.ipp"
#include "rtb/impl/prune.ipp"
#include "rtb/policy/impl/buildx_local_cache.ipp"
#include "rtb/policy/impl/redactor.ipp"
#include "rtb/policy/impl/stderr_logger.ipp"
#include "rtb/sandbox/impl/container_api.ipp"
#include "rtb/sandbox/impl/container_list.ipp"
#include "rtb/tags/impl/content_tags.ipp"
#include "rtb/tags/impl/openhands_tags.ipp"
#include "rtb/transport/impl/docker_api.ipp"
#include "rtb/transport/impl/docker_auth.ipp"
#include "rtb/transport/impl/docker_cli.ipp"
#include "rtb/transport/impl/docker_engine.ipp"
#include "rtb/transport/impl/http.ipp"
#include "rtb/transport/impl/http_client.ipp"
#include "rtb/transport/impl/remote_api.ipp"
#include "rtb/builder.hpp"  // the member functions, for the instantiations below
#include "rtb/any_builder.hpp"
#include "rtb/docker_builder.hpp"
#include "rtb/policy/buildx_local_cache.hpp"
#include "rtb/policy/registry_cache.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/transport/docker_cli.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/remote_api.hpp"

namespace rtb {

template class basic_builder<docker_engine, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;
template class basic_builder<podman_engine, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;
template class basic_builder<docker_engine, engine_layer_cache, exponential_backoff, content_tags, stderr_logger>;
template class basic_builder<any_transport, any_cache_policy, exponential_backoff, any_tag_strategy, stderr_logger>;

// The type-erasing wrappers around the stock policies (each policy's header
// declares its wrapper extern), so a program that picks its policies at run
// time compiles none of their code.
template class basic_registry_client<exponential_backoff>;
template class basic_remote_api<exponential_backoff>;
template struct any_transport::model<docker_cli>;
template struct any_transport::model<docker_engine>;
template struct any_transport::model<podman_engine>;
template struct any_transport::model<remote_api>;
template struct any_cache_policy::model<engine_layer_cache>;
template struct any_cache_policy::model<no_build_cache>;
template struct any_cache_policy::model<cache_chain>;
template struct any_cache_policy::model<buildx_local_cache>;
template struct any_cache_policy::model<registry_cache>;
template struct any_tag_strategy::model<openhands_tags>;
template struct any_tag_strategy::model<content_tags>;

}  // namespace rtb
