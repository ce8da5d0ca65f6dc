// What `rtb doctor` checks and against what: the transport and its engine,
// the registries a build talks to, where credentials and rtb's cache live,
// the free space wanted, and the problems the configuration loader found.
// Filled from flags or from the configuration; run_doctor() takes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/transport/http.hpp"

namespace rtb::doctor {

/// How rtb builds: the Engine API (docker, podman), the docker/podman
/// client program (cli), or a Runtime API service (remote).
enum class transport_kind { docker, podman, cli, remote };

constexpr std::string_view to_string(transport_kind t) noexcept {
    switch (t) {
        case transport_kind::docker: return "docker";
        case transport_kind::podman: return "podman";
        case transport_kind::cli: return "cli";
        case transport_kind::remote: return "remote";
    }
    return "unknown";
}

/// Parses "docker", "podman", "cli" or "remote". Throws invalid_argument.
inline transport_kind parse_transport(std::string_view s) {
    for (auto t : {transport_kind::docker, transport_kind::podman, transport_kind::cli, transport_kind::remote})
        if (s == to_string(t)) return t;
    throw error(errc::invalid_argument,
                fmt::format("transport {} is not one of docker, podman, cli, remote", detail::printable(s)));
}

struct doctor_options {
    transport_kind transport = transport_kind::docker;
    /// The engine; wins over `host` when set.
    std::optional<http::endpoint> endpoint;
    /// The engine as DOCKER_HOST writes it (unix:///path, tcp://host:port),
    /// or for remote the service's URL (http://HOST:PORT). Empty: the
    /// environment (DOCKER_HOST; CONTAINER_HOST etc. for podman).
    std::string host;
    /// transport cli: the client program ("docker", "podman", a path). Also
    /// the docker client asked about buildx for the other transports.
    std::string cli_program = "docker";
    /// transport remote: the service's API key (never shown).
    std::string api_key;
    /// Registries to check, "host[:port]" (e.g. the runtime repository's:
    /// image_ref::parse(repo).registry()).
    std::vector<std::string> registries;
    /// Registries spoken to over plain HTTP besides loopback ones.
    std::vector<std::string> insecure_registries;
    /// The docker config with credentials; default docker_auth::config_path().
    std::optional<std::filesystem::path> docker_config;
    /// rtb's cache directory; empty: rtb::cache_directory().
    std::filesystem::path cache_dir;
    /// Free space wanted (0: not checked); as storage_options' defaults.
    std::uint64_t engine_min_free = std::uint64_t{1} << 30;
    std::uint64_t cache_min_free = std::uint64_t{100} << 20;
    /// What the configuration loader found wrong (empty: nothing).
    std::vector<std::string> config_problems;
    /// Where the configuration came from, for the report ("/etc/rtb.toml");
    /// empty: not said.
    std::string config_source;
    /// Limit for each call to an engine, client or registry.
    std::chrono::milliseconds timeout{15'000};
};

}  // namespace rtb::doctor
