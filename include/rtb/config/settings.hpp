// rtb's configuration as one typed value: what OpenHands' sandbox_config
// users know (base image, runtime image override, repository, platform,
// extra dependencies and build args, force rebuild, the remote service and
// its key), plus how rtb runs (transport, timeouts, cache directory, workers,
// storage thresholds, hook commands). Loaded from a TOML file, RTB_*
// variables and flags (rtb/config/resolve.hpp); each value remembers where it
// came from (rtb/config/layer.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rtb/runtime_spec.hpp"

namespace rtb::config {

/// What to do when a filesystem a build needs is below its threshold.
enum class on_low_storage {
    fail,   ///< stop before the build, naming the filesystem
    prune,  ///< remove rtb's images older than storage.prune_older_than, then check again
};

struct settings {
    // What to build (OpenHands' sandbox_config names in comments).
    std::string base_image;                                      ///< base_container_image
    std::string runtime_image;                                   ///< runtime_container_image: use it, build nothing
    std::string runtime_repository = default_runtime_repository; ///< where runtime images are named
    std::string platform;                                        ///< platform, e.g. linux/amd64
    std::string extra_deps;                                      ///< runtime_extra_deps
    std::map<std::string, std::string> build_args;               ///< runtime_extra_build_args
    bool force_rebuild = false;                                  ///< force_rebuild_runtime

    // Where to build.
    std::string transport = "docker";  ///< docker, podman, cli or remote
    std::string host;                  ///< the engine (DOCKER_HOST form) or, for remote, the service URL
    std::string remote_url;            ///< remote_runtime_api_url
    /// The service's key: from api_key_file or RTB_API_KEY, never from the
    /// configuration file (files get committed and shown).
    std::string api_key;
    std::filesystem::path api_key_file;

    // How.
    std::chrono::milliseconds timeout = std::chrono::minutes(30);     ///< one build, retries included
    std::optional<std::chrono::milliseconds> stall_timeout;            ///< no output this long: stalled
    std::chrono::milliseconds poll_interval = std::chrono::seconds(30); ///< remote status polls
    std::filesystem::path cache_dir;  ///< rtb's cache (locks, stat cache); empty: cache_directory()
    int workers = 2;                  ///< builds at once (a batch, rtb serve)

    struct storage_settings {
        std::uint64_t engine_min_free = std::uint64_t{1} << 30;
        std::uint64_t cache_min_free = std::uint64_t{100} << 20;
        on_low_storage on_low = on_low_storage::fail;
        std::chrono::seconds prune_older_than = std::chrono::hours(24 * 7);
    } storage;

    struct hook_settings {
        std::vector<std::string> pre_build;   ///< argv; may veto (non-zero exit) or add labels
        std::vector<std::string> post_build;  ///< argv; sees the result
        std::vector<std::string> on_error;    ///< argv; sees the error and the log's tail
        std::chrono::milliseconds timeout = std::chrono::seconds(60);
    } hooks;
};

}  // namespace rtb::config
