// rtb::container_spec: a sandbox container as plain data: the runtime image,
// its command, environment, user and working directory, ports, network,
// mounts, limits, health check and how long the handle keeps it. launch()
// (sandbox/container.hpp) starts one; validate() (sandbox/validate.hpp)
// checks one before any engine is asked.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/resources.hpp"

namespace rtb {

/// The transport protocol of a port.
enum class port_protocol { tcp, udp, sctp };

constexpr std::string_view to_string(port_protocol p) noexcept {
    switch (p) {
        case port_protocol::tcp: return "tcp";
        case port_protocol::udp: return "udp";
        case port_protocol::sctp: return "sctp";
    }
    return "tcp";
}

/// A container port made reachable from the host (docker run -p).
struct port_mapping {
    int container_port = 0;               ///< 1..65535
    int host_port = 0;                    ///< 1..65535, or 0: the engine picks a free one
    std::string host_ip = "127.0.0.1";    ///< the host address it is bound to; loopback unless said otherwise
    port_protocol protocol = port_protocol::tcp;
    friend bool operator==(const port_mapping&, const port_mapping&) = default;
};

/// A port as the started container has it.
struct mapped_port {
    int container_port = 0;
    port_protocol protocol = port_protocol::tcp;
    std::string host_ip;
    int host_port = 0;
    friend bool operator==(const mapped_port&, const mapped_port&) = default;
};

/// A bind mount of a host path, or a named volume.
struct mount {
    enum class kind { bind, volume };
    kind type = kind::bind;
    std::string source;      ///< bind: an absolute host path that exists; volume: the volume's name
    std::string target;      ///< an absolute path in the container
    bool read_only = false;
    friend bool operator==(const mount&, const mount&) = default;
};

/// A tmpfs (memory-backed) mount: temporary storage that is gone with the container.
struct tmpfs_mount {
    std::string target;                 ///< an absolute path in the container
    std::optional<std::int64_t> size;   ///< bytes; unset: the kernel's default (half the RAM)
    std::optional<unsigned> mode;       ///< permission bits, e.g. 01777; unset: the engine's
    friend bool operator==(const tmpfs_mount&, const tmpfs_mount&) = default;
};

/// A health check run inside the container (the Dockerfile's HEALTHCHECK).
/// Exactly one of `shell` (run by /bin/sh -c) and `exec` (argv) is set.
struct health_check {
    std::string shell;
    std::vector<std::string> exec;
    std::chrono::milliseconds interval{1000};     ///< between checks, >= 1 ms
    std::chrono::milliseconds timeout{10'000};    ///< one check's limit, >= 1 ms
    std::chrono::milliseconds start_period{0};    ///< failures in this period do not count
    int retries = 3;                              ///< consecutive failures before "unhealthy", >= 1
};

/// When launch() returns.
enum class readiness {
    running,  ///< the engine reports the container running (or it already exited: a short command)
    healthy,  ///< its health check passed (the spec's, or the image's HEALTHCHECK)
};

/// What launch() does when the engine does not have the image.
enum class image_pull {
    missing,  ///< pull it from its registry first (as docker run does): an image another host pushed
    never,    ///< fail with not_found
};

/// Network modes launch() understands besides a network's name.
inline constexpr std::string_view network_none = "none";
inline constexpr std::string_view network_host = "host";

/// A sandbox container.
struct container_spec {
    std::string image;                                    ///< the runtime image ("local/rt:oh_v1_abc")
    std::vector<std::string> command;                     ///< argv; empty: the image's CMD
    std::optional<std::vector<std::string>> entrypoint;   ///< replaces the image's; an empty vector clears it
    std::map<std::string, std::string> env;               ///< added to the image's environment
    std::string working_dir;                              ///< absolute; empty: the image's
    std::string user;                                     ///< "uid[:gid]" or "name[:group]"; empty: the image's
    std::string name;                                     ///< the container's name; empty: the engine picks one

    /// "none" (no network: the default, as for builds), "host" (the host's
    /// network stack: ports the sandbox listens on are the host's), or the
    /// name of an existing network.
    std::string network = std::string(network_none);
    std::vector<port_mapping> ports;                      ///< not with "none"; with "host", host port = container port

    std::vector<mount> mounts;
    std::vector<tmpfs_mount> tmpfs;
    bool read_only_rootfs = false;                        ///< the image's filesystem read-only (docker run --read-only)
    /// Mounting the host's `/`, or an engine's API socket (or a folder that
    /// holds one) hands the sandbox the host; refused unless allowed here.
    bool allow_root_mount = false;
    bool allow_engine_socket_mount = false;

    rtb::resources limits;                                ///< memory, CPUs, pids, /dev/shm
    std::map<std::string, std::string> labels;
    std::optional<health_check> health;
    bool tty = false;                                     ///< a pseudo-terminal: logs come unframed, stdout only

    /// The engine removes the container when it exits (docker run --rm on a
    /// detached container). The handle still reports the exit code.
    bool auto_remove = false;
    /// OpenHands' keep_runtime_alive: the handle leaves the container running
    /// when it goes away (attach() finds it again); remove() still removes.
    bool keep_alive = false;
    /// How long stop() waits after SIGTERM before SIGKILL.
    std::chrono::seconds stop_grace{10};

    /// An image the engine lacks is pulled (with the docker config's
    /// credentials for its registry), unless this says never.
    image_pull pull = image_pull::missing;

    readiness ready = readiness::running;
    std::chrono::milliseconds ready_timeout{60'000};      ///< launch() gives up (timeout) after this
};

}  // namespace rtb
