// The pure parts of buildx_local_cache: what a BuildKit local cache folder
// (an OCI image layout: index.json, oci-layout, blobs/sha256/<hex>) refers
// to, whether its index.json is usable, and which files an age-based prune
// removes. Internal.
#pragma once

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <range/v3/action/sort.hpp>
#include <range/v3/range/conversion.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/transform.hpp>
#include <simdjson.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb::detail::local_cache {

/// index.json (and the manifests below it) larger than this are not a cache's.
inline constexpr std::size_t max_index_size = std::size_t{4} << 20;

/// Checks an index.json: a JSON object whose "manifests" is an array of
/// objects each with a "digest" "sha256:<64 hex>". Returns the digests.
/// Throws parse_error naming `where` and what is wrong.
inline std::vector<std::string> index_digests(std::string_view json, std::string_view where) {
    const auto bad = [&](std::string_view why) {
        return error(errc::parse_error, fmt::format("{} is not a usable OCI index: {}", printable(where), why));
    };
    if (json.size() > max_index_size) throw bad(fmt::format("{} bytes, more than {}", json.size(), max_index_size));
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) throw bad("not JSON");
    if (!doc.is_object()) throw bad("not a JSON object");
    simdjson::dom::array manifests;
    if (doc["manifests"].get_array().get(manifests) != simdjson::SUCCESS) throw bad("no \"manifests\" array");
    std::vector<std::string> out;
    for (auto m : manifests) {
        std::string_view d;
        if (!m.is_object() || m["digest"].get_string().get(d) != simdjson::SUCCESS)
            throw bad("a manifest entry has no \"digest\" string");
        if (d.size() != 71 || !d.starts_with("sha256:") ||
            d.substr(7).find_first_not_of("0123456789abcdef") != std::string_view::npos)
            throw bad(fmt::format("digest {} is not sha256:<64 hex>", printable(d.substr(0, 80))));
        out.emplace_back(d);
    }
    return out;
}

/// The digests a manifest or index blob names (its "config", "layers" and
/// "manifests" entries); nothing when the blob is not such JSON (a layer).
inline std::vector<std::string> blob_references(std::string_view json) {
    std::vector<std::string> out;
    if (json.empty() || json.size() > max_index_size || (json.front() != '{' && json.front() != ' ')) return out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) return out;
    const auto take = [&](simdjson::dom::element e) {
        std::string_view d;
        if (e.is_object() && e["digest"].get_string().get(d) == simdjson::SUCCESS && d.starts_with("sha256:") &&
            d.size() == 71)
            out.emplace_back(d);
    };
    simdjson::dom::element config;
    if (doc["config"].get(config) == simdjson::SUCCESS) take(config);
    for (const char* key : {"layers", "manifests"}) {
        simdjson::dom::array a;
        if (doc[key].get_array().get(a) == simdjson::SUCCESS)
            for (auto e : a) take(e);
    }
    return out;
}

/// A file of the cache folder, as prune_plan() sees it.
struct cache_file {
    std::string path;  ///< relative to the cache folder, '/'-separated ("blobs/sha256/ab..")
    std::chrono::system_clock::time_point modified;
};

/// The blob path of a digest: "sha256:ab.." -> "blobs/sha256/ab..".
inline std::string blob_path(std::string_view digest) {
    const auto colon = digest.find(':');
    return fmt::format("blobs/{}/{}", digest.substr(0, colon), digest.substr(colon + 1));
}

/// Which files an age-based prune removes: those not modified for longer
/// than `max_age` (OpenHands' rule), except blobs the current index still
/// reaches (`referenced`, blob paths): BuildKit does not rewrite a blob it
/// already has, so a base layer in use for weeks keeps its old mtime, and
/// removing it would leave the index pointing at nothing. When index.json
/// itself is that old, the whole cache is unused: everything old goes,
/// index.json and oci-layout included. Sorted.
inline std::vector<std::string> prune_plan(const std::vector<cache_file>& files, const std::set<std::string>& referenced,
                                           std::chrono::system_clock::time_point now, std::chrono::hours max_age) {
    const auto old = [&](const cache_file& f) { return now - f.modified > max_age; };
    const auto index = std::ranges::find(files, "index.json", &cache_file::path);
    const bool abandoned = index == files.end() || old(*index);
    const auto kept_by_index = [&](const cache_file& f) {
        return !abandoned && (f.path == "index.json" || f.path == "oci-layout" || referenced.contains(f.path));
    };
    return files | ranges::views::filter([&](const cache_file& f) { return old(f) && !kept_by_index(f); }) |
           ranges::views::transform(&cache_file::path) | ranges::to<std::vector>() | ranges::actions::sort;
}

}  // namespace rtb::detail::local_cache
