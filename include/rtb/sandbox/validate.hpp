// Checks a container_spec before any engine is asked: every field against the
// rules dockerd and Podman apply, plus rtb's own (loopback ports, bind
// sources that exist, no mount of `/` or an engine socket unless allowed).
// A pure function of the spec and of what the host's filesystem answers,
// which a test replaces.
#pragma once

#include <algorithm>
#include <arpa/inet.h>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/resources.hpp"
#include "rtb/sandbox/container_spec.hpp"

namespace rtb {

/// What validation asks of the host's filesystem (the engine's host: a
/// local engine shares it with the caller).
struct host_filesystem {
    /// The canonical form of an existing path (symlinks resolved), or
    /// std::nullopt when nothing is there.
    std::function<std::optional<std::string>(const std::string&)> resolve;
    /// Canonical paths of engine API sockets a mount must not expose.
    std::vector<std::string> engine_sockets;
    /// Whether an existing (canonical) path is some engine's API socket,
    /// wherever it lives: a unix socket named like one (docker.sock,
    /// podman.sock, containerd.sock, buildkitd.sock, crio.sock). Optional.
    std::function<bool(const std::string&)> is_engine_socket;
};

/// The file names engines give their API sockets.
inline bool engine_socket_name(std::string_view path) {
    const auto slash = path.rfind('/');
    const auto name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    for (std::string_view n : {"docker.sock", "podman.sock", "containerd.sock", "buildkitd.sock", "crio.sock"})
        if (name == n) return true;
    return false;
}

/// Limits on sizes, so a hostile spec is refused with a clear message
/// rather than by the kernel's exec() or the engine's JSON parser.
struct spec_limits {
    std::size_t max_arg = 131'071;            ///< one argument or "K=V" (Linux MAX_ARG_STRLEN - 1)
    std::size_t max_exec_total = 1u << 20;    ///< command + entrypoint + env, bytes (ARG_MAX is 2 MiB)
    std::size_t max_items = 10'000;           ///< arguments, variables, labels, ports, mounts each
    std::size_t max_labels_total = 256u << 10;
    std::size_t max_path = 4096;
    std::size_t max_name = 128;               ///< container, volume, network and user names
};

namespace detail::sandbox {

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }
inline bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

/// Docker's names for containers and volumes: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
inline bool docker_name(std::string_view s, std::size_t min_len) {
    if (s.size() < min_len || !ref::alnum(s[0])) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return ref::alnum(c) || c == '_' || c == '.' || c == '-'; });
}

/// A user or group: a name or a number, [A-Za-z0-9_][A-Za-z0-9_.-]*.
inline bool user_part(std::string_view s) {
    if (s.empty() || !(ref::alnum(s[0]) || s[0] == '_')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return ref::alnum(c) || c == '_' || c == '.' || c == '-'; });
}

inline bool ip_literal(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

/// "/a/b/" -> "/a/b", for comparing mount targets.
inline std::string trim_slashes(std::string_view p) {
    while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
    return std::string(p);
}

/// An absolute container path: starts with '/', not '/' itself (unless
/// `root_ok`), no "." or ".." components, no control bytes.
inline std::optional<std::string> container_path_problem(std::string_view p, std::size_t max, bool root_ok = false) {
    if (p.empty()) return "is empty";
    if (p.size() > max) return fmt::format("is longer than {} bytes", max);
    if (has_control(p)) return "contains a control character";
    if (p.front() != '/') return "must be an absolute path (start with '/')";
    if (!root_ok && trim_slashes(p) == "/") return "must not be '/'";
    std::size_t i = 0;
    while (i < p.size()) {
        const auto next = p.find('/', i);
        const auto part = p.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i);
        if (part == "." || part == "..") return "must not contain \".\" or \"..\" components";
        if (next == std::string_view::npos) break;
        i = next + 1;
    }
    return std::nullopt;
}

inline bool is_within(std::string_view inner, std::string_view outer) {
    if (outer == "/") return true;
    return inner == outer || (inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '/');
}

}  // namespace detail::sandbox

/// The host as it is: std::filesystem::canonical, and the engine sockets
/// rtb knows of (the docker and Podman defaults, rootless ones under
/// XDG_RUNTIME_DIR, containerd's) plus `engine_socket`, the one in use.
inline host_filesystem local_host_filesystem(std::string_view engine_socket = {}) {
    host_filesystem h;
    h.resolve = [](const std::string& p) -> std::optional<std::string> {
        std::error_code ec;
        auto c = std::filesystem::canonical(p, ec);
        if (ec) return std::nullopt;
        return c.string();
    };
    h.is_engine_socket = [](const std::string& p) {
        std::error_code ec;
        return engine_socket_name(p) && std::filesystem::is_socket(p, ec);
    };
    std::vector<std::string> known = {"/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock",
                                      "/var/run/podman/podman.sock", "/run/containerd/containerd.sock",
                                      "/var/run/containerd/containerd.sock"};
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
        known.push_back(std::string(xdg) + "/docker.sock");
        known.push_back(std::string(xdg) + "/podman/podman.sock");
    }
    if (!engine_socket.empty()) known.emplace_back(engine_socket);
    std::set<std::string> out;
    for (const auto& k : known) {
        out.insert(k);
        if (auto c = h.resolve(k)) out.insert(*c);
    }
    h.engine_sockets.assign(out.begin(), out.end());
    return h;
}

/// Checks `spec` and throws invalid_argument naming the first wrong field,
/// its value and the rule ("container spec for local/rt:1: ports[1].host_port
/// 70000 is not a port (0..65535)"). Nothing is sent anywhere.
inline void validate(const container_spec& spec, const host_filesystem& host, const spec_limits& lim = {}) {
    using namespace detail::sandbox;
    using detail::shown;
    const std::string where = fmt::format("container spec for {}", shown(spec.image.empty() ? "(no image)" : spec.image));
    auto fail = [&](std::string msg) { throw error(errc::invalid_argument, fmt::format("{}: {}", where, msg)); };

    // image and identity
    if (spec.image.empty()) fail("image is empty");
    try {
        (void)image_ref::parse(spec.image);
    } catch (const error& e) {
        fail(e.what());
    }
    if (!spec.name.empty() && (spec.name.size() > lim.max_name || !docker_name(spec.name, 2)))
        fail(fmt::format("name {} is not a container name: 2 to {} characters [a-zA-Z0-9_.-], starting with a "
                         "letter or digit",
                         shown(spec.name), lim.max_name));
    if (!spec.user.empty()) {
        const auto colon = spec.user.find(':');
        const std::string_view u = std::string_view(spec.user).substr(0, colon);
        const std::string_view g =
            colon == std::string::npos ? std::string_view("x") : std::string_view(spec.user).substr(colon + 1);
        if (spec.user.size() > lim.max_name || !user_part(u) || !user_part(g))
            fail(fmt::format("user {} is not \"uid[:gid]\" or \"name[:group]\"", shown(spec.user)));
    }
    if (!spec.working_dir.empty())
        if (auto p = container_path_problem(spec.working_dir, lim.max_path, true))
            fail(fmt::format("working_dir {} {}", shown(spec.working_dir), *p));

    // command, entrypoint, environment: what exec() will get
    std::size_t exec_total = 0;
    auto check_args = [&](const std::vector<std::string>& args, std::string_view field) {
        if (args.size() > lim.max_items) fail(fmt::format("{} has {} arguments; at most {}", field, args.size(), lim.max_items));
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (has_nul(args[i])) fail(fmt::format("{}[{}] {} contains a NUL byte", field, i, shown(args[i])));
            if (args[i].size() > lim.max_arg)
                fail(fmt::format("{}[{}] is {} bytes; one argument is at most {}", field, i, args[i].size(), lim.max_arg));
            exec_total += args[i].size() + 1;
        }
    };
    check_args(spec.command, "command");
    if (spec.entrypoint) check_args(*spec.entrypoint, "entrypoint");
    if (spec.env.size() > lim.max_items) fail(fmt::format("env has {} variables; at most {}", spec.env.size(), lim.max_items));
    for (const auto& [k, v] : spec.env) {
        if (k.empty()) fail("env has a variable with an empty name");
        if (k.find('=') != std::string::npos || has_control(k))
            fail(fmt::format("env name {} must not contain '=' or control characters", shown(k)));
        if (has_nul(v)) fail(fmt::format("env {} has a NUL byte in its value", shown(k)));
        if (k.size() + 1 + v.size() > lim.max_arg)
            fail(fmt::format("env {} is {} bytes as NAME=VALUE; one variable is at most {}", shown(k),
                             k.size() + 1 + v.size(), lim.max_arg));
        exec_total += k.size() + v.size() + 2;
    }
    if (exec_total > lim.max_exec_total)
        fail(fmt::format("command, entrypoint and env add up to {} bytes; at most {}", exec_total, lim.max_exec_total));

    // labels
    if (spec.labels.size() > lim.max_items) fail(fmt::format("labels has {} entries; at most {}", spec.labels.size(), lim.max_items));
    std::size_t labels_total = 0;
    for (const auto& [k, v] : spec.labels) {
        if (k.empty()) fail("labels has an empty key");
        if (has_control(k)) fail(fmt::format("label key {} contains a control character", shown(k)));
        if (has_nul(v)) fail(fmt::format("label {} has a NUL byte in its value", shown(k)));
        labels_total += k.size() + v.size();
    }
    if (labels_total > lim.max_labels_total)
        fail(fmt::format("labels add up to {} bytes; at most {}", labels_total, lim.max_labels_total));

    // network and ports
    const bool none = spec.network == network_none, host_net = spec.network == network_host;
    if (spec.network.empty()) fail("network is empty: say \"none\", \"host\" or a network's name");
    if (spec.network.starts_with("container:") || spec.network.starts_with("ns:"))
        fail(fmt::format("network {}: sharing another container's or a namespace's network is not supported; use "
                         "\"none\", \"host\" or a network's name",
                         shown(spec.network)));
    if (!none && !host_net && (spec.network.size() > lim.max_name || !docker_name(spec.network, 1)))
        fail(fmt::format("network {} is not \"none\", \"host\" or a network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
                         shown(spec.network)));
    if (spec.ports.size() > lim.max_items) fail(fmt::format("ports has {} entries; at most {}", spec.ports.size(), lim.max_items));
    std::set<std::tuple<std::string, int, port_protocol>> bound;
    for (std::size_t i = 0; i < spec.ports.size(); ++i) {
        const auto& p = spec.ports[i];
        if (p.container_port < 1 || p.container_port > 65535)
            fail(fmt::format("ports[{}].container_port {} is not a port (1..65535)", i, p.container_port));
        if (p.host_port < 0 || p.host_port > 65535)
            fail(fmt::format("ports[{}].host_port {} is not a port (1..65535, or 0: the engine picks one)", i, p.host_port));
        if (p.host_ip.empty())
            fail(fmt::format("ports[{}].host_ip is empty: say \"127.0.0.1\" (the default), or \"0.0.0.0\" to listen on "
                             "every interface",
                             i));
        if (p.host_ip.size() > 64 || !ip_literal(p.host_ip))
            fail(fmt::format("ports[{}].host_ip {} is not an IPv4 or IPv6 address", i, shown(p.host_ip)));
        if (none)
            fail(fmt::format("ports[{}] ({}/{}): a container on network \"none\" has no ports to publish; use \"host\" "
                             "or a network",
                             i, p.container_port, to_string(p.protocol)));
        if (host_net && p.host_port != 0 && p.host_port != p.container_port)
            fail(fmt::format("ports[{}]: with network \"host\" the container listens on the host itself, so host port "
                             "{} cannot map to container port {}",
                             i, p.host_port, p.container_port));
        const int effective = host_net ? p.container_port : p.host_port;
        if (effective != 0 && !bound.insert({host_net ? std::string() : p.host_ip, effective, p.protocol}).second)
            fail(fmt::format("ports[{}]: host port {}/{} is published twice", i, effective, to_string(p.protocol)));
    }

    // mounts
    if (spec.mounts.size() + spec.tmpfs.size() > lim.max_items)
        fail(fmt::format("{} mounts; at most {}", spec.mounts.size() + spec.tmpfs.size(), lim.max_items));
    std::set<std::string> targets;
    auto check_target = [&](const std::string& target, std::string_view field) {
        if (auto p = container_path_problem(target, lim.max_path)) fail(fmt::format("{} {} {}", field, shown(target), *p));
        if (!targets.insert(trim_slashes(target)).second)
            fail(fmt::format("{} {}: two mounts share this target", field, shown(target)));
    };
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
        const auto& m = spec.mounts[i];
        const auto field = fmt::format("mounts[{}]", i);
        check_target(m.target, field + ".target");
        if (m.type == mount::kind::volume) {
            if (!docker_name(m.source, 2) || m.source.size() > lim.max_name)
                fail(fmt::format("{}.source {} is not a volume name: 2 to {} characters [a-zA-Z0-9_.-], starting with "
                                 "a letter or digit",
                                 field, shown(m.source), lim.max_name));
            continue;
        }
        if (m.source.empty()) fail(fmt::format("{}.source is empty", field));
        if (has_control(m.source)) fail(fmt::format("{}.source {} contains a control character", field, shown(m.source)));
        if (m.source.size() > lim.max_path) fail(fmt::format("{}.source is longer than {} bytes", field, lim.max_path));
        if (m.source.front() != '/')
            fail(fmt::format("{}.source {} is a relative path; a bind mount's source must be absolute", field,
                             shown(m.source)));
        if (!host.resolve) fail("no way to check bind mount sources (host_filesystem::resolve is empty)");
        const auto real = host.resolve(m.source);
        if (!real)
            fail(fmt::format("{}.source {} does not exist on the host; create it first (rtb never creates bind sources)",
                             field, shown(m.source)));
        if (*real == "/" && !spec.allow_root_mount)
            fail(fmt::format("{}.source {} is the host's root directory{}; set allow_root_mount to mean it", field,
                             shown(m.source), m.source == "/" ? "" : " (through a symlink)"));
        if (!spec.allow_engine_socket_mount && host.is_engine_socket && host.is_engine_socket(*real))
            fail(fmt::format("{}.source {} is an engine's API socket, which gives the sandbox control of that "
                             "engine; set allow_engine_socket_mount to mean it",
                             field, shown(m.source)));
        if (!spec.allow_engine_socket_mount && *real != "/")
            for (const auto& sock : host.engine_sockets)
                if (is_within(sock, *real))
                    fail(fmt::format("{}.source {} {} the engine socket {}, which gives the sandbox control of the "
                                     "engine; set allow_engine_socket_mount to mean it",
                                     field, shown(m.source), *real == sock ? "is" : "holds", shown(sock)));
    }
    for (std::size_t i = 0; i < spec.tmpfs.size(); ++i) {
        const auto& t = spec.tmpfs[i];
        const auto field = fmt::format("tmpfs[{}]", i);
        check_target(t.target, field + ".target");
        if (t.size && *t.size <= 0) fail(fmt::format("{}.size {} must be more than 0 bytes", field, *t.size));
        if (t.mode && *t.mode > 07777) fail(fmt::format("{}.mode {:o} is not a permission mode (0..7777 octal)", field, *t.mode));
    }

    // limits
    validate(spec.limits, limits_for::container, where);

    // health and lifecycle
    if (spec.health) {
        const auto& h = *spec.health;
        if (h.shell.empty() == h.exec.empty()) fail("health: set exactly one of shell and exec");
        if (has_nul(h.shell)) fail("health.shell contains a NUL byte");
        check_args(h.exec, "health.exec");
        if (h.shell.size() > lim.max_arg) fail(fmt::format("health.shell is longer than {} bytes", lim.max_arg));
        if (h.interval.count() < 1) fail(fmt::format("health.interval {} ms must be at least 1 ms", h.interval.count()));
        if (h.timeout.count() < 1) fail(fmt::format("health.timeout {} ms must be at least 1 ms", h.timeout.count()));
        if (h.start_period.count() < 0) fail("health.start_period must not be negative");
        if (h.retries < 1) fail(fmt::format("health.retries {} must be at least 1", h.retries));
    }
    if (spec.stop_grace.count() < 0) fail("stop_grace must not be negative");
    if (spec.ready_timeout.count() <= 0) fail("ready_timeout must be more than 0");
}

}  // namespace rtb
