// The Engine API's container calls as plain data and pure functions: the
// POST /containers/create body from a container_spec, the request targets
// (start, stop, wait, logs, inspect, remove, list, Podman's health check),
// and the answers parsed (create, inspect, wait, health, list). Shared by
// dockerd and Podman's compat API; tested without an engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/detail/config.hpp"
#include "rtb/sandbox/container_spec.hpp"
#include "rtb/transport/docker_api.hpp"

namespace rtb {

/// A container's health, as the engine reports it.
struct health_state {
    std::string status;        ///< "starting", "healthy", "unhealthy" (or "" when there is none yet)
    int failing_streak = 0;
    std::string last_output;   ///< the last check's output, cut to 4 KiB
    std::optional<int> last_exit_code;
};

/// What GET /containers/{id}/json says, as far as rtb needs it.
struct container_state {
    std::string id;
    std::string name;                       ///< without the leading '/'
    std::string image;                      ///< the image as created from (Config.Image)
    std::string status;                     ///< "created", "running", "exited", "paused", "restarting", "removing", "dead"
    bool running = false;
    int exit_code = 0;                      ///< meaningful once exited
    bool oom_killed = false;
    std::string error;                      ///< the engine's error starting it, if any
    std::optional<health_state> health;     ///< when the container has a health check
    bool has_healthcheck = false;           ///< Config.Healthcheck is set and not NONE
    bool tty = false;                       ///< Config.Tty: its output is not framed
    std::optional<int> stop_timeout;        ///< Config.StopTimeout, seconds
    bool auto_remove = false;               ///< HostConfig.AutoRemove
    std::string network_mode;
    std::vector<mapped_port> ports;         ///< NetworkSettings.Ports, bound ones only
    std::map<std::string, std::string> labels;
};

/// A container in a listing (GET /containers/json).
struct container_summary {
    std::string id;
    std::vector<std::string> names;  ///< without the leading '/'
    std::string image;               ///< as the container was created from (a name or an id)
    std::string image_id;            ///< "sha256:..." (ImageID)
    std::string state;               ///< "running", "exited", ...
    std::map<std::string, std::string> labels;
};

namespace container_api {

using docker_api::api_version;

// ---------------------------------------------------------------- targets

/// A container id or name in a path, checked: what rtb sends is an id it was
/// given by the engine or a validated name, but a handle can be made from
/// any string (attach()).
RTB_DECL std::string path_id(std::string_view id);

/// POST /containers/create[?name=...]
RTB_DECL std::string create_target(api_version v, std::string_view name);
/// POST /containers/{id}/start
RTB_DECL std::string start_target(api_version v, std::string_view id);
/// POST /containers/{id}/stop?t=SECONDS: SIGTERM (or the image's
/// STOPSIGNAL), SIGKILL after the grace period.
RTB_DECL std::string stop_target(api_version v, std::string_view id, std::chrono::seconds grace);
/// DELETE /containers/{id}?force=1&v=1 (v: its anonymous volumes too).
RTB_DECL std::string remove_target(api_version v, std::string_view id, bool force = true, bool volumes = true);
/// What POST /containers/{id}/wait waits for.
enum class wait_condition { not_running, next_exit, removed };
RTB_DECL std::string wait_target(api_version v, std::string_view id, wait_condition c);
/// GET /containers/{id}/logs; `tail`: only the last lines (before following).
RTB_DECL std::string logs_target(api_version v, std::string_view id, bool follow, bool stdout_, bool stderr_,
                                 std::optional<unsigned> tail = std::nullopt);
/// GET /containers/{id}/json
RTB_DECL std::string inspect_target(api_version v, std::string_view id);
/// GET /containers/json?all=1&filters={"label":[...]}
RTB_DECL std::string list_target(api_version v, const std::vector<std::string>& label_filters, bool all = true);
/// GET /networks/{name}
RTB_DECL std::string network_target(api_version v, std::string_view name);
/// Podman's GET /libpod/containers/{id}/healthcheck: runs the check once and
/// answers the health. Podman 4.3 runs health checks from systemd timers
/// only, so without systemd (a service in a container, CI) nobody runs
/// them; rtb does, through this call.
RTB_DECL std::string libpod_healthcheck_target(std::string_view id);

// ------------------------------------------------------------------- body

/// "80/tcp", the Engine API's key for a port.
RTB_DECL std::string port_key(int port, port_protocol p);

/// The HostConfig.Tmpfs options of a tmpfs mount: "size=1048576,mode=1777".
RTB_DECL std::string tmpfs_options(const tmpfs_mount& t);

/// The POST /containers/create body for `spec` (validate() it first: this
/// only encodes). Notes on the choices, each checked on both engines:
/// tmpfs goes in HostConfig.Tmpfs (Podman 4.3 mounts a Mounts-API tmpfs
/// with mode 000); port bindings are left out on the host network (the
/// engines ignore them there: the sandbox's own sockets are the host's);
/// StopTimeout carries the grace period so an engine-side stop agrees.
RTB_DECL std::string create_body(const container_spec& spec);

// ---------------------------------------------------------------- answers

/// POST /containers/create's answer: the new container's id.
RTB_DECL std::string parse_created(std::string_view json, std::string_view what);

/// "80/tcp" -> (80, tcp); std::nullopt for anything else.
RTB_DECL std::optional<std::pair<int, port_protocol>> parse_port_key(std::string_view key);

/// GET /containers/{id}/json.
RTB_DECL container_state parse_inspect(std::string_view json, std::string_view what);

/// POST /containers/{id}/wait's answer: {"StatusCode":N,"Error":{"Message":...}|null}.
struct wait_result {
    int exit_code = 0;
    std::string error;
};
RTB_DECL wait_result parse_wait(std::string_view json, std::string_view what);

/// Podman's healthcheck answer: {"Status":"healthy","FailingStreak":0,"Log":[...]}.
RTB_DECL health_state parse_health(std::string_view json, std::string_view what);

/// GET /containers/json.
RTB_DECL std::vector<container_summary> parse_list(std::string_view json, std::string_view what);

}  // namespace container_api
}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/sandbox/impl/container_api.ipp"
#endif
