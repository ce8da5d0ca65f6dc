// Doctor checks of the engine: is it there (product, version, where), and
// does it speak an Engine API version rtb supports. probe_*() ask the
// engine once; check_engine() and check_api_version() are pure functions
// of what the probe found.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/doctor/check.hpp"
#include "rtb/doctor/options.hpp"
#include "rtb/error.hpp"
#include "rtb/transport/docker_api.hpp"

namespace rtb::doctor {

/// What asking the engine (or client, or service) for its identity gave.
struct engine_probe {
    transport_kind transport = transport_kind::docker;
    std::string where;                  ///< "unix socket /var/run/docker.sock", "http://127.0.0.1:8000"
    std::optional<server_info> info;    ///< when it answered as an engine rtb supports
    std::optional<error> problem;       ///< when it did not

    /// It answered at all (an engine too old still answered).
    bool reached() const noexcept {
        return info.has_value() || (problem && problem->value() == errc::unsupported_version);
    }
};

/// Asks a Transport with info() (docker_engine, docker_cli, remote_api).
template <class T>
engine_probe probe_engine(T& transport, transport_kind kind, std::string where) {
    engine_probe p;
    p.transport = kind;
    p.where = std::move(where);
    try {
        p.info = transport.info();
    } catch (const error& e) {
        p.problem = e;
    }
    return p;
}

namespace detail_doctor {
inline std::string start_engine_remedy(transport_kind t) {
    switch (t) {
        case transport_kind::podman:
            return "start Podman's API service (`systemctl start podman.socket`, or `podman system service --time=0 "
                   "unix:///run/podman/podman.sock &`), or point --host (CONTAINER_HOST) at a running one";
        case transport_kind::remote:
            return "start the build service (`rtb serve --listen HOST:PORT ...`) or point --host at a running one";
        case transport_kind::cli:
            return "start the engine the client talks to (`systemctl start docker`, or `dockerd &`; for podman, "
                   "check `podman info`), or point --host (DOCKER_HOST) at a running one";
        case transport_kind::docker:
            break;
    }
    return "start the engine (`systemctl start docker`, or `dockerd &`), or point --host (DOCKER_HOST) at a running "
           "one";
}
}  // namespace detail_doctor

/// "engine": reachable, and what it is. A stopped engine (connection
/// refused, no socket) fails with the endpoint and how to start one.
inline check_result check_engine(const engine_probe& p) {
    const std::string name = "engine";
    if (p.info) {
        const auto& i = *p.info;
        std::string api = i.api_version.empty() ? "" : fmt::format(" (API {})", i.api_version);
        if (p.transport == transport_kind::cli) api = fmt::format(" (through the {})", i.api_version);
        if (p.transport == transport_kind::remote) return check_result::ok(name, fmt::format("{}{}", i.product,
                                                                                                i.version.empty() ? "" : ", " + i.version));
        return check_result::ok(name, fmt::format("{} {}{} on {}", i.product, i.version, api, p.where));
    }
    if (!p.problem) return check_result::skipped(name, "not asked");
    const auto& e = *p.problem;
    switch (e.value()) {
        case errc::unsupported_version:
            return check_result::ok(name, fmt::format("an engine answers on {} (its version: see api version)", p.where));
        case errc::connection_failed:
            return check_result::failed(name,
                                        std::string_view(e.what()).find(p.where) != std::string_view::npos
                                            ? fmt::format("nothing answers: {}", e.what())
                                            : fmt::format("no engine answers on {}: {}", p.where, e.what()),
                                        detail_doctor::start_engine_remedy(p.transport));
        case errc::timeout:
            return check_result::failed(name, fmt::format("the engine on {} did not answer in time: {}", p.where, e.what()),
                                        "the engine may be hung or overloaded: restart it (`systemctl restart docker`), "
                                        "or check --host");
        case errc::unauthorized:
            return check_result::failed(name, fmt::format("{} refused rtb: {}", p.where, e.what()),
                                        p.transport == transport_kind::remote
                                            ? "set RTB_API_KEY (or api_key_file) to a key the service accepts"
                                            : "check the TLS client certificate (DOCKER_CERT_PATH) or the socket's "
                                              "permissions (the docker group)");
        case errc::invalid_argument:
            return check_result::failed(name, fmt::format("cannot use engine endpoint: {}", e.what()),
                                        "fix --host / DOCKER_HOST: unix:///path/to/socket or tcp://host:port");
        case errc::not_found:
            if (p.transport == transport_kind::cli)
                return check_result::failed(name, e.what(),
                                            "install the client (Debian: apt-get install docker.io, or podman) or "
                                            "name it with --cli PATH");
            break;
        default:
            break;
    }
    return check_result::failed(name, fmt::format("asking {} what it is failed: {}", p.where, e.what()),
                                "check that --host points at a Docker or Podman engine (or, for --transport remote, "
                                "a Runtime API service) and that it is healthy");
}

/// "api version": the Engine API version negotiated, or why it is not
/// supported (unsupported_version: the engine or client is too old).
inline check_result check_api_version(const engine_probe& p) {
    const std::string name = "api version";
    if (p.transport == transport_kind::remote)
        return check_result::skipped(name, "a Runtime API service, not an engine: no Engine API version");
    if (p.problem && p.problem->value() == errc::unsupported_version)
        return check_result::failed(name, p.problem->what(),
                                    "upgrade the engine: Docker >= 18.09 (Engine API >= 1.39; Debian: apt-get install "
                                    "docker.io) or Podman >= 4.3");
    if (!p.info) return check_result::skipped(name, "the engine did not answer");
    if (p.transport == transport_kind::cli)
        return check_result::ok(name, fmt::format("the {} negotiates the Engine API itself (server {})",
                                                  p.info->api_version, p.info->version));
    return check_result::ok(name, fmt::format("Engine API {} (rtb speaks {} to {}){}", p.info->api_version,
                                              docker_api::oldest_api.str(), docker_api::newest_api.str(),
                                              p.info->is_podman ? fmt::format(", Podman {}", p.info->version) : ""));
}

}  // namespace rtb::doctor
