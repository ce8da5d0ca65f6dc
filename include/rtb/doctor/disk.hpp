// Doctor check of free space where builds write: the engine's data root
// (when the engine is on this machine) and rtb's cache directory, against
// the storage thresholds (rtb::check_storage).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "rtb/doctor/check.hpp"
#include "rtb/error.hpp"
#include "rtb/storage.hpp"

namespace rtb::doctor {

/// "disk space (NAME)": `need` examined. `remedy` says how to free space or
/// lower the threshold (it goes with a low finding). A threshold of 0 is
/// skipped; a filesystem that cannot be examined is a warning.
inline check_result check_free_space(const std::string& name, const storage_need& need, const std::string& remedy) {
    const auto full = fmt::format("disk space ({})", name);
    if (need.min_free == 0) return check_result::skipped(full, fmt::format("no threshold for {} (0)", need.what));
    try {
        const auto found = check_storage({need});
        if (found.empty()) return check_result::skipped(full, "not checked");
        const auto& f = found.front();
        if (f.low()) return check_result::failed(full, f.describe(), remedy);
        return check_result::ok(full, f.describe());
    } catch (const error& e) {
        return check_result::warning(full, e.what(), "check that the folder exists and can be examined (statvfs)");
    }
}

/// "disk space (engine)" for the engine's data root.
inline check_result check_engine_space(const std::filesystem::path& data_root, std::uint64_t min_free) {
    return check_free_space("engine", {"the engine's data root", data_root, min_free},
                            "free space there (rtb prune, docker image prune, docker builder prune; podman image "
                            "prune), or lower the threshold (--engine-min-free, storage.engine_min_free)");
}

/// "disk space (cache)" for rtb's cache directory.
inline check_result check_cache_space(const std::filesystem::path& cache_dir, std::uint64_t min_free) {
    return check_free_space("cache", {"the cache directory", cache_dir, min_free},
                            "free space there (old BuildKit cache folders, rtb prune), move the cache (--cache-dir, "
                            "RTB_CACHE_DIR), or lower the threshold (--cache-min-free, storage.cache_min_free)");
}

}  // namespace rtb::doctor
