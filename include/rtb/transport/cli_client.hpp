// What a docker or podman client program can do, and the argument vectors
// docker_cli runs it with: pure functions over the clients' own words
// (`docker --version`, `docker buildx version`, the server's version), so
// every decision is tested without running anything.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/build_types.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/transport/docker_api.hpp"

namespace rtb {

/// Which client program it is (by what it says of itself, not its file name:
/// podman-docker installs podman as `docker`).
enum class cli_kind { docker, podman };

/// How a build runs through the client:
///
/// | path     | command                                   | clients                                     |
/// | ---      | ---                                       | ---                                         |
/// | buildx   | `docker buildx build --progress=plain --load` | any docker with the buildx plugin; any builder (`--builder`: remote, Kubernetes) |
/// | buildkit | `DOCKER_BUILDKIT=1 docker build --progress=plain` | docker 18.09 to 22.x (BuildKit client built in) |
/// | legacy   | `DOCKER_BUILDKIT=0 docker build`           | any docker (23.0+ without buildx has nothing else) |
/// | podman   | `podman build`                             | podman (Buildah inside)                    |
enum class cli_build_path { buildx, buildkit, legacy, podman };

constexpr std::string_view to_string(cli_build_path p) noexcept {
    switch (p) {
        case cli_build_path::buildx: return "buildx";
        case cli_build_path::buildkit: return "buildkit";
        case cli_build_path::legacy: return "legacy";
        case cli_build_path::podman: return "podman";
    }
    return "unknown";
}

/// What the caller asks for; `automatic` takes the best the client offers
/// (buildx, else the built-in BuildKit client, else the legacy builder).
enum class cli_build_preference { automatic, buildx, buildkit, legacy };

/// Parses "automatic", "buildx", "buildkit" or "legacy" (a CLI flag's value).
inline cli_build_preference parse_cli_build_preference(std::string_view s) {
    if (s == "automatic" || s == "auto") return cli_build_preference::automatic;
    if (s == "buildx") return cli_build_preference::buildx;
    if (s == "buildkit") return cli_build_preference::buildkit;
    if (s == "legacy") return cli_build_preference::legacy;
    throw error(errc::invalid_argument,
                fmt::format("build mode {} is not one of automatic, buildx, buildkit, legacy", detail::printable(s)));
}

/// What `PROGRAM --version` said.
struct cli_client_version {
    cli_kind kind = cli_kind::docker;
    std::string version;                  ///< as printed: "20.10.24+dfsg1", "28.2.2", "4.3.1"
    docker_api::product_version parsed;   ///< its numeric part
};

/// A client, what it talks to, and the build path chosen for it.
struct cli_capabilities {
    std::string program;                        ///< as given: "docker", "/usr/bin/docker", "podman"
    cli_kind kind = cli_kind::docker;
    std::string client_version;
    std::string server_version;                 ///< docker: the daemon's; podman: the client's (it is the engine)
    std::optional<std::string> buildx_version;  ///< "v0.10.4" when the buildx plugin answers
    cli_build_path path = cli_build_path::legacy;
    std::string reason;                         ///< why this path, for the log

    /// BuildKit's exported caches (type=local, cache_to) need buildx.
    bool exports_cache() const noexcept { return path == cli_build_path::buildx; }
};

/// One command to run: the argument vector and environment changes
/// ("NAME=value"), as detail::run_streaming takes them.
struct cli_invocation {
    std::vector<std::string> argv;
    std::vector<std::string> environment;
};

/// How docker_cli builds, besides the request.
struct cli_build_settings {
    std::vector<std::string> global_args;  ///< after the program, before the command (`--context X`, `--log-level`)
    std::string builder;                   ///< buildx: `--builder NAME` (a remote or Kubernetes builder)
    bool load = true;                      ///< buildx: `--load` the result into the engine's image store
    std::vector<std::string> extra_args;   ///< passed through to the build command as they are, before the context
};

/// One `--cache-from` / `--cache-to` value, split: "type=local,src=/d" ->
/// {local, {src: /d}}; a bare image name is {registry, {ref: name}}.
struct cache_spec {
    std::string type;
    std::map<std::string, std::string> attributes;
};

/// What `PROGRAM image inspect NAME` printed (docker and podman: a JSON
/// array of one object) as an image_summary: the id ("sha256:" added where
/// Podman leaves it out), names, labels, size and layers. Throws
/// parse_error naming the client's output when it is not that.
inline image_summary parse_cli_image_inspect(std::string_view output);

/// What became of `PROGRAM image rm ID` (no force), from its exit status and
/// words: removed; in_use when the client refuses because a container, a
/// name or a child image holds it; gone when there is no such image;
/// std::nullopt for any other failure.
inline std::optional<image_removal> parse_cli_image_removal(int exit_code, std::string_view output);

namespace detail::cli {

inline constexpr std::size_t max_command_output = 64 * 1024;

/// The lines of `text`, each without its "\r\n" / "\n".
inline std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.push_back(line);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

/// A quoted excerpt of a program's output for an error message.
inline std::string output_excerpt(std::string_view s) {
    s = trim(s);
    if (s.size() <= 200) return printable(s);
    return printable(s.substr(0, 200)) + fmt::format("... ({} bytes)", s.size());
}

/// A version token ("20.10.24+dfsg1", "v0.10.4"): printable, no blanks, bounded.
inline bool plausible_version(std::string_view v) {
    if (v.empty() || v.size() > 64) return false;
    return std::all_of(v.begin(), v.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
               c == '+' || c == '~' || c == '_';
    });
}

/// Characters a flag value of a given kind may hold.
inline bool only(std::string_view v, std::string_view extra) {
    return std::all_of(v.begin(), v.end(), [&](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               extra.find(c) != std::string_view::npos;
    });
}

[[noreturn]] inline void bad(std::string_view what, std::string_view value, std::string_view why) {
    throw error(errc::invalid_argument, fmt::format("{} {} {}", what, output_excerpt(value), why));
}

/// A KEY=value pair's key (build args, labels): not empty, no '=', no
/// control bytes, not starting with '-'.
inline void check_key(std::string_view what, std::string_view key) {
    if (key.empty()) bad(what, key, "is empty");
    if (key.front() == '-') bad(what, key, "starts with '-'");
    for (const char c : key)
        if (c == '=' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            bad(what, key, "holds '=' or a control character");
}

inline void check_value(std::string_view what, std::string_view key, std::string_view value) {
    if (value.find('\0') != std::string_view::npos)
        bad(what, key, "has a value holding a NUL byte, which no program can receive");
}

}  // namespace detail::cli

/// Parses `PROGRAM --version`: "Docker version 20.10.24+dfsg1, build
/// 297e128", "podman version 4.3.1" (any line of it). Throws
/// unsupported_version naming the program when it is neither docker nor
/// podman, parse_error when the version is not one.
inline cli_client_version parse_cli_version(std::string_view output, std::string_view program) {
    using namespace detail::cli;
    if (output.size() > max_command_output)
        throw error(errc::parse_error, fmt::format("{} --version printed {} bytes; a version is one line",
                                                   detail::printable(program), output.size()));
    for (auto line : lines_of(output)) {
        line = trim(line);
        cli_client_version v;
        std::string_view rest;
        if (line.starts_with("Docker version ")) {
            v.kind = cli_kind::docker;
            rest = line.substr(15);
        } else if (line.starts_with("podman version ") || line.starts_with("Podman version ")) {
            v.kind = cli_kind::podman;
            rest = line.substr(15);
        } else {
            continue;
        }
        const auto end = rest.find_first_of(", ");
        const auto token = rest.substr(0, end);
        const auto parsed = docker_api::product_version::parse(token);
        if (!plausible_version(token) || !parsed)
            throw error(errc::parse_error, fmt::format("{} --version reported version {}, which is not a version",
                                                       detail::printable(program), output_excerpt(token)));
        v.version = std::string(token);
        v.parsed = *parsed;
        return v;
    }
    throw error(errc::unsupported_version,
                fmt::format("{} is neither the docker nor the podman client: `--version` said {}; install docker.io "
                            "or podman, or name the client program",
                            detail::printable(program), output_excerpt(output)));
}

/// The buildx plugin's version from `docker buildx version`
/// ("github.com/docker/buildx v0.10.4 c513d34"), or std::nullopt when the
/// plugin is missing (a non-zero exit: "'buildx' is not a docker command")
/// or said something else.
inline std::optional<std::string> parse_buildx_version(int exit_code, std::string_view output) {
    using namespace detail::cli;
    if (exit_code != 0 || output.size() > max_command_output) return std::nullopt;
    for (auto line : lines_of(output)) {
        line = trim(line);
        const auto space = line.find(' ');
        if (space == std::string_view::npos) continue;
        const auto module = line.substr(0, space);
        if (!module.ends_with("/buildx")) continue;  // github.com/docker/buildx, or a fork's path
        auto rest = line.substr(space + 1);
        const auto token = rest.substr(0, rest.find(' '));
        if (plausible_version(token)) return std::string(token);
    }
    return std::nullopt;
}

/// The daemon's version from `docker version --format {{.Server.Version}}`:
/// the first line that is a version (clients may print warnings first).
inline std::pair<std::string, docker_api::product_version> parse_server_version(std::string_view output,
                                                                              std::string_view program) {
    using namespace detail::cli;
    if (output.size() <= max_command_output)
        for (auto line : lines_of(output)) {
            line = trim(line);
            if (!plausible_version(line)) continue;
            if (const auto v = docker_api::product_version::parse(line)) return {std::string(line), *v};
        }
    throw error(errc::parse_error, fmt::format("{} did not report its server's version; it said {}",
                                               detail::printable(program), output_excerpt(output)));
}

/// Docker 23.0 removed the BuildKit client from `docker build` itself
/// (it became an alias of `docker buildx build`).
inline constexpr docker_api::product_version builtin_buildkit_until{23, 0, 0};

/// Chooses the build path from what was detected, as the table at
/// cli_build_path says. Throws unsupported_version, naming what to install,
/// when the server is older than Docker 18.09 (BuildKit's first release, the
/// OpenHands' minimum), Podman is older than 4.3, or the path asked for is not
/// there; invalid_argument for a docker path asked of podman.
inline cli_capabilities choose_build_path(std::string program, const cli_client_version& client,
                                          std::optional<std::string_view> server_version,
                                          std::optional<std::string> buildx_version, cli_build_preference want) {
    cli_capabilities c;
    c.program = std::move(program);
    c.kind = client.kind;
    c.client_version = client.version;
    c.buildx_version = std::move(buildx_version);
    const auto who = detail::printable(c.program);
    if (client.kind == cli_kind::podman) {
        if (want != cli_build_preference::automatic)
            throw error(errc::invalid_argument,
                        fmt::format("{} is podman, which builds with Buildah: build modes (buildx, buildkit, legacy) "
                                    "are for the docker client",
                                    who));
        if (client.parsed < docker_api::min_podman)
            throw error(errc::unsupported_version,
                        fmt::format("{} is Podman {}; rtb needs Podman >= {}.{} (Debian 12's podman package or newer)",
                                    who, client.version, docker_api::min_podman.major, docker_api::min_podman.minor));
        c.server_version = client.version;
        c.path = cli_build_path::podman;
        c.reason = fmt::format("Podman {}", client.version);
        return c;
    }
    if (!server_version)
        throw error(errc::connection_failed, fmt::format("{} did not report its daemon's version", who));
    const auto server = docker_api::product_version::parse(*server_version);
    if (!server)
        throw error(errc::parse_error, fmt::format("{} reported daemon version {}, which is not a version", who,
                                                   detail::cli::output_excerpt(*server_version)));
    c.server_version = std::string(*server_version);
    if (*server < docker_api::min_docker)
        throw error(errc::unsupported_version,
                    fmt::format("the Docker Engine behind {} is {}; rtb needs Docker >= 18.09 (BuildKit): upgrade "
                                "the engine (Debian: apt-get install docker.io)",
                                who, c.server_version));
    const bool builtin = client.parsed >= docker_api::min_docker && client.parsed < builtin_buildkit_until;
    const bool buildx = c.buildx_version.has_value();
    const auto need_buildx = [&](std::string_view asked) {
        return error(errc::unsupported_version,
                     fmt::format("{} build mode needs the buildx plugin, which {} (docker {}) does not have "
                                 "(`docker buildx version` failed): install docker-buildx (or docker-buildx-plugin), "
                                 "or use the legacy mode",
                                 asked, who, c.client_version));
    };
    switch (want) {
        case cli_build_preference::buildx:
            if (!buildx) throw need_buildx("the buildx");
            c.path = cli_build_path::buildx;
            c.reason = fmt::format("buildx {} (asked for)", *c.buildx_version);
            break;
        case cli_build_preference::buildkit:
            if (builtin) {
                c.path = cli_build_path::buildkit;
                c.reason = fmt::format("docker {}'s built-in BuildKit client (asked for)", c.client_version);
            } else if (buildx) {
                c.path = cli_build_path::buildx;
                c.reason = fmt::format("BuildKit asked for; docker {} runs it through buildx {}", c.client_version,
                                       *c.buildx_version);
            } else {
                throw need_buildx("the buildkit");
            }
            break;
        case cli_build_preference::legacy:
            c.path = cli_build_path::legacy;
            c.reason = "the legacy builder (asked for)";
            break;
        case cli_build_preference::automatic:
            if (buildx) {
                c.path = cli_build_path::buildx;
                c.reason = fmt::format("buildx {}", *c.buildx_version);
            } else if (builtin) {
                c.path = cli_build_path::buildkit;
                c.reason = fmt::format("docker {}'s built-in BuildKit client (no buildx plugin)", c.client_version);
            } else {
                c.path = cli_build_path::legacy;
                c.reason = fmt::format("the legacy builder: docker {} has no buildx plugin and no built-in BuildKit "
                                       "client (removed in 23.0); install docker-buildx for BuildKit",
                                       c.client_version);
            }
            break;
    }
    return c;
}

/// Splits a cache spec ("type=local,src=/d", "type=registry,ref=r/x:c", or
/// a bare image name). Throws invalid_argument naming the spec when it is
/// empty, has a field without '=', no type, a quote, or a control byte.
inline cache_spec parse_cache_spec(std::string_view spec) {
    using namespace detail::cli;
    if (spec.empty()) bad("cache spec", spec, "is empty");
    if (spec.size() > 4096) bad("cache spec", spec, "is longer than 4096 bytes");
    for (const char c : spec)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\'')
            bad("cache spec", spec, "holds a quote or a control character (rtb passes specs unquoted)");
    cache_spec out;
    if (spec.find('=') == std::string_view::npos) {  // a bare image: what docker build --cache-from takes
        image_ref::parse(spec);
        out.type = "registry";
        out.attributes["ref"] = std::string(spec);
        return out;
    }
    std::string_view rest = spec;
    while (true) {
        const auto comma = rest.find(',');
        const auto field = rest.substr(0, comma);
        const auto eq = field.find('=');
        if (eq == std::string_view::npos || eq == 0)
            bad("cache spec", spec, fmt::format("has field {} that is not key=value", detail::printable(field)));
        const auto key = std::string(field.substr(0, eq));
        if (key == "type") out.type = std::string(field.substr(eq + 1));
        else out.attributes[key] = std::string(field.substr(eq + 1));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    if (out.type.empty()) bad("cache spec", spec, "has no type= field");
    return out;
}

/// The argument vector and environment for building `r` through the
/// client: every value is one argument, joined to its flag (`--tag=X`), so
/// nothing is ever read by a shell and no value can be taken for a flag.
/// The context comes on stdin (`-`, a tar); the image id is written to
/// `iidfile`. Throws invalid_argument for a tag that is not an image name,
/// a malformed build arg, label, platform, target or network, a NUL byte;
/// unsupported_version (naming the remedy) for what the chosen path cannot
/// do: cache export or local caches without buildx, `--builder` without
/// buildx, per-build resource limits under BuildKit.
inline cli_invocation build_invocation(const build_request& r, const cli_capabilities& caps,
                                       const cli_build_settings& settings, std::string_view iidfile) {
    using namespace detail::cli;
    const auto path = caps.path;
    const bool buildkit_like = path == cli_build_path::buildx || path == cli_build_path::buildkit;
    const auto who = fmt::format("{} ({} path)", detail::printable(caps.program), to_string(path));

    cli_invocation inv;
    inv.argv.push_back(caps.program);
    for (const auto& g : settings.global_args) inv.argv.push_back(g);
    if (path == cli_build_path::buildx) inv.argv.insert(inv.argv.end(), {"buildx", "build"});
    else inv.argv.push_back("build");
    auto flag = [&](std::string_view name, std::string_view value) {
        inv.argv.push_back(fmt::format("--{}={}", name, value));
    };

    switch (path) {
        case cli_build_path::buildx:
            inv.environment = {"BUILDKIT_PROGRESS=plain", "DOCKER_CLI_HINTS=false"};
            break;
        case cli_build_path::buildkit:
            inv.environment = {"DOCKER_BUILDKIT=1", "BUILDKIT_PROGRESS=plain", "DOCKER_CLI_HINTS=false"};
            break;
        case cli_build_path::legacy:
            inv.environment = {"DOCKER_BUILDKIT=0", "DOCKER_CLI_HINTS=false"};
            break;
        case cli_build_path::podman:
            break;
    }
    if (buildkit_like) flag("progress", "plain");

    if (r.dockerfile.empty() || r.dockerfile.front() == '/' || r.dockerfile.find('\0') != std::string::npos)
        bad("Dockerfile path", r.dockerfile, "must be a path relative to the context");
    flag("file", r.dockerfile);
    for (const auto& t : r.tags) {
        if (t.empty() || t.front() == '-') bad("tag", t, "is not an image name");
        image_ref::parse(t);  // throws invalid_argument quoting the tag and its fault
        flag("tag", t);
    }
    for (const auto& [k, v] : r.build_args) {
        check_key("build arg", k);
        check_value("build arg", k, v);
        flag("build-arg", k + "=" + v);
    }
    for (const auto& [k, v] : r.labels) {
        if (r.labels_in_dockerfile) break;  // the Dockerfile sets them
        check_key("label", k);
        check_value("label", k, v);
        flag("label", k + "=" + v);
    }
    if (!r.platform.empty()) {
        if (r.platform.size() > 256 || !only(r.platform, "/_.,-") || r.platform.front() == '-')
            bad("platform", r.platform, "is not a platform (os/arch[/variant], e.g. linux/amd64)");
        flag("platform", r.platform);
    }
    if (!r.target.empty()) {
        if (r.target.size() > 256 || !only(r.target, "_.-") || r.target.front() == '-')
            bad("target", r.target, "is not a build stage name");
        flag("target", r.target);
    }
    if (!r.network_mode.empty()) {
        if (r.network_mode.size() > 256 || !only(r.network_mode, "_.:-") || r.network_mode.front() == '-')
            bad("network mode", r.network_mode, "is not a network mode (none, host, default or a network's name)");
        flag("network", r.network_mode);
    }
    if (r.no_cache) inv.argv.push_back("--no-cache");
    if (r.pull) inv.argv.push_back("--pull");
    if (path == cli_build_path::legacy || path == cli_build_path::podman) {
        flag("rm", r.remove_intermediate ? "true" : "false");
        flag("force-rm", r.force_remove_intermediate ? "true" : "false");
    }

    if (r.resources && !r.resources->empty()) {
        const auto& res = *r.resources;
        if (buildkit_like)
            throw error(errc::unsupported_version,
                        fmt::format("{}: BuildKit does not apply per-build resource limits (memory, CPU, shm); build "
                                    "with the legacy mode or podman, or set limits on the builder",
                                    who));
        if (res.pids_limit)
            throw error(errc::invalid_argument, "a pids limit applies to containers, not to builds");
        if (res.memory) flag("memory", std::to_string(*res.memory));
        if (res.memory_swap) flag("memory-swap", std::to_string(*res.memory_swap));
        if (res.nano_cpus) {  // `build` has no --cpus: the same share as a quota per period
            const std::int64_t period = res.cpu_period.value_or(100'000);
            flag("cpu-period", std::to_string(period));
            flag("cpu-quota", std::to_string(*res.nano_cpus * period / 1'000'000'000));
        } else {
            if (res.cpu_period) flag("cpu-period", std::to_string(*res.cpu_period));
            if (res.cpu_quota) flag("cpu-quota", std::to_string(*res.cpu_quota));
        }
        if (res.shm_size) flag("shm-size", std::to_string(*res.shm_size));
    }

    // Caches: buildx takes every BuildKit spec as it is. Without buildx only
    // importing from an image is possible (docker: an image with inline
    // cache metadata or a local image; podman: a repository), and podman
    // exports to a repository. Anything else is refused, not dropped: a
    // cache policy that silently does nothing hides a slow build.
    const auto refuse = [&](std::string_view direction, std::string_view spec, std::string_view why) {
        throw error(errc::unsupported_version,
                    fmt::format("{} cannot {} build cache {}: {}", who, direction, detail::printable(spec), why));
    };
    for (const auto& s : r.cache_from) {
        const auto spec = parse_cache_spec(s);
        if (path == cli_build_path::buildx) {
            flag("cache-from", s);
        } else if (spec.type == "registry" && spec.attributes.contains("ref")) {
            flag("cache-from", spec.attributes.at("ref"));
        } else {
            refuse("import", s,
                   path == cli_build_path::podman
                       ? "Podman imports caches from a repository only (type=registry,ref=...)"
                       : "only docker buildx reads BuildKit cache exports; install docker-buildx, or use registry_cache "
                         "with an image");
        }
    }
    for (const auto& s : r.cache_to) {
        const auto spec = parse_cache_spec(s);
        if (path == cli_build_path::buildx) {
            flag("cache-to", s);
        } else if (path == cli_build_path::podman && spec.type == "registry" && spec.attributes.contains("ref")) {
            flag("cache-to", spec.attributes.at("ref"));
        } else {
            refuse("export", s,
                   path == cli_build_path::podman
                       ? "Podman exports caches to a repository only (type=registry,ref=...)"
                       : "exporting a build cache needs docker buildx; install docker-buildx, or use a cache policy "
                         "without export (engine_layer_cache)");
        }
    }

    if (!settings.builder.empty()) {
        if (path != cli_build_path::buildx)
            throw error(errc::unsupported_version,
                        fmt::format("{}: builder {} needs docker buildx (--builder is a buildx option)", who,
                                    detail::printable(settings.builder)));
        if (settings.builder.front() == '-' || !only(settings.builder, "_.-"))
            bad("buildx builder name", settings.builder, "is not a builder name");
        flag("builder", settings.builder);
    }
    if (path == cli_build_path::buildx && settings.load) inv.argv.push_back("--load");
    flag("iidfile", iidfile);
    for (const auto& a : settings.extra_args) inv.argv.push_back(a);
    inv.argv.push_back("-");  // the context: a tar on stdin
    for (const auto& a : inv.argv)
        if (a.find('\0') != std::string::npos) bad("argument", a, "holds a NUL byte");
    return inv;
}

inline image_summary parse_cli_image_inspect(std::string_view output) {
    auto bad = [&](std::string_view why) {
        return error(errc::parse_error, fmt::format("the client's image inspect output is not an image: {}: {}", why,
                                                    detail::cli::output_excerpt(output)));
    };
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(output.data(), output.size()).get(doc) != simdjson::SUCCESS) throw bad("not JSON");
    simdjson::dom::array list;
    simdjson::dom::object item;
    if (doc.get_array().get(list) != simdjson::SUCCESS || list.size() != 1 ||
        list.at(0).get_object().get(item) != simdjson::SUCCESS)
        throw bad("not an array of one object");
    image_summary s;
    std::string_view id;
    if (item["Id"].get_string().get(id) != simdjson::SUCCESS || !docker_api::is_image_id(id)) throw bad("no image id");
    s.id = id.starts_with("sha256:") ? std::string(id) : "sha256:" + std::string(id);
    if (simdjson::dom::array tags; item["RepoTags"].get_array().get(tags) == simdjson::SUCCESS)
        for (auto t : tags)
            if (std::string_view v; t.get_string().get(v) == simdjson::SUCCESS) s.repo_tags.emplace_back(v);
    auto labels_from = [&](simdjson::simdjson_result<simdjson::dom::element> labels) {
        simdjson::dom::object o;
        if (labels.get_object().get(o) != simdjson::SUCCESS) return;
        for (auto [k, v] : o)
            if (std::string_view value; v.get_string().get(value) == simdjson::SUCCESS) s.labels[std::string(k)] = value;
    };
    labels_from(item["Config"]["Labels"]);
    if (s.labels.empty()) labels_from(item["Labels"]);  // Podman also puts them at the top
    if (std::uint64_t size = 0; item["Size"].get_uint64().get(size) == simdjson::SUCCESS) s.size = size;
    if (simdjson::dom::array layers; item["RootFS"]["Layers"].get_array().get(layers) == simdjson::SUCCESS)
        for (auto l : layers)
            if (std::string_view v; l.get_string().get(v) == simdjson::SUCCESS) s.layers.emplace_back(v);
    return s;
}

inline std::optional<image_removal> parse_cli_image_removal(int exit_code, std::string_view output) {
    if (exit_code == 0) return image_removal::removed;
    for (const auto* gone : {"No such image", "no such image", "image not known"})
        if (output.find(gone) != std::string_view::npos) return image_removal::gone;
    // docker: "conflict: unable to delete ... image is being used by stopped
    // container ...", "... has dependent child images", "... must be forced";
    // podman: "image is in use by a container", "image has dependent children".
    for (const auto* held : {"conflict", "in use", "being used", "dependent child", "must be forced"})
        if (output.find(held) != std::string_view::npos) return image_removal::in_use;
    return std::nullopt;
}

}  // namespace rtb
