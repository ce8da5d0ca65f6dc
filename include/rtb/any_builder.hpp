// any_builder: one builder for every run-time choice of engine or service,
// build cache and tags (the rtb program's), next to its parts.
//
//     rtb::any_builder builder(rtb::any_transport(rtb::docker_cli{}), rtb::any_cache_policy(rtb::no_build_cache{}),
//                              rtb::exponential_backoff{}, rtb::any_tag_strategy(rtb::content_tags{}),
//                              rtb::stderr_logger{});
#pragma once

#include "rtb/any_cache_policy.hpp"
#include "rtb/any_tag_strategy.hpp"
#include "rtb/any_transport.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/stderr_logger.hpp"
#ifdef RTB_SEPARATE_COMPILATION
#include "rtb/basic_builder.hpp"  // the member functions come from librtb (rtb/src.hpp)
#else
#include "rtb/builder.hpp"
#endif

namespace rtb {

/// The Transport, CachePolicy and TagStrategy held by their type-erased
/// wrappers, so one instantiation serves every choice made at run time;
/// retries with backoff; progress on stderr.
using any_builder = basic_builder<any_transport, any_cache_policy, exponential_backoff, any_tag_strategy, stderr_logger>;

#ifdef RTB_SEPARATE_COMPILATION
// Compiled once, by <rtb/src.hpp>.
extern template class basic_builder<any_transport, any_cache_policy, exponential_backoff, any_tag_strategy,
                                    stderr_logger>;
#endif

}  // namespace rtb
