// Stock CachePolicies (see rtb/concepts.hpp): which build cache a build uses.
//
//     engine_layer_cache  the engine's own layer cache, as `docker build` uses
//                         it (the default); nothing to prepare or prune
//     no_build_cache      every step runs again (`--no-cache`), e.g. to pick
//                         up a changed package mirror the tags cannot see
//
// A policy for BuildKit's exported caches (local folder, registry) belongs
// with the transport that can export them (docker_cli).
#pragma once

#include "rtb/build_types.hpp"

namespace rtb {

struct engine_layer_cache {
    void prepare(build_request&) {}
    void after_build(const build_result&) {}
    void maintain() {}
};

struct no_build_cache {
    void prepare(build_request& request) {
        request.no_cache = true;
        request.cache_from.clear();
    }
    void after_build(const build_result&) {}
    void maintain() {}
};

}  // namespace rtb
