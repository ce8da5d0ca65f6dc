// docker_engine: the Transport that talks to a Docker or Podman engine through
// the Docker Engine API (over rtb::http): version negotiation, image
// existence (local, pull, or a registry hook), pull, push, tag, remove, list
// by label, and the POST /build request path.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"
#include "rtb/image_labels.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/transport/docker_api.hpp"
#include "rtb/transport/http.hpp"
#include "rtb/transport/registry_lookup.hpp"

namespace rtb {

struct registry_credentials;  // rtb/transport/docker_auth.hpp

/// Receives the typed events of a pull, push or build as they arrive.
using event_sink = std::function<void(const build_event&)>;

class docker_engine {
public:
    struct options {
        /// The engine; default: DOCKER_HOST etc. as the docker CLI reads them.
        std::optional<http::endpoint> endpoint;
        /// The newest API version to use; the engine's, if lower, wins.
        docker_api::api_version api_version = docker_api::newest_api;
        http::client::options http = {};
        /// Limit for short calls (ping, inspect, tag, list, remove); pulls,
        /// pushes and builds have none (cancel them through a stop_token).
        std::chrono::milliseconds request_timeout{60'000};
        /// The docker CLI config with `auths`; default docker_auth::config_path().
        std::optional<std::filesystem::path> docker_config;
        /// For lookup::local_then_registry; default: a registry_client
        /// (manifest HEAD, credentials from `docker_config`).
        registry_lookup registry;
        /// How many build log lines a build_failed error keeps.
        std::size_t log_tail_lines = 20;
        /// The longest JSON line of a pull, push or build stream accepted.
        std::size_t max_stream_line = std::size_t{16} << 20;
        /// dockerd's classic builder keeps the image of the last step that
        /// succeeded in a failed build, untagged. rtb removes it (and the
        /// untagged steps under it), so a failed build leaves nothing; a
        /// retry then runs those steps again. true keeps them as the
        /// engine's layer cache for the retry (`rtb prune` does not see
        /// them: they carry no rtb labels).
        bool keep_failed_build_layers = false;
        /// Where data_root() remembers a local engine's answer between
        /// processes, for as long as the engine's socket is the same file (a
        /// restarted engine makes a new one): GET /info costs Podman about a
        /// third of a second. Default: engine-roots in cache_directory();
        /// an empty path: ask every time.
        std::optional<std::filesystem::path> data_root_memo;
    };

    docker_engine() : docker_engine(options{}) {}
    explicit docker_engine(options o);

    /// A copy talks to the same engine over a connection of its own (an
    /// http::client serves one thread): take one copy per thread.
    docker_engine(const docker_engine& o)
        : opts_(o.opts_),
          http_(o.http_.where(), o.opts_.http),
          where_(o.where_),
          api_(o.api_),
          version_(o.version_),
          is_podman_(o.is_podman_),
          data_root_(o.data_root_) {}
    docker_engine(docker_engine&&) noexcept = default;
    docker_engine& operator=(const docker_engine&) = delete;
    docker_engine& operator=(docker_engine&&) noexcept = default;

    /// The engine's product, version and the negotiated API version (from
    /// /_ping and /version, checked against rtb's minimums; kept).
    server_info info();

    /// Where the engine keeps images and build layers (GET /info's
    /// DockerRootDir; Podman answers with its graph root), when this machine
    /// can look at it: the engine is reached over a unix socket and the
    /// folder is visible here. std::nullopt otherwise (a remote engine).
    /// Asked once per engine process (see options::data_root_memo).
    std::optional<std::filesystem::path> data_root(std::stop_token stop = {});

    /// What GET /version said (after negotiation).
    const docker_api::version_answer& version() {
        negotiate();
        fetch_version(*api_);
        return *version_;
    }
    /// The API version in use.
    docker_api::api_version api_version() {
        negotiate();
        return *api_;
    }
    /// Whether the engine is Podman (known from /_ping, no /version call).
    bool is_podman() {
        negotiate();
        return is_podman_;
    }
    /// The options this engine was made with.
    const options& settings() const noexcept { return opts_; }

    /// Whether `ref` exists: in the engine (lookup::local), else pulled from
    /// its registry (lookup::local_then_pull, OpenHands' way: progress events
    /// go to `on_event`), or else asked of the registry through
    /// options::registry (lookup::local_then_registry: by default a manifest
    /// HEAD through registry_client; never pulls).
    bool image_exists(const image_ref& ref, lookup mode, const event_sink& on_event, std::stop_token stop = {});

    /// ImagePublishing: whether `ref`'s registry has that tag, asked of the
    /// registry through options::registry (by default a manifest HEAD
    /// through registry_client: no layer moves, nothing is pulled).
    bool in_registry(const image_ref& ref, std::stop_token stop = {});

    /// ImagePublishing: push(), its progress events going to `logger`.
    template <class L>
        requires EventSink<L>
    events::pushed push_image(const image_ref& ref, L& logger, std::stop_token stop = {}) {
        return push(ref, [&logger](const build_event& e) { logger.on_event(e); }, stop);
    }
    /// The Transport form: pull progress is dropped.
    bool image_exists(const image_ref& ref, lookup mode) { return image_exists(ref, mode, event_sink{}); }

    /// Whether the engine has an image by that name (Podman: its libpod
    /// exists call; Docker: inspect).
    bool exists_locally(const image_ref& ref, std::stop_token stop = {});

    /// The local image, or std::nullopt when the engine has none by that name.
    std::optional<image_summary> inspect(const image_ref& ref, std::stop_token stop = {});

    /// ImageStore: the image a name or an id ("sha256:...") stands for now.
    std::optional<image_summary> describe_image(std::string_view name_or_id, std::stop_token stop = {});

    /// ImageStore: removes image `id` (and its parents no other image
    /// needs) unless a container, a name or a child image holds it.
    image_removal remove_unused_image(std::string_view id, std::stop_token stop = {});

    /// Pulls `ref` (POST /images/create) with the credentials the docker
    /// config has for its registry. Throws not_found when the registry has no
    /// such image, unauthorized, connection_failed, cancelled.
    void pull(const image_ref& ref, const event_sink& on_event, std::stop_token stop = {});

    /// Pushes `ref` (a tag) to its registry, with credentials; returns what
    /// the engine reported (digest, size).
    events::pushed push(const image_ref& ref, const event_sink& on_event, std::stop_token stop = {});

    /// Tags image `from` as `to`. Throws not_found when `from` does not exist.
    void tag(const image_ref& from, const image_ref& to);

    /// Removes the name `ref` (the image too when it was its last name).
    /// Returns false when there was no such image.
    bool remove(const image_ref& ref, bool force = false);

    /// Local images carrying every label filter ("key" or "key=value").
    std::vector<image_summary> images(const std::vector<std::string>& label_filters = {});

    /// Builds from a context tar that `context` streams (POST /build; the tar
    /// is never held whole). Events go to `on_event`; a failed build throws
    /// build_failed with the exit code, the failing step and the log's tail.
    /// This is build()'s engine half; build() adds the context packer.
    build_result build_tar(const build_request& req, http::body_reader context, const event_sink& on_event,
                           std::stop_token stop = {});

    /// The Transport's build(): streams the context (request.context, or
    /// else request.context_dir as the docker CLI would send it, with its
    /// .dockerignore) as a tar straight into POST /build, never whole in
    /// memory, and hands the build's events to `logger`.
    template <class L>
        requires EventSink<L>
    build_result build(const build_request& req, L& logger, std::stop_token stop = {}) {
        return build_with_context(req, [&logger](const build_event& e) { logger.on_event(e); }, stop);
    }

    /// The HTTP client, for calls this class does not wrap.
    http::client& http() noexcept { return http_; }

private:
    /// Pings the engine once: the API version (API-Version header) and
    /// whether it is Podman (Libpod-Api-Version header, with its version)
    /// come from /_ping alone. /version is slow (Podman runs conmon and runc
    /// to answer it, ~0.5 s) and is asked only by info() and version().
    void negotiate(std::stop_token stop = {});

    /// GET /version, checked and kept.
    void fetch_version(docker_api::api_version at);

    /// Podman keeps the steps of a failed build as images carrying the
    /// build's labels and no name (its build output does not name them):
    /// removes those that carry every label of the request (which name the
    /// build's own tags), unless something holds them.
    std::string remove_failed_build_layers_by_label(const std::map<std::string, std::string>& labels) noexcept;

    std::optional<image_summary> inspect_at(const std::string& target, const std::string& what, std::stop_token stop);

    http::response short_call(http::request r, std::stop_token stop = {});

    /// X-Registry-Config for a build: the credentials of the registries its
    /// tags are in (a lock or versioned image it builds FROM is in the same
    /// repository), when the docker config has any.
    std::optional<std::string> build_registry_config(const build_request& req) const;

    std::optional<registry_credentials> credentials(const image_ref& ref) const;

    /// Sends a streaming request and decodes its JSON lines into events.
    template <class Sink>
    void stream_raw(http::request r, const std::string& what, Sink&& sink, std::stop_token stop);

    /// build()'s work: packs the context (request.context, or else
    /// request.context_dir with its .dockerignore) into build_tar().
    build_result build_with_context(const build_request& req, const event_sink& on_event, std::stop_token stop);

    /// stream_raw, and a failure event becomes an error (after the sink saw it).
    void stream(http::request r, const std::string& what, const event_sink& on_event, std::stop_token stop);

    options opts_;
    http::client http_;
    std::string where_;
    std::optional<docker_api::api_version> api_;
    std::optional<docker_api::version_answer> version_;
    bool is_podman_ = false;
    std::optional<std::optional<std::filesystem::path>> data_root_;  ///< data_root(), once asked
};

static_assert(Transport<docker_engine> && ImageStore<docker_engine> && ImagePublishing<docker_engine>);

/// Where Podman's service listens when nothing says otherwise:
/// CONTAINER_HOST (as podman-remote reads it), else the rootless socket
/// under XDG_RUNTIME_DIR for a non-root user, else /run/podman/podman.sock.
http::endpoint podman_endpoint_from_env();

/// A docker_engine that talks to Podman's Docker-compatible service, found
/// as podman_endpoint_from_env() says unless options::endpoint is given.
class podman_engine : public docker_engine {
public:
    podman_engine() : podman_engine(options{}) {}
    explicit podman_engine(options o) : docker_engine(with_podman_endpoint(std::move(o))) {}

private:
    static options with_podman_endpoint(options o) {
        if (!o.endpoint) o.endpoint = podman_endpoint_from_env();
        return o;
    }
};

static_assert(Transport<podman_engine> && ImageStore<podman_engine> && ImagePublishing<podman_engine>);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/docker_engine.ipp"
#else
// any_transport's wrappers around docker_engine and podman_engine are compiled once, by <rtb/src.hpp>.
#include "rtb/any_transport.hpp"
namespace rtb {
extern template struct any_transport::model<docker_engine>;
extern template struct any_transport::model<podman_engine>;
}  // namespace rtb
#endif
