// The Docker Engine API as plain data and pure functions: API and product
// versions and their negotiation, the /version answer, request targets and
// query strings (POST /build, /images/create, push, tag, filters), and the
// classification of errors engines report inside a stream.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/resources.hpp"
#include "rtb/transport/detail/codec.hpp"

namespace rtb::docker_api {

/// An Engine API version, "1.41".
struct api_version {
    int major = 1;
    int minor = 41;

    /// Parses "1.41"; std::nullopt unless it is exactly two dot-separated numbers.
    static std::optional<api_version> parse(std::string_view s) {
        const auto dot = s.find('.');
        if (dot == std::string_view::npos || dot == 0 || dot + 1 >= s.size() || s.size() > 12) return std::nullopt;
        api_version v;
        const auto a = std::from_chars(s.data(), s.data() + dot, v.major);
        const auto b = std::from_chars(s.data() + dot + 1, s.data() + s.size(), v.minor);
        if (a.ec != std::errc{} || a.ptr != s.data() + dot || b.ec != std::errc{} || b.ptr != s.data() + s.size() ||
            v.major < 0 || v.minor < 0)
            return std::nullopt;
        return v;
    }
    std::string str() const { return fmt::format("{}.{}", major, minor); }
    friend auto operator<=>(const api_version&, const api_version&) = default;
};

/// The newest API rtb speaks (Docker 20.10), and the oldest it accepts:
/// 1.39 is Docker 18.09, the first with BuildKit, as OpenHands requires.
inline constexpr api_version newest_api{1, 41};
inline constexpr api_version oldest_api{1, 39};

/// A product version, "20.10.24+dfsg1", "18.09.0-ce", "4.3.1": the leading
/// major.minor[.patch]; std::nullopt when it does not start with numbers.
struct product_version {
    int major = 0, minor = 0, patch = 0;

    static std::optional<product_version> parse(std::string_view s) {
        product_version v;
        const char* p = s.data();
        const char* end = s.data() + s.size();
        int* parts[] = {&v.major, &v.minor, &v.patch};
        for (int i = 0; i < 3; ++i) {
            const auto r = std::from_chars(p, end, *parts[i]);
            if (r.ec != std::errc{}) {
                if (i < 2) return std::nullopt;  // major and minor are required
                break;
            }
            p = r.ptr;
            if (p == end || *p != '.') {
                if (i < 1) return std::nullopt;
                break;
            }
            ++p;
        }
        return v;
    }
    std::string str() const { return fmt::format("{}.{}.{}", major, minor, patch); }
    friend auto operator<=>(const product_version&, const product_version&) = default;
};

/// What OpenHands requires, and what rtb accepts for Podman: Debian 12 ships
/// Podman 4.3, whose Docker-compatible API does everything docker_engine
/// uses (see docs/engines.md for what differs); OpenHands' 4.9 is only
/// reported, not required.
inline constexpr product_version min_docker{18, 9, 0};
inline constexpr product_version min_podman{4, 3, 0};
inline constexpr product_version seed_podman{4, 9, 0};

/// The API version to use: the lower of the server's (from /_ping's
/// API-Version header or /version) and ours. Throws unsupported_version when
/// the server's is older than oldest_api, parse_error when it is not a version.
inline api_version negotiate(std::string_view server_api, api_version ours, std::string_view where) {
    const auto server = api_version::parse(server_api);
    if (!server)
        throw error(errc::parse_error, fmt::format("the engine on {} reported API version {}, which is not a version",
                                                   where, detail::ref::quote(server_api)));
    if (*server < oldest_api)
        throw error(errc::unsupported_version,
                    fmt::format("the engine on {} speaks Engine API {}; rtb needs at least {} (Docker 18.09)", where,
                                server->str(), oldest_api.str()));
    return std::min(*server, ours);
}

/// The facts /version gives.
struct version_answer {
    std::string product;      ///< "Docker Engine" or "Podman Engine"
    std::string version;      ///< e.g. "20.10.24+dfsg1", "4.3.1"
    std::string api_version;  ///< the compat API version, "1.41"
    std::string min_api_version;
    bool is_podman = false;
};

/// Parses GET /version. Podman names itself in Components[].Name ("Podman
/// Engine"); Docker's engine component is "Engine".
version_answer parse_version(std::string_view json, std::string_view where);

/// Throws unsupported_version when the product is older than rtb supports,
/// naming the product, its version and the minimum.
inline void check_version(const version_answer& v, std::string_view where) {
    const auto pv = product_version::parse(v.version);
    if (!pv)
        throw error(errc::parse_error, fmt::format("{} on {} reported version {}, which is not a version", v.product,
                                                   where, detail::ref::quote(v.version)));
    const auto min = v.is_podman ? min_podman : min_docker;
    if (*pv < min)
        throw error(errc::unsupported_version,
                    fmt::format("{} {} on {} is too old: rtb needs {} >= {}.{}{}", v.product, v.version, where,
                                v.is_podman ? "Podman" : "Docker", min.major, min.minor,
                                v.is_podman ? "" : " (BuildKit)"));
}

// ------------------------------------------------------------ request paths

/// How an image is named in a request path and `fromImage`: the form the
/// docker CLI sends ("local/busybox:1", "127.0.0.1:5000/app:1"). Podman
/// resolves short names the same way (it stores `podman import` results
/// under localhost/, which a fully qualified docker.io/ name would miss).
inline std::string wire_name(const image_ref& ref) { return ref.familiar(); }

/// The familiar repository name alone, without tag or digest ("local/busybox").
inline std::string wire_repository(const image_ref& ref) {
    std::string name = ref.familiar();
    if (ref.digest()) name.erase(name.find('@'));
    if (ref.tag()) name.erase(name.rfind(':'));
    return name;
}

/// GET /images/{name}/json
inline std::string inspect_target(api_version v, const image_ref& ref) {
    return fmt::format("/v{}/images/{}/json", v.str(), detail::url_encode_path(wire_name(ref)));
}

/// Whether `s` is an image id: "sha256:" and 64 lowercase hex digits, or the
/// 64 digits alone (what engines answer with; never a name).
constexpr bool is_image_id(std::string_view s) noexcept {
    if (s.starts_with("sha256:")) s.remove_prefix(7);
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

/// The image id a builder prints when a step is done, or "" for any other
/// line: dockerd's classic builder " ---> 1a2b3c4d5e6f" (12 hex digits),
/// Podman's (Buildah's) "--> 08f3d2e376e" (a short id, 11 or more).
constexpr std::string_view step_image_of(std::string_view line) noexcept {
    std::string_view id;
    if (line.starts_with(" ---> ")) {
        id = line.substr(6);
        if (id.size() != 12) return {};
    } else if (line.starts_with("--> ")) {
        id = line.substr(4);
        if (id.size() < 11 || id.size() > 64) return {};
    } else {
        return {};
    }
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
    return id;
}

/// GET /images/{id}/json for an image id (is_image_id, or a short one).
inline std::string inspect_id_target(api_version v, std::string_view id) {
    return fmt::format("/v{}/images/{}/json", v.str(), detail::url_encode_path(id));
}

/// DELETE /images/{id} without force, pruning untagged parents: the engine
/// refuses (409) while a container, a name or a child image holds it.
inline std::string remove_id_target(api_version v, std::string_view id) {
    return fmt::format("/v{}/images/{}?force=0&noprune=0", v.str(), detail::url_encode_path(id));
}

/// Podman's own existence check, GET /v4.0.0/libpod/images/{name}/exists
/// (204 or 404): a third of the compat inspect's time on Podman 4.3, which
/// computes the whole inspect document to answer.
inline std::string libpod_exists_target(const image_ref& ref) {
    return fmt::format("/v4.0.0/libpod/images/{}/exists", detail::url_encode_path(wire_name(ref)));
}

/// POST /images/create?fromImage=...&tag=... (a digest goes in `tag`, as the
/// docker CLI sends it).
inline std::string pull_target(api_version v, const image_ref& ref, std::string_view platform = {}) {
    const std::string name = wire_repository(ref);
    const std::string tag = ref.digest() ? *ref.digest() : std::string(ref.tag_or_latest());
    std::string t = fmt::format("/v{}/images/create?fromImage={}&tag={}", v.str(), detail::url_encode(name),
                                detail::url_encode(tag));
    if (!platform.empty()) t += "&platform=" + detail::url_encode(platform);
    return t;
}

/// POST /images/{name}/push?tag=...
inline std::string push_target(api_version v, const image_ref& ref) {
    if (ref.digest() && !ref.tag())
        throw error(errc::invalid_argument, fmt::format("cannot push {} by digest; push a tag", ref.str()));
    return fmt::format("/v{}/images/{}/push?tag={}", v.str(), detail::url_encode_path(wire_repository(ref)),
                       detail::url_encode(ref.tag_or_latest()));
}

/// POST /images/{from}/tag?repo=...&tag=...
inline std::string tag_target(api_version v, const image_ref& from, const image_ref& to) {
    if (to.digest()) throw error(errc::invalid_argument, fmt::format("cannot tag {} with a digest", to.str()));
    const std::string repo = wire_repository(to);
    return fmt::format("/v{}/images/{}/tag?repo={}&tag={}", v.str(), detail::url_encode_path(wire_name(from)),
                       detail::url_encode(repo), detail::url_encode(to.tag_or_latest()));
}

/// DELETE /images/{name}?force=...&noprune=...
inline std::string remove_target(api_version v, const image_ref& ref, bool force, bool prune_parents) {
    return fmt::format("/v{}/images/{}?force={}&noprune={}", v.str(), detail::url_encode_path(wire_name(ref)),
                       force ? "1" : "0", prune_parents ? "0" : "1");
}

/// A JSON object of string pairs ({"a":"1"}), keys in map order.
inline std::string json_object(const std::map<std::string, std::string>& m) {
    std::string out = "{";
    for (const auto& [k, v] : m) {
        if (out.size() > 1) out += ',';
        out += detail::json_quote(k) + ':' + detail::json_quote(v);
    }
    return out + '}';
}

/// A JSON array of strings.
inline std::string json_array(const std::vector<std::string>& v) {
    std::string out = "[";
    for (const auto& s : v) {
        if (out.size() > 1) out += ',';
        out += detail::json_quote(s);
    }
    return out + ']';
}

/// GET /images/json?filters={"label":[...]}: each filter is "key" (has the
/// label) or "key=value"; an image must match all of them.
inline std::string list_images_target(api_version v, const std::vector<std::string>& label_filters) {
    std::string t = fmt::format("/v{}/images/json", v.str());
    if (!label_filters.empty())
        t += "?filters=" + detail::url_encode(fmt::format("{{\"label\":{}}}", json_array(label_filters)));
    return t;
}

/// Whether `labels` satisfy every filter ("key": present; "key=value":
/// equal), as the engine's label filter means it. docker_engine applies it
/// to listings itself: Podman 4.3 answers no images at all when given more
/// than one label filter.
inline bool labels_match(const std::map<std::string, std::string>& labels, const std::vector<std::string>& filters) {
    for (const auto& f : filters) {
        const auto eq = f.find('=');
        const auto it = labels.find(f.substr(0, eq));
        if (it == labels.end()) return false;
        if (eq != std::string::npos && it->second != std::string_view(f).substr(eq + 1)) return false;
    }
    return true;
}

/// The POST /build query parameters for build limits, in the Engine API's
/// names: memory, memswap, cpuperiod, cpuquota, shmsize. Checked first
/// (validate(), limits_for::build); nano_cpus, which /build lacks, becomes
/// the equivalent quota over the default 100 ms period.
inline std::vector<std::pair<std::string, std::string>> build_resource_params(const resources& r,
                                                                              std::string_view where) {
    validate(r, limits_for::build, where);
    std::vector<std::pair<std::string, std::string>> out;
    if (r.memory) out.emplace_back("memory", std::to_string(*r.memory));
    if (r.memory_swap) out.emplace_back("memswap", std::to_string(*r.memory_swap));
    if (r.nano_cpus) {
        out.emplace_back("cpuperiod", std::to_string(default_cpu_period));
        out.emplace_back("cpuquota", std::to_string(*r.nano_cpus / (1'000'000'000 / default_cpu_period)));
    }
    if (r.cpu_period) out.emplace_back("cpuperiod", std::to_string(*r.cpu_period));
    if (r.cpu_quota) out.emplace_back("cpuquota", std::to_string(*r.cpu_quota));
    if (r.shm_size) out.emplace_back("shmsize", std::to_string(*r.shm_size));
    return out;
}

/// POST /build: the target with its query, from a build_request. Pure, so
/// every field's encoding is tested; the body (the context tar) and the
/// X-Registry-Config header are the caller's. Throws invalid_argument for
/// requests the Engine API cannot express (cache export is BuildKit's,
/// through the CLI; a Dockerfile outside the context; a bad tag).
inline std::string build_target(api_version v, const build_request& r) {
    std::string q = fmt::format("/v{}/build?", v.str());
    auto add = [&](std::string_view key, std::string_view value) {
        if (q.back() != '?') q += '&';
        q += key;
        q += '=';
        q += detail::url_encode(value);
    };
    if (r.dockerfile.empty() || r.dockerfile.starts_with('/') || r.dockerfile == ".." ||
        r.dockerfile.starts_with("../") || r.dockerfile.find("/../") != std::string::npos ||
        r.dockerfile.ends_with("/.."))
        throw error(errc::invalid_argument,
                    fmt::format("Dockerfile path {} must be relative and inside the build context",
                                detail::ref::quote(r.dockerfile)));
    for (unsigned char c : r.dockerfile)
        if (c < 0x20 || c == 0x7f)
            throw error(errc::invalid_argument,
                        fmt::format("Dockerfile path {} contains a control character", detail::ref::quote(r.dockerfile)));
    if (!r.cache_to.empty())
        throw error(errc::invalid_argument,
                    "cache export (cache_to) needs BuildKit, which the Engine API's /build does not offer; "
                    "use the docker_cli transport");
    for (const auto& t : r.tags) add("t", image_ref::parse(t).familiar());
    add("dockerfile", r.dockerfile);
    if (!r.build_args.empty()) add("buildargs", json_object(r.build_args));
    if (!r.labels.empty() && !r.labels_in_dockerfile) add("labels", json_object(r.labels));
    if (!r.platform.empty()) add("platform", r.platform);
    if (!r.target.empty()) add("target", r.target);
    if (!r.network_mode.empty()) add("networkmode", r.network_mode);
    if (!r.cache_from.empty()) add("cachefrom", json_array(r.cache_from));
    if (r.pull) add("pull", "1");
    if (r.no_cache) add("nocache", "1");
    if (r.resources)
        for (const auto& [key, value] : build_resource_params(
                 *r.resources, fmt::format("build of {}", r.tags.empty() ? std::string("an image") : r.tags.front())))
            add(key, value);
    add("rm", r.remove_intermediate ? "1" : "0");
    add("forcerm", r.force_remove_intermediate ? "1" : "0");
    return q;
}

// ------------------------------------------------------------ stream errors

/// The code for an error an engine reports inside a pull or push stream
/// (Podman answers 200 and reports a missing image in the stream; Docker
/// answers 404): not_found, unauthorized, or server_error.
inline errc classify_stream_error(std::string_view message) {
    auto has = [&](std::string_view needle) {
        return std::search(message.begin(), message.end(), needle.begin(), needle.end(), [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
               }) != message.end();
    };
    if (has("unauthorized") || has("authentication required") || has("denied") || has("401 Unauthorized") ||
        has("403 Forbidden"))
        return errc::unauthorized;
    if (has("manifest unknown") || has("not found") || has("no such image") || has("name unknown") ||
        has("image not known") || has("does not exist"))
        return errc::not_found;
    if (has("toomanyrequests") || has("429 Too Many Requests")) return errc::rate_limited;
    return errc::server_error;
}

/// The exit code a failed RUN had, from an engine's error message when the
/// stream gave no code field: Docker's "returned a non-zero code: 3",
/// Podman's "exit status 3".
inline std::optional<int> exit_code_from_message(std::string_view message) {
    for (std::string_view marker : {std::string_view("returned a non-zero code: "), std::string_view("exit status ")}) {
        const auto at = message.rfind(marker);
        if (at == std::string_view::npos) continue;
        const auto digits = message.substr(at + marker.size());
        int code = 0;
        const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), code);
        if (r.ec == std::errc{} && r.ptr != digits.data()) return code;
    }
    return std::nullopt;
}

}  // namespace rtb::docker_api

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/docker_api.ipp"
#endif
