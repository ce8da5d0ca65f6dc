// The plain data a Transport works with: what to build, what came out, what
// the engine is, and how to look an image up.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rtb/resources.hpp"

namespace rtb {

struct context_snapshot;  // rtb/context/build_context.hpp

/// Where image_exists looks.
enum class lookup {
    local,                ///< the engine's own image store only
    local_then_pull,      ///< OpenHands' behaviour: pull when not local (slow for big images)
    local_then_registry,  ///< ask the registry (manifest HEAD) when not local; never pulls
};

/// One build, as a Transport receives it.
struct build_request {
    std::filesystem::path context_dir;      ///< the build folder (Dockerfile inside)
    /// The context to send, when it is not simply context_dir on disk (a
    /// runtime context assembled from several trees); transports that need
    /// a folder write it out.
    std::shared_ptr<const context_snapshot> context;
    std::string dockerfile = "Dockerfile";  ///< relative to the context
    std::vector<std::string> tags;          ///< full image names to apply
    std::map<std::string, std::string> build_args;
    std::map<std::string, std::string> labels;
    /// The context's Dockerfile sets `labels` itself (rtb's builder appends
    /// them as one LABEL instruction): transports do not pass them to the
    /// engine again, where dockerd's classic builder and Podman would make a
    /// build step of each. They still tell what the image will carry.
    bool labels_in_dockerfile = false;
    std::string platform;                   ///< e.g. "linux/amd64"; empty: the engine's
    std::string target;                     ///< a multi-stage target
    std::string network_mode = "none";      ///< builds get no network unless asked
    std::vector<std::string> cache_from;    ///< images or cache specs
    std::vector<std::string> cache_to;      ///< cache export specs (BuildKit)
    bool pull = false;                      ///< always pull the base image
    bool no_cache = false;                  ///< run every step again (no layer cache)
    bool remove_intermediate = true;        ///< rm
    bool force_remove_intermediate = true;  ///< forcerm: also after a failure
    /// Limits for the build's RUN steps (memory, memswap, cpu quota/period,
    /// shm size); pids_limit is for containers only. Unset: the engine's.
    std::optional<rtb::resources> resources;
};

/// What a finished build produced.
struct build_result {
    std::string image_id;
    std::vector<std::string> tags;
    std::chrono::milliseconds duration{0};
    std::uint64_t bytes_sent = 0;  ///< context bytes sent (0 when the transport cannot tell: a CLI reads the folder itself)
};

/// A local image, as an engine describes it (GET /images/json, /images/{name}/json).
struct image_summary {
    std::string id;                              ///< "sha256:..."
    std::vector<std::string> repo_tags;          ///< as the engine names them (Podman: fully qualified)
    std::map<std::string, std::string> labels;
    std::uint64_t size = 0;
    std::int64_t created = 0;                    ///< seconds since the epoch
    std::vector<std::string> layers;             ///< RootFS.Layers, bottom first (inspect() only)
};

/// What became of an image rtb asked an engine to remove.
enum class image_removal {
    removed,  ///< it is gone now
    in_use,   ///< kept: a container, a name or a child image still holds it
    gone,     ///< there was no such image
};

/// What a Transport talks to.
struct server_info {
    std::string product;      ///< "Docker Engine", "Podman Engine", a remote service's name
    std::string version;      ///< the server's version
    std::string api_version;  ///< the API version in use (after negotiation)
    bool is_podman = false;
    bool buildkit = false;    ///< BuildKit builds are available
};

}  // namespace rtb
