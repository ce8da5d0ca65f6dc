// Doctor check of Podman specifics, from GET /libpod/info: rootless or not,
// the cgroup manager and version, the OCI runtime, the libpod API version;
// warns about combinations known to cause trouble.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/doctor/check.hpp"

namespace rtb::doctor {

/// What Podman says of itself (the parts the doctor reads).
struct podman_facts {
    std::string version;         ///< version.Version
    std::string api_version;     ///< version.APIVersion (libpod's)
    bool rootless = false;       ///< host.security.rootless
    std::string cgroup_manager;  ///< host.cgroupManager: "systemd" or "cgroupfs"
    std::string cgroup_version;  ///< host.cgroupVersion: "v1" or "v2"
    std::string oci_runtime;     ///< host.ociRuntime.name: "runc", "crun"
};

/// Reads GET /libpod/info's answer; std::nullopt when it is not one.
inline std::optional<podman_facts> parse_libpod_info(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) return std::nullopt;
    simdjson::dom::element host;
    if (doc["host"].get(host) != simdjson::SUCCESS || !host.is_object()) return std::nullopt;
    podman_facts f;
    std::string_view s;
    bool b = false;
    if (doc["version"]["Version"].get_string().get(s) == simdjson::SUCCESS) f.version = s;
    if (doc["version"]["APIVersion"].get_string().get(s) == simdjson::SUCCESS) f.api_version = s;
    if (host["security"]["rootless"].get_bool().get(b) == simdjson::SUCCESS) f.rootless = b;
    if (host["cgroupManager"].get_string().get(s) == simdjson::SUCCESS) f.cgroup_manager = s;
    if (host["cgroupVersion"].get_string().get(s) == simdjson::SUCCESS) f.cgroup_version = s;
    if (host["ociRuntime"]["name"].get_string().get(s) == simdjson::SUCCESS) f.oci_runtime = s;
    return f;
}

/// "podman": what it is; a warning for rootless Podman whose cgroup setup
/// cannot apply resource limits (cgroupfs, or cgroups v1).
inline check_result check_podman(const podman_facts& f) {
    const std::string name = "podman";
    const auto detail = fmt::format("Podman {} (libpod API {}), {}, cgroup manager {}, cgroups {}, runtime {}",
                                    f.version.empty() ? "?" : f.version, f.api_version.empty() ? "?" : f.api_version,
                                    f.rootless ? "rootless" : "rootful", f.cgroup_manager.empty() ? "?" : f.cgroup_manager,
                                    f.cgroup_version.empty() ? "?" : f.cgroup_version,
                                    f.oci_runtime.empty() ? "?" : f.oci_runtime);
    if (f.rootless && f.cgroup_manager == "cgroupfs")
        return check_result::warning(
            name, detail + ": rootless Podman with cgroupfs cannot apply resource limits (rtb run --memory, --cpus)",
            "use cgroup_manager = \"systemd\" in containers.conf, with a systemd user session (loginctl "
            "enable-linger USER) on cgroups v2");
    if (f.rootless && f.cgroup_version == "v1")
        return check_result::warning(name, detail + ": rootless Podman on cgroups v1 cannot apply resource limits",
                                     "boot with cgroups v2 (systemd.unified_cgroup_hierarchy=1) or run Podman as root");
    return check_result::ok(name, detail);
}

/// The check from the raw answer (a warning when it cannot be read).
inline check_result check_podman_info(std::string_view libpod_info_json) {
    if (const auto f = parse_libpod_info(libpod_info_json)) return check_podman(*f);
    return check_result::warning("podman", "GET /libpod/info did not answer with Podman's info object",
                                 "check the Podman service (`podman info`); rtb reads rootless mode and cgroups there");
}

}  // namespace rtb::doctor
