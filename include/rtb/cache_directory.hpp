// Where rtb keeps its files between runs (stat caches, build locks):
// $RTB_CACHE_DIR, else $XDG_CACHE_HOME/rtb, else ~/.cache/rtb, else a folder
// under the system temp directory.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace rtb {

inline std::filesystem::path cache_directory() {
    namespace fs = std::filesystem;
    if (const char* d = std::getenv("RTB_CACHE_DIR"); d && *d) return fs::path(d);
    if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return fs::path(d) / "rtb";
    if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "rtb";
    return fs::temp_directory_path() / "rtb-cache";
}

}  // namespace rtb
