// buildx_local_cache: a CachePolicy that keeps BuildKit's build cache in a
// local folder, as OpenHands' Docker builder does: `--cache-from
// type=local,src=DIR` and `--cache-to type=local,dest=DIR,mode=max`, a
// usability check before each build, and files older than N days (7 by
// default) pruned by maintain(). Only docker_cli on its buildx path can
// honour it; every other path refuses the build with an error that says so
// (see docker_cli / build_invocation), rather than building without a cache.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/detail/config.hpp"

namespace rtb {

/// What buildx_local_cache found when it looked at its folder.
struct local_cache_state {
    bool usable = false;        ///< a folder that exists (or was made) and is writable
    bool importable = false;    ///< it holds a valid index.json: --cache-from is worth passing
    std::string problem;        ///< why not usable or not importable; empty when both
};

class buildx_local_cache {
public:
    struct options {
        std::filesystem::path directory;            ///< the cache folder (made when missing)
        std::chrono::hours max_age{24 * 7};         ///< maintain() removes files older than this
        bool export_cache = true;                   ///< add --cache-to (off: read the cache, never write it)
        std::string mode = "max";                   ///< --cache-to mode: max (every stage) or min
        /// Told what maintain() removed (relative paths), when it removed
        /// anything: for a line on a terminal.
        std::function<void(const std::vector<std::string>& removed)> on_pruned{};
    };

    explicit buildx_local_cache(options o);

    /// Checks the folder: made when missing; usable when it is a writable
    /// folder; importable when its index.json is a valid OCI index.
    local_cache_state check() const;

    /// Adds the cache options: --cache-to when the folder is usable (an
    /// unusable one throws io_error naming it: a cache that silently does
    /// nothing hides a slow build), --cache-from when it holds a cache.
    void prepare(build_request& r);

    void after_build(const build_result&) {}

    /// Removes files older than the maximum age, keeping blobs the current
    /// index still uses (detail::local_cache::prune_plan says exactly which).
    /// Returns the files removed (relative paths). A missing folder is
    /// nothing to prune; an unreadable one is io_error.
    std::vector<std::string> maintain();

    /// maintain() as of `now` (tests, and a caller with its own clock).
    std::vector<std::string> prune(std::chrono::system_clock::time_point now);

    /// What the last prepare() found.
    const local_cache_state& last_check() const noexcept { return last_; }
    const options& settings() const noexcept { return opts_; }

private:
    static std::string read_small(const std::filesystem::path& p);

    /// Blob paths reachable from index.json (empty when it is missing or
    /// invalid: then nothing is protected beyond its age).
    std::set<std::string> referenced_blobs() const;

    options opts_;
    local_cache_state last_;
};

static_assert(CachePolicy<buildx_local_cache>);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/policy/impl/buildx_local_cache.ipp"
#endif

#ifdef RTB_SEPARATE_COMPILATION
// any_cache_policy's wrapper around buildx_local_cache is compiled once, by <rtb/src.hpp>.
#include "rtb/any_cache_policy.hpp"
namespace rtb {
extern template struct any_cache_policy::model<buildx_local_cache>;
}  // namespace rtb
#endif
