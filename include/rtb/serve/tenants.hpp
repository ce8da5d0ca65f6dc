// Tenants of rtb serve: every API key belongs to one, and a tenant builds
// and tags images only under its own name prefixes (by default
// "<registry prefix>/<tenant>"). The rules are pure functions over names, so
// every case is tested without a server: a name is normalized as the engine
// will read it (docker.io/, library/) before it is compared, digests are
// refused as build names, and two tenants' prefixes may not overlap.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/serve/log_text.hpp"

namespace rtb::serve {

/// One tenant, as the operator's key file describes it.
struct tenant {
    std::string name;                   ///< [a-z0-9] words joined by '.', '_' or '-'; at most 64 bytes
    std::vector<std::string> prefixes;  ///< as written; the first is what GET /registry_prefix answers
    bool metrics = true;                ///< may scrape GET /metrics (which shows every tenant's counts)
};

/// A name a tenant may not use, and why (the HTTP status says whose fault:
/// 400 a malformed name or a digest, 403 a name outside the prefixes).
struct name_refusal {
    int status = 400;
    std::string message;
};

/// Whether `name` (a build's target_image or one of its tags; `role` says
/// which, for the message) may be built and tagged by `t`: a valid
/// reference with no digest whose repository lies strictly below one of the
/// tenant's prefixes once both are normalized. std::nullopt: allowed.
inline std::optional<name_refusal> image_name_refusal(const tenant& t, std::string_view name, std::string_view role);

/// A prefix normalized for comparison ("local/rtb/alice" ->
/// "docker.io/local/rtb/alice"); throws invalid_argument for a prefix that
/// cannot start an image name (empty, a tag, a digest, bad characters).
inline std::string normalized_prefix(std::string_view prefix);

/// Why `name` cannot be a tenant's name, or std::nullopt.
inline std::optional<std::string> tenant_name_problem(std::string_view name);

/// The prefix of a tenant the key file gives none: "<registry_prefix>/<name>".
inline std::string default_prefix(std::string_view registry_prefix, std::string_view name);

/// Throws invalid_argument when two tenants' prefixes overlap (one equal to
/// or below another's): each tenant's names must be its own.
inline void check_tenants_apart(const std::vector<tenant>& tenants, std::string_view where);

// ---------------------------------------------------------------------------

inline std::optional<std::string> tenant_name_problem(std::string_view name) {
    if (name.empty()) return "a tenant name is empty";
    if (name.size() > 64) return fmt::format("tenant name '{}' is longer than 64 bytes", log_escape(name, 80));
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    bool ok = alnum(name.front()) && alnum(name.back());
    for (std::size_t i = 1; ok && i < name.size(); ++i) {
        const char c = name[i];
        if (alnum(c)) continue;
        ok = (c == '.' || c == '_' || c == '-') && alnum(name[i - 1]);
    }
    if (!ok)
        return fmt::format("tenant name '{}' is not lowercase letters and digits joined by single '.', '_' or '-' "
                           "(it becomes a component of image names)",
                           log_escape(name, 80));
    return std::nullopt;
}

inline std::string default_prefix(std::string_view registry_prefix, std::string_view name) {
    std::string p(registry_prefix);
    while (!p.empty() && p.back() == '/') p.pop_back();
    return p.empty() ? std::string(name) : p + "/" + std::string(name);
}

inline std::string normalized_prefix(std::string_view prefix) {
    std::string_view p = prefix;
    while (!p.empty() && p.back() == '/') p.remove_suffix(1);
    if (p.empty()) throw error(errc::invalid_argument, "an image name prefix is empty");
    if (p.find_first_of(":@") != std::string_view::npos) {
        // A registry port ("host:5000/team") is fine; a tag or digest is not.
        const auto slash = p.find('/');
        const auto colon = p.find_first_of(":@");
        if (slash == std::string_view::npos || colon > slash || p.find('@') != std::string_view::npos)
            throw error(errc::invalid_argument,
                        fmt::format("image name prefix '{}' holds a tag or digest; a prefix is "
                                    "[registry/]path, e.g. local/rtb/team",
                                    log_escape(prefix, 200)));
    }
    // Parsed as a name below it, so docker.io/ and registry rules apply as
    // they will to the names compared with it.
    try {
        const auto ref = image_ref::parse(fmt::format("{}/x", p));
        const auto name = ref.name();
        return name.substr(0, name.size() - 2);
    } catch (const error& e) {
        throw error(errc::invalid_argument,
                    fmt::format("image name prefix '{}' cannot start an image name: {}", log_escape(prefix, 200), e.what()));
    }
}

inline std::optional<name_refusal> image_name_refusal(const tenant& t, std::string_view name, std::string_view role) {
    const auto shown = log_escape(name, 200);
    std::optional<image_ref> ref;
    try {
        ref = image_ref::parse(name);
    } catch (const error& e) {
        return name_refusal{400, fmt::format("{} '{}' is not an image name: {}", role, shown, e.what())};
    }
    if (ref->digest())
        return name_refusal{400, fmt::format("{} '{}' names a digest; a build's names are repository[:tag] "
                                             "(a digest is what a build produces, not a name it can take)",
                                             role, shown)};
    const auto full = ref->name();
    for (const auto& p : t.prefixes) {
        std::string norm;
        try {
            norm = normalized_prefix(p);
        } catch (const error&) {
            continue;  // refused when the key file was read; never matches
        }
        if (full.size() > norm.size() + 1 && full.starts_with(norm) && full[norm.size()] == '/') return std::nullopt;
    }
    std::string allowed;
    for (const auto& p : t.prefixes) allowed += (allowed.empty() ? "" : ", ") + p + "/";
    return name_refusal{403, fmt::format("{} '{}' is outside the image names tenant {} may build and tag ({}); "
                                         "name it below one of them",
                                         role, shown, t.name, allowed.empty() ? "none" : allowed)};
}

inline void check_tenants_apart(const std::vector<tenant>& tenants, std::string_view where) {
    struct owned {
        std::string prefix;
        const tenant* by;
    };
    std::vector<owned> all;
    for (const auto& t : tenants)
        for (const auto& p : t.prefixes) all.push_back({normalized_prefix(p), &t});
    for (std::size_t i = 0; i < all.size(); ++i)
        for (std::size_t j = i + 1; j < all.size(); ++j) {
            if (all[i].by == all[j].by) continue;
            const auto& a = all[i].prefix;
            const auto& b = all[j].prefix;
            const auto& shorter = a.size() <= b.size() ? a : b;
            const auto& longer = a.size() <= b.size() ? b : a;
            if (longer == shorter || (longer.starts_with(shorter) && longer[shorter.size()] == '/'))
                throw error(errc::invalid_argument,
                            fmt::format("{}: tenants {} and {} share image names ({} and {}); each tenant's "
                                        "prefixes must be its own",
                                        where, all[i].by->name, all[j].by->name, a, b));
        }
}

}  // namespace rtb::serve
