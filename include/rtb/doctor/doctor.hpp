// rtb doctor: whether this machine can build, as a list of checks, each
// with what it found and, when not ok, what to do. run_doctor() asks the
// engine (or client, or service), the registries and the filesystems the
// options name; each check is also usable alone (the headers beside this one).
//
//     rtb::doctor::doctor_options o;
//     o.registries = {"127.0.0.1:5000"};
//     auto checks = rtb::doctor::run_doctor(o);
//     fmt::print("{}", rtb::doctor::render_text(checks));
//     return rtb::doctor::exit_status(checks);
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/cache_directory.hpp"
#include "rtb/doctor/buildkit.hpp"
#include "rtb/doctor/cache_dir.hpp"
#include "rtb/doctor/check.hpp"
#include "rtb/doctor/clock.hpp"
#include "rtb/doctor/configuration.hpp"
#include "rtb/doctor/disk.hpp"
#include "rtb/doctor/engine.hpp"
#include "rtb/doctor/options.hpp"
#include "rtb/doctor/podman.hpp"
#include "rtb/doctor/registry.hpp"
#include "rtb/doctor/report.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/transport/docker_cli.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/remote_api.hpp"

namespace rtb::doctor {

namespace detail_doctor {

/// The engine endpoint the options name; throws invalid_argument for a bad --host.
inline http::endpoint engine_endpoint(const doctor_options& o) {
    if (o.endpoint) return *o.endpoint;
    if (!o.host.empty()) return http::parse_docker_host(o.host, {});
    if (o.transport == transport_kind::podman) return podman_endpoint_from_env();
    return http::endpoint_from_env();
}

inline docker_engine make_engine(const doctor_options& o, const http::endpoint& ep) {
    docker_engine::options eo;
    eo.endpoint = ep;
    eo.request_timeout = o.timeout;
    eo.http.connect_timeout = std::min<std::chrono::milliseconds>(o.timeout, std::chrono::seconds(10));
    eo.docker_config = o.docker_config;
    return docker_engine(std::move(eo));
}

inline docker_cli make_cli(const doctor_options& o) {
    docker_cli::options co;
    co.program = o.cli_program.empty() ? std::string("docker") : o.cli_program;
    co.command_timeout = o.timeout;
    if (o.endpoint)
        co.environment.push_back(o.endpoint->type == http::endpoint::kind::unix_socket
                                     ? "DOCKER_HOST=unix://" + o.endpoint->socket_path
                                     : fmt::format("DOCKER_HOST=tcp://{}:{}", o.endpoint->host, o.endpoint->port));
    else if (!o.host.empty())
        co.environment.push_back("DOCKER_HOST=" + o.host);
    co.registry = [](const image_ref&, std::stop_token) { return false; };  // never used here
    return docker_cli(std::move(co));
}

/// BuildKit as the docker client sees it (docker and cli transports).
inline buildkit_probe probe_buildkit(const doctor_options& o, bool engine_is_podman,
                                     std::optional<std::string> engine_builder) {
    buildkit_probe b;
    b.transport = o.transport;
    b.engine_is_podman = engine_is_podman;
    b.engine_builder = std::move(engine_builder);
    b.program = o.cli_program.empty() ? std::string("docker") : o.cli_program;
    if (o.transport == transport_kind::remote || engine_is_podman) return b;
    try {
        auto cli = make_cli(o);
        b.client = cli.capabilities();
    } catch (const error& e) {
        if (e.value() == errc::cancelled) throw;
        b.problem = e;
    }
    return b;
}

/// "disk space (engine)" for an Engine API engine: its data root when local.
inline check_result engine_space(docker_engine& engine, const engine_probe& p, const doctor_options& o) {
    const std::string name = "disk space (engine)";
    if (!p.info) return check_result::skipped(name, "the engine did not answer");
    if (o.engine_min_free == 0) return check_result::skipped(name, "no threshold for the engine's data root (0)");
    try {
        if (const auto root = engine.data_root()) return check_engine_space(*root, o.engine_min_free);
        return check_result::skipped(name, fmt::format("the engine on {} keeps its data where this machine cannot "
                                                       "look (not local, or its data root is not visible here)",
                                                       p.where));
    } catch (const error& e) {
        if (e.value() == errc::cancelled) throw;
        return check_result::warning(name, fmt::format("cannot ask the engine for its data root: {}", e.what()),
                                     "check the engine's health; free space where it keeps its data");
    }
}

}  // namespace detail_doctor

/// Runs every check the options call for, in order: engine, api version,
/// buildkit, podman, each registry, clock, disk space (engine, cache),
/// cache directory, configuration. Never throws for what it finds (only
/// cancelled, on a stop request).
inline std::vector<check_result> run_doctor(const doctor_options& o, std::stop_token stop = {}) {
    std::vector<check_result> out;
    const auto cache = o.cache_dir.empty() ? cache_directory() : o.cache_dir;
    auto engine_space = check_result::skipped("disk space (engine)", "the engine did not answer");

    if (o.transport == transport_kind::docker || o.transport == transport_kind::podman) {
        std::optional<http::endpoint> ep;
        engine_probe p;
        p.transport = o.transport;
        try {
            ep = detail_doctor::engine_endpoint(o);
        } catch (const error& e) {
            p.where = o.host;
            p.problem = e;
        }
        if (ep) {
            auto engine = detail_doctor::make_engine(o, *ep);
            p = probe_engine(engine, o.transport, ep->describe());
            out.push_back(check_engine(p));
            out.push_back(check_api_version(p));
            const bool podman = p.info && p.info->is_podman;
            std::optional<std::string> builder;
            if (p.info && !podman) {
                try {
                    http::request ping{"GET", "/_ping"};
                    ping.timeout = o.timeout;
                    const auto r = engine.http().send(ping, stop);
                    if (const auto b = r.header("Builder-Version"); b && !b->empty()) builder = std::string(*b);
                } catch (const error& e) {
                    if (e.value() == errc::cancelled) throw;
                }
            }
            if (p.info) out.push_back(check_buildkit(detail_doctor::probe_buildkit(o, podman, builder)));
            else out.push_back(check_result::skipped("buildkit", "the engine did not answer"));
            if (!p.info) {
                out.push_back(check_result::skipped("podman", "the engine did not answer"));
            } else if (!podman) {
                out.push_back(check_result::skipped("podman", fmt::format("the engine is {}", p.info->product)));
            } else {
                try {
                    http::request r{"GET", "/v4.0.0/libpod/info"};
                    r.timeout = o.timeout;
                    const auto a = engine.http().send(r, stop);
                    http::throw_for_status(a, fmt::format("asking Podman on {} for its info", p.where));
                    out.push_back(check_podman_info(a.body));
                } catch (const error& e) {
                    if (e.value() == errc::cancelled) throw;
                    out.push_back(check_result::warning("podman", e.what(),
                                                        "check the Podman service (`podman info`)"));
                }
            }
            engine_space = detail_doctor::engine_space(engine, p, o);
        } else {
            out.push_back(check_engine(p));
            out.push_back(check_result::skipped("api version", "the engine did not answer"));
            out.push_back(check_result::skipped("buildkit", "the engine did not answer"));
            out.push_back(check_result::skipped("podman", "the engine did not answer"));
        }
    } else if (o.transport == transport_kind::cli) {
        auto cli = detail_doctor::make_cli(o);
        const auto p = probe_engine(cli, o.transport, fmt::format("client {}", detail::printable(cli.settings().program)));
        out.push_back(check_engine(p));
        out.push_back(check_api_version(p));
        buildkit_probe b;
        b.transport = o.transport;
        b.program = cli.settings().program;
        if (p.info) {
            try {
                b.client = cli.capabilities();
            } catch (const error& e) {
                b.problem = e;
            }
            out.push_back(check_buildkit(b));
        } else {
            out.push_back(check_result::skipped("buildkit", "the client did not answer"));
        }
        out.push_back(check_result::skipped(
            "podman", "read through the Engine API (--transport podman); the cli transport runs the client"));
        // The data root, when the engine is also reachable through its API here.
        engine_space = check_result::skipped("disk space (engine)",
                                             "the engine's data root is read through the Engine API (--transport "
                                             "docker or podman)");
        if (p.info) {
            try {
                const auto ep = detail_doctor::engine_endpoint(o);
                auto engine = detail_doctor::make_engine(o, ep);
                engine_probe ap = probe_engine(engine, transport_kind::docker, ep.describe());
                if (ap.info) engine_space = detail_doctor::engine_space(engine, ap, o);
            } catch (const error& e) {
                if (e.value() == errc::cancelled) throw;
            }
        }
    } else {  // remote
        engine_probe p;
        p.transport = o.transport;
        p.where = o.host;
        if (!o.host.starts_with("http://") && !o.host.starts_with("https://")) {
            p.problem = error(errc::invalid_argument,
                              "--transport remote needs --host http://HOST:PORT (the build service)");
            auto c = check_engine(p);
            c.remedy = "give the service's URL: --host http://HOST:PORT";
            out.push_back(std::move(c));
        } else {
            try {
                basic_remote_api<no_retry>::options ro;
                ro.url = o.host;
                ro.api_key = o.api_key;
                ro.request_timeout = o.timeout;
                basic_remote_api<no_retry> service(std::move(ro));
                p = probe_engine(service, o.transport, service.where());
            } catch (const error& e) {
                if (e.value() == errc::cancelled) throw;
                p.problem = e;
            }
            out.push_back(check_engine(p));
        }
        out.push_back(check_api_version(p));
        buildkit_probe none;
        none.transport = o.transport;
        out.push_back(check_buildkit(none));
        out.push_back(check_result::skipped("podman", "the build service runs the engine (--transport remote)"));
        engine_space = check_result::skipped("disk space (engine)", "the build service keeps its own data");
    }

    // Registries, and the clock against the first one that said the time.
    std::optional<check_result> clock;
    for (const auto& r : o.registries) {
        const auto probe = probe_registry(r, o, stop);
        out.push_back(check_registry(probe));
        if (!clock && probe.server_date)
            clock = check_clock_skew(fmt::format("registry {}", probe.registry), probe.server_date, probe.local_time);
    }
    if (o.registries.empty())
        out.push_back(check_result::skipped("registry", "no registry to check (--registry HOST, or the runtime "
                                                        "repository's registry from the configuration)"));
    out.push_back(clock ? *clock
                        : check_result::skipped("clock", o.registries.empty()
                                                             ? "no registry to compare the time with"
                                                             : "no registry answered with its time"));

    out.push_back(std::move(engine_space));
    out.push_back(check_cache_space(cache, o.cache_min_free));
    out.push_back(check_cache_directory(cache));
    out.push_back(check_configuration(o.config_problems, o.config_source));
    return out;
}

}  // namespace rtb::doctor
