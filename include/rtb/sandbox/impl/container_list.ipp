// list_containers() (rtb/sandbox/container_list.hpp): included by that header
// (header-only) or compiled once by <rtb/src.hpp> (RTB_SEPARATE_COMPILATION).
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/config.hpp"
#include "rtb/sandbox/container_api.hpp"
#include "rtb/sandbox/container_list.hpp"
#include "rtb/transport/docker_api.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/http.hpp"

namespace rtb {

RTB_DECL std::vector<container_summary> list_containers(docker_engine& engine,
                                                        const std::vector<std::string>& label_filters) {
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
