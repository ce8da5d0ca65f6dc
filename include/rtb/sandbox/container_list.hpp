// list_containers: the engine's containers with their labels, on its own so
// that what only asks which images containers use (rtb/prune.hpp) reads
// neither launch() nor the log streams (rtb/sandbox/container.hpp).
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/sandbox/container_api.hpp"
#include "rtb/transport/docker_api.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/http.hpp"

namespace rtb {

/// The engine's containers (running or not) carrying every label filter
/// ("key" or "key=value"), checked here too: Podman 4.3 answers nothing
/// when given several label filters.
inline std::vector<container_summary> list_containers(docker_engine& engine,
                                                      const std::vector<std::string>& label_filters = {}) {
    const auto api = engine.api_version();
    std::vector<std::string> sent = label_filters;
    if (engine.is_podman() && sent.size() > 1) sent.resize(1);
    http::request r{"GET", container_api::list_target(api, sent)};
    r.timeout = engine.settings().request_timeout;
    const auto what = fmt::format("listing containers on {}", engine.http().where().describe());
    const auto resp = engine.http().send(r);
    http::throw_for_status(resp, what);
    auto all = container_api::parse_list(resp.body, what);
    std::erase_if(all, [&](const container_summary& c) { return !docker_api::labels_match(c.labels, label_filters); });
    return all;
}

}  // namespace rtb
