// docker_cli: the Transport that drives a docker or podman client program
// (docker buildx, docker with its built-in BuildKit, the legacy builder,
// podman build) with argument vectors, never a shell; the build's plain
// progress output is parsed into events as it arrives.
//
//     rtb::docker_cli cli({.program = "/usr/bin/docker"});
//     cli.capabilities().path;   // buildx, buildkit, legacy or podman, detected
//     cli.build(request, logger, stop);
//
// The context goes to the client as a tar on stdin (`docker build -`), the
// same deterministic bytes docker_engine sends: rtb's .dockerignore
// handling and virtual runtime contexts work unchanged, and nothing is
// written to disk. Existence, tags and versions are asked of the same client
// (`image inspect` / `image exists`, `tag`, `version`), so a buildx builder
// and the image store it loads into are the ones the lookups see.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/transport/cli_client.hpp"
#include "rtb/transport/registry_lookup.hpp"

namespace rtb {

class docker_cli {
public:
    struct options {
        /// The client: "docker", "podman", or a path ("/usr/bin/docker").
        std::string program = "docker";
        /// Which build path; automatic takes the best the client has.
        cli_build_preference mode = cli_build_preference::automatic;
        /// buildx: the builder to use (`docker buildx create` names it; a
        /// remote BuildKit daemon, the Kubernetes driver, ...).
        std::string builder;
        /// buildx: load the result into the engine's image store (needed
        /// for the lookups and tags that follow). Off for a builder whose
        /// output goes elsewhere (extra_build_args `--push`).
        bool load = true;
        /// Arguments after the program on every call (`--context NAME`).
        std::vector<std::string> global_args;
        /// Arguments passed through to the build command as they are.
        std::vector<std::string> extra_build_args;
        /// Environment changes for every call ("DOCKER_HOST=unix:///x",
        /// "NAME" alone removes it).
        std::vector<std::string> environment;
        /// Limit for the short calls (version, inspect, tag).
        std::chrono::milliseconds command_timeout{60'000};
        /// Limit for one `push` (a big image over a slow link takes long).
        std::chrono::milliseconds push_timeout{std::chrono::hours(1)};
        /// After a stop request, how long the client has to cancel the build
        /// (SIGINT, as Ctrl-C) before its process group is killed.
        std::chrono::milliseconds stop_grace{10'000};
        /// How many build log lines a build_failed error keeps.
        std::size_t log_tail_lines = 20;
        /// For lookup::local_then_registry; default: a registry_client.
        registry_lookup registry;
        /// The legacy builder and Podman keep the image of the last step
        /// that succeeded in a failed build (and the steps under it) with
        /// no name. rtb removes them, so a failed build leaves nothing; a
        /// retry then runs those steps again. true keeps them as the layer
        /// cache for the retry. (BuildKit keeps its cache in its own store.)
        bool keep_failed_build_layers = false;
    };

    docker_cli() : docker_cli(options{}) {}
    /// Throws invalid_argument when no program is given.
    explicit docker_cli(options o);

    /// What the client can do and the build path chosen (detected once:
    /// `--version`, then for docker the daemon's version and `buildx version`).
    /// Throws not_found when the program is missing, connection_failed when
    /// docker cannot reach its daemon, unsupported_version (saying what to
    /// install) when the client or the engine is too old or lacks the path asked for.
    const cli_capabilities& capabilities();

    /// The engine behind the client: product, version, whether BuildKit builds.
    server_info info();

    /// Whether `ref` exists in the engine's store (`image inspect`, podman
    /// `image exists`), else pulled (`pull`), else in its registry.
    bool image_exists(const image_ref& ref, lookup mode);

    bool exists_locally(const image_ref& ref);

    /// ImagePublishing: whether `ref`'s registry has that tag (options::registry).
    bool in_registry(const image_ref& ref, std::stop_token stop = {}) { return opts_.registry(ref, stop); }

    /// ImagePublishing: `push NAME` (the client's own credentials and
    /// registry settings; within options::push_timeout). The client prints
    /// no structured progress: each line of its output becomes a log event,
    /// after it ends. Returns the digest and size the client printed
    /// ("...: digest: sha256:... size: N").
    template <class L>
        requires EventSink<L>
    events::pushed push_image(const image_ref& ref, L& logger, std::stop_token stop = {}) {
        return push_with(ref, [&logger](const build_event& e) { logger.on_event(e); }, stop);
    }

    /// `tag FROM TO`. Throws not_found when `from` does not exist.
    void tag(const image_ref& from, const image_ref& to);

    /// `rmi NAME`: removes the name (and the image when it was its last).
    /// Returns false when there was no such image.
    bool remove(const image_ref& ref, bool force = false);

    /// ImageStore: `image inspect NAME` (a name or an id) as an
    /// image_summary; std::nullopt when the client has no such image.
    std::optional<image_summary> describe_image(std::string_view name_or_id, std::stop_token = {});

    /// ImageStore: `image rm ID` without force: the client refuses while a
    /// container, a name or a child image holds it.
    image_removal remove_unused_image(std::string_view id, std::stop_token = {});

    /// The Transport's build(): the context as a tar on the client's stdin,
    /// its output parsed as it comes (BuildKit plain progress, the legacy
    /// builder's and Podman's text) into events for `logger`. A non-zero
    /// exit is build_failed with the failing step's exit code (else the
    /// client's), the failing step and the log's last lines; a stop request
    /// stops the client's process group and throws cancelled.
    template <class L>
        requires EventSink<L>
    build_result build(const build_request& req, L& logger, std::stop_token stop = {}) {
        on_log_fn on_log;
        if constexpr (requires { logger.log(log_level::info, std::string_view{}); })
            on_log = [&logger](log_level level, std::string_view message) { logger.log(level, message); };
        return build_with(req, [&logger](const build_event& e) { logger.on_event(e); }, on_log, stop);
    }

    const options& settings() const noexcept { return opts_; }

private:
    // What the templates above hand the out-of-line work (their Logger, erased).
    using on_event_fn = std::function<void(const build_event&)>;
    using on_log_fn = std::function<void(log_level, std::string_view)>;

    struct short_result {
        int exit_code = 0;
        std::string output;  ///< stdout and stderr merged, at most 1 MiB
    };

    events::pushed push_with(const image_ref& ref, const on_event_fn& on_event, std::stop_token stop);
    build_result build_with(const build_request& req, const on_event_fn& on_event, const on_log_fn& on_log,
                            std::stop_token stop);

    std::string who() const { return detail::printable(opts_.program); }

    /// The name as the client takes it: the short form docker prints
    /// (local/busybox:1, not docker.io/local/busybox:1, which Podman would
    /// not find among images it stored under localhost/).
    static std::string name_of(const image_ref& ref) { return ref.familiar(); }

    short_result run_short(std::vector<std::string> args,
                           std::optional<std::chrono::milliseconds> timeout = std::nullopt, std::stop_token stop = {});

    static bool says_not_found(std::string_view out);
    static bool says_no_daemon(std::string_view out);
    error daemon_error(std::string_view out, std::string_view doing) const;
    error command_error(const short_result& r, std::string_view doing) const;

    options opts_;
    std::optional<cli_capabilities> caps_;
};

static_assert(Transport<docker_cli> && ImageStore<docker_cli> && ImagePublishing<docker_cli>);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/docker_cli.ipp"
#else
// any_transport's wrapper around docker_cli is compiled once, by <rtb/src.hpp>.
#include "rtb/any_transport.hpp"
namespace rtb {
extern template struct any_transport::model<docker_cli>;
}  // namespace rtb
#endif
