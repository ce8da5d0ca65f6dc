// Free space before a build: a build that runs out of disk fails late, after
// minutes of work, with an engine message that rarely says "disk". rtb asks
// first, where the engine keeps its data (docker_engine::data_root()) and
// where rtb keeps its cache, and stops early with a message that says which
// filesystem, how much is free, how much is wanted, and what to do.
#pragma once

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/statvfs.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/units.hpp"

namespace rtb {

/// What a filesystem has.
struct disk_space {
    std::uint64_t available = 0;  ///< bytes an unprivileged writer may still use
    std::uint64_t total = 0;
};

/// The space of the filesystem holding `path`, or of its nearest existing
/// parent (a cache folder not made yet lands on its parent's filesystem).
/// Throws io_error naming the path when nothing of it can be examined.
inline disk_space disk_space_at(const std::filesystem::path& path) {
    std::filesystem::path p = path.empty() ? std::filesystem::path(".") : path;
    for (;;) {
        struct statvfs s {};
        if (::statvfs(p.c_str(), &s) == 0)
            return {std::uint64_t(s.f_bavail) * s.f_frsize, std::uint64_t(s.f_blocks) * s.f_frsize};
        if (errno != ENOENT && errno != ENOTDIR) detail::throw_io("examine the filesystem of", p.string());
        if (!p.has_parent_path() || p.parent_path() == p) detail::throw_io("examine the filesystem of", path.string());
        p = p.parent_path();
    }
}

/// One filesystem rtb wants free space on.
struct storage_need {
    std::string what;                ///< "the engine's data root", "the cache directory"
    std::filesystem::path where;
    std::uint64_t min_free = 0;      ///< 0: not checked
};

/// What one need found.
struct storage_finding {
    storage_need need;
    disk_space space;
    bool low() const noexcept { return space.available < need.min_free; }
    /// "the cache directory /x has 12 MiB free, below the 100 MiB wanted"
    std::string describe() const {
        return fmt::format("{} {} has {} free{}", need.what, detail::printable(need.where.string()),
                           format_bytes(space.available),
                           low() ? fmt::format(", below the {} wanted", format_bytes(need.min_free))
                                 : fmt::format(" ({} wanted)", format_bytes(need.min_free)));
    }
};

/// Each need with a threshold, examined.
inline std::vector<storage_finding> check_storage(const std::vector<storage_need>& needs) {
    std::vector<storage_finding> out;
    for (const auto& n : needs)
        if (n.min_free > 0) out.push_back({n, disk_space_at(n.where)});
    return out;
}

/// The builder's storage check (builder_options::storage).
struct storage_options {
    /// Wanted free space where the engine keeps images and build layers
    /// (checked when the Transport can say where: a local docker_engine).
    std::uint64_t engine_min_free = std::uint64_t{1} << 30;
    /// Wanted free space in the cache directory (lock files, stat cache,
    /// BuildKit cache folders).
    std::uint64_t cache_min_free = std::uint64_t{100} << 20;
    /// Called with the findings when one is low, before failing: prune what
    /// the configured policy allows. The check is then made again and a
    /// need still low fails the build. Unset: fail at once.
    std::function<void(const std::vector<storage_finding>&)> on_low;
};

/// The error for findings still low: names every low filesystem and says what to do.
inline error low_storage_error(const std::vector<storage_finding>& findings) {
    std::string what;
    for (const auto& f : findings)
        if (f.low()) {
            if (!what.empty()) what += "; ";
            what += f.describe();
        }
    return error(errc::io_error,
                 fmt::format("not enough free space to build: {}. Free space (rtb prune, docker image prune, removing "
                             "old build caches) or lower the threshold (storage.engine_min_free, "
                             "storage.cache_min_free)",
                             what));
}

/// Whether any finding is low.
inline bool any_low(const std::vector<storage_finding>& findings) {
    for (const auto& f : findings)
        if (f.low()) return true;
    return false;
}

}  // namespace rtb
