// The builder through a remote Runtime API service (remote_api): `rtb
// serve`, or OpenHands' build service.
#pragma once

#include "rtb/builder.hpp"
#include "rtb/policy/build_cache.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/transport/remote_api.hpp"

namespace rtb {

/// Builds through a remote Runtime API service with OpenHands' tags and the
/// service's layer cache. Requests are retried with backoff (429 honours
/// Retry-After); images carry the names the service gives them.
using remote_builder = basic_builder<remote_api, engine_layer_cache, exponential_backoff, openhands_tags, stderr_logger>;

}  // namespace rtb
