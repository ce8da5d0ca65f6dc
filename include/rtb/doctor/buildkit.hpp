// Doctor check of BuildKit: whether the docker client has the buildx plugin
// (or a built-in BuildKit client), as docker_cli detects it, and whether the
// engine's default builder is BuildKit. Only a warning when missing: the
// Engine API transports build without it; `--transport cli` with BuildKit
// caches (--cache-dir, --cache-ref) needs buildx.
#pragma once

#include <optional>
#include <string>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/doctor/check.hpp"
#include "rtb/doctor/options.hpp"
#include "rtb/error.hpp"
#include "rtb/transport/cli_client.hpp"

namespace rtb::doctor {

/// What was found out about BuildKit.
struct buildkit_probe {
    transport_kind transport = transport_kind::docker;
    bool engine_is_podman = false;
    std::string program = "docker";                ///< the client asked
    std::optional<cli_capabilities> client;        ///< what docker_cli detected
    std::optional<error> problem;                  ///< why it could not detect
    std::optional<std::string> engine_builder;     ///< /_ping's Builder-Version ("1" classic, "2" BuildKit)
};

/// "buildkit": ok with buildx; a warning without it (never failed).
inline check_result check_buildkit(const buildkit_probe& p) {
    const std::string name = "buildkit";
    if (p.transport == transport_kind::remote)
        return check_result::skipped(name, "the build service runs the builds (--transport remote)");
    if (p.engine_is_podman || (p.client && p.client->kind == cli_kind::podman))
        return check_result::skipped(name, "Podman builds with Buildah; BuildKit does not apply");
    const std::string engine_note =
        p.engine_builder == "2" ? "; the engine's default builder is BuildKit" : "";
    const std::string not_needed =
        p.transport == transport_kind::cli
            ? "--transport cli builds without it (legacy builder), but BuildKit caches (--cache-dir, --cache-ref) "
              "need buildx"
            : "the Engine API transport does not need it; --transport cli with BuildKit caches (--cache-dir, "
              "--cache-ref) does";
    const std::string install = "install the buildx plugin (Debian: apt-get install docker-buildx; Docker's "
                                "packages: docker-buildx-plugin), or name a client that has it (--cli /usr/bin/docker)";
    if (!p.client) {
        const std::string why = p.problem ? p.problem->what() : std::string("not asked");
        return check_result::warning(name, fmt::format("could not ask docker client {} about buildx: {}{}",
                                                       detail::printable(p.program), why, engine_note),
                                     fmt::format("{}; {}", install, not_needed));
    }
    const auto& c = *p.client;
    const auto who = fmt::format("docker client {} (docker {})", detail::printable(c.program), c.client_version);
    if (c.buildx_version)
        return check_result::ok(name, fmt::format("{} has buildx {}: BuildKit builds and caches work{}", who,
                                                  *c.buildx_version, engine_note));
    if (c.path == cli_build_path::buildkit)
        return check_result::warning(name,
                                     fmt::format("{} has no buildx plugin; it builds with its built-in BuildKit "
                                                 "client, which cannot export caches{}",
                                                 who, engine_note),
                                     fmt::format("{}; {}", install, not_needed));
    return check_result::warning(name,
                                 fmt::format("{} has no buildx plugin and no built-in BuildKit client: only the legacy "
                                             "builder{}",
                                             who, engine_note),
                                 fmt::format("{}; {}", install, not_needed));
}

}  // namespace rtb::doctor
