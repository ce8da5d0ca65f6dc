// The rtb program's help text for the flags that are configuration keys
// (rtb::config::keys() names the flags; what they say is the program's).
#pragma once

#include <string>
#include <string_view>

namespace rtb::cli {

/// The --help line of the flag of configuration key `name`.
inline std::string key_help(std::string_view name) {
    if (name == "base_image") return "The base image the runtime is built on";
    if (name == "runtime_image") return "Use this runtime image as it is and build nothing (OpenHands' runtime_container_image)";
    if (name == "runtime_repository") return "Where runtime images are named";
    if (name == "platform") return "The target platform (hashed)";
    if (name == "extra_deps") return "Extra dependencies installed in the image";
    if (name == "build_args") return "Build arguments (hashed)";
    if (name == "force_rebuild") return "Build from scratch even if an image exists";
    if (name == "transport") return "How images are built";
    if (name == "host") return "The engine (default: DOCKER_HOST) or, for transport remote, the service";
    if (name == "remote_url") return "The Runtime API service (OpenHands' remote_runtime_api_url; --host wins)";
    if (name == "api_key_file") return "The remote service's key, read from this file";
    if (name == "api_key") return "The remote service's key";
    if (name == "timeout") return "The limit for one build, retries included";
    if (name == "stall_timeout") return "Stop a build that prints nothing for this long";
    if (name == "poll_interval") return "How often a remote build's status is asked";
    if (name == "cache_dir") return "rtb's cache: lock files and the stat cache (default: $XDG_CACHE_HOME/rtb)";
    if (name == "workers") return "Builds at once in a batch (rtb build --batch)";
    if (name == "storage.engine_min_free") return "Free space wanted where the engine keeps its data";
    if (name == "storage.cache_min_free") return "Free space wanted in the cache directory";
    if (name == "storage.on_low") return "Below a threshold: fail before building, or prune rtb's old images and check again";
    if (name == "storage.prune_older_than") return "With on_low = prune: rtb images older than this are removed";
    if (name == "hooks.pre_build") return "Runs before a build with its JSON on stdin; a non-zero exit vetoes the build";
    if (name == "hooks.post_build") return "Runs after a build or a reuse with the result as JSON on stdin";
    if (name == "hooks.on_error") return "Runs when a build fails with the error and the log's tail as JSON on stdin";
    if (name == "hooks.timeout") return "A hook running longer is killed (a pre-build hook that times out vetoes)";
    return {};
}

}  // namespace rtb::cli
