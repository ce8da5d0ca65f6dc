// docker_engine: the Transport that talks to a Docker or Podman engine through
// the Docker Engine API (over rtb::http): version negotiation, image
// existence (local, pull, or a registry hook), pull, push, tag, remove, list
// by label, and the POST /build request path.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>
#include <simdjson.h>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/image_labels.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/detail/rfc3339.hpp"
#include "rtb/context/directory_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/stream/engine_stream.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/transport/docker_api.hpp"
#include "rtb/transport/docker_auth.hpp"
#include "rtb/transport/http.hpp"
#include "rtb/transport/registry.hpp"

namespace rtb {

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
    };

    docker_engine() : docker_engine(options{}) {}
    explicit docker_engine(options o)
        : opts_(std::move(o)),
          http_(opts_.endpoint ? *opts_.endpoint : http::endpoint_from_env(), opts_.http),
          where_(http_.where().describe()) {
        if (!opts_.registry) {
            registry_client::options r;
            r.docker_config = opts_.docker_config;
            opts_.registry = make_registry_lookup(std::move(r));
        }
    }

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
    server_info info() {
        negotiate();
        fetch_version(*api_);
        server_info s;
        s.product = version_->product;
        s.version = version_->version;
        s.api_version = api_->str();
        s.is_podman = version_->is_podman;
        s.buildkit = false;  // the Engine API's /build is the classic builder; BuildKit is docker_cli's
        return s;
    }

    /// Where the engine keeps images and build layers (GET /info's
    /// DockerRootDir; Podman answers with its graph root), when this machine
    /// can look at it: the engine is reached over a unix socket and the
    /// folder is visible here. std::nullopt otherwise (a remote engine).
    std::optional<std::filesystem::path> data_root(std::stop_token stop = {}) {
        if (http_.where().type != http::endpoint::kind::unix_socket) return std::nullopt;
        if (data_root_) return *data_root_;  // asked once: an engine does not move its data
        negotiate(stop);
        const auto r = short_call({"GET", fmt::format("/v{}/info", api_->str())}, stop);
        http::throw_for_status(r, fmt::format("asking the engine on {} for its data root", where_));
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        std::string_view root;
        if (parser.parse(r.body).get(doc) != simdjson::SUCCESS || doc["DockerRootDir"].get(root) != simdjson::SUCCESS ||
            root.empty())
            return std::nullopt;
        std::error_code ec;
        std::filesystem::path p{std::string(root)};
        if (!p.is_absolute() || !std::filesystem::is_directory(p, ec)) p.clear();
        data_root_.emplace(p.empty() ? std::optional<std::filesystem::path>{} : std::optional<std::filesystem::path>{p});
        return *data_root_;
    }

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
    bool image_exists(const image_ref& ref, lookup mode, const event_sink& on_event, std::stop_token stop = {}) {
        if (exists_locally(ref, stop)) return true;
        switch (mode) {
            case lookup::local:
                return false;
            case lookup::local_then_pull:
                try {
                    pull(ref, on_event, stop);
                } catch (const error& e) {
                    if (e.value() == errc::not_found) return false;
                    throw;
                }
                return exists_locally(ref, stop);
            case lookup::local_then_registry:
                return in_registry(ref, stop);
        }
        return false;
    }

    /// ImagePublishing: whether `ref`'s registry has that tag, asked of the
    /// registry through options::registry (by default a manifest HEAD
    /// through registry_client: no layer moves, nothing is pulled).
    bool in_registry(const image_ref& ref, std::stop_token stop = {}) {
        if (!opts_.registry)
            throw error(errc::invalid_argument,
                        fmt::format("cannot look {} up in its registry: no registry client is configured "
                                    "(docker_engine::options::registry)",
                                    ref.str()));
        return opts_.registry(ref, stop);
    }

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
    bool exists_locally(const image_ref& ref, std::stop_token stop = {}) {
        negotiate(stop);
        if (!is_podman_) return inspect(ref, stop).has_value();
        const auto r = short_call({"GET", docker_api::libpod_exists_target(ref)}, stop);
        if (r.status == 404) return false;
        http::throw_for_status(r, fmt::format("checking for image {} on {}", ref.str(), where_));
        return true;
    }

    /// The local image, or std::nullopt when the engine has none by that name.
    std::optional<image_summary> inspect(const image_ref& ref, std::stop_token stop = {}) {
        negotiate(stop);
        return inspect_at(docker_api::inspect_target(*api_, ref), ref.str(), stop);
    }

    /// ImageStore: the image a name or an id ("sha256:...") stands for now.
    std::optional<image_summary> describe_image(std::string_view name_or_id, std::stop_token stop = {}) {
        if (!docker_api::is_image_id(name_or_id)) return inspect(image_ref::parse(name_or_id), stop);
        negotiate(stop);
        return inspect_at(docker_api::inspect_id_target(*api_, name_or_id), std::string(name_or_id), stop);
    }

    /// ImageStore: removes image `id` (and its parents no other image
    /// needs) unless a container, a name or a child image holds it.
    image_removal remove_unused_image(std::string_view id, std::stop_token stop = {}) {
        negotiate(stop);
        if (!docker_api::is_image_id(id))
            throw error(errc::invalid_argument, fmt::format("remove_unused_image takes an image id, not {}",
                                                            detail::ref::quote(id)));
        const auto r = short_call({"DELETE", docker_api::remove_id_target(*api_, id)}, stop);
        if (r.status == 404) return image_removal::gone;
        if (r.status == 409) return image_removal::in_use;  // a container, a name or a child holds it
        http::throw_for_status(r, fmt::format("removing image {} on {}", id, where_));
        return image_removal::removed;
    }

    /// Pulls `ref` (POST /images/create) with the credentials the docker
    /// config has for its registry. Throws not_found when the registry has no
    /// such image, unauthorized, connection_failed, cancelled.
    void pull(const image_ref& ref, const event_sink& on_event, std::stop_token stop = {}) {
        negotiate();
        http::request r{"POST", docker_api::pull_target(*api_, ref)};
        if (auto c = credentials(ref)) r.headers.push_back({"X-Registry-Auth", docker_auth::encode_registry_auth(c)});
        stream(std::move(r), fmt::format("pulling {} through {}", ref.str(), where_), on_event, stop);
    }

    /// Pushes `ref` (a tag) to its registry, with credentials; returns what
    /// the engine reported (digest, size).
    events::pushed push(const image_ref& ref, const event_sink& on_event, std::stop_token stop = {}) {
        negotiate();
        http::request r{"POST", docker_api::push_target(*api_, ref)};
        r.headers.push_back({"X-Registry-Auth", docker_auth::encode_registry_auth(credentials(ref))});
        events::pushed result;
        stream(
            std::move(r), fmt::format("pushing {} through {}", ref.str(), where_),
            [&](const build_event& e) {
                if (const auto* p = std::get_if<events::pushed>(&e)) result = *p;
                if (on_event) on_event(e);
            },
            stop);
        if (result.digest.empty())
            throw error(errc::parse_error,
                        fmt::format("pushing {} through {}: the engine did not report a digest", ref.str(), where_));
        return result;
    }

    /// Tags image `from` as `to`. Throws not_found when `from` does not exist.
    void tag(const image_ref& from, const image_ref& to) {
        negotiate();
        const auto r = short_call({"POST", docker_api::tag_target(*api_, from, to)});
        http::throw_for_status(r, fmt::format("tagging {} as {} on {}", from.str(), to.str(), where_));
    }

    /// Removes the name `ref` (the image too when it was its last name).
    /// Returns false when there was no such image.
    bool remove(const image_ref& ref, bool force = false) {
        negotiate();
        const auto r = short_call({"DELETE", docker_api::remove_target(*api_, ref, force, true)});
        if (r.status == 404) return false;
        http::throw_for_status(r, fmt::format("removing image {} on {}", ref.str(), where_));
        return true;
    }

    /// Local images carrying every label filter ("key" or "key=value").
    std::vector<image_summary> images(const std::vector<std::string>& label_filters = {}) {
        negotiate();
        for (const auto& f : label_filters)
            if (f.empty() || f.front() == '=')
                throw error(errc::invalid_argument,
                            fmt::format("label filter {} needs a key: \"key\" or \"key=value\"", detail::ref::quote(f)));
        // Podman 4.3 answers nothing when given several label filters: send it
        // the first, and check them all here (for both engines).
        std::vector<std::string> sent = label_filters;
        if (is_podman_ && sent.size() > 1) sent.resize(1);
        auto r = short_call({"GET", docker_api::list_images_target(*api_, sent)});
        // Podman fails the whole list (500, "image not known") when an image
        // is removed while it lists; the next listing no longer sees it.
        for (int retry = 0; retry < 5 && is_podman_ && r.status == 500 &&
                            r.body.find("image not known") != std::string::npos;
             ++retry)
            r = short_call({"GET", docker_api::list_images_target(*api_, sent)});
        http::throw_for_status(r, fmt::format("listing images on {}", where_));
        simdjson::dom::parser parser;
        simdjson::dom::array list;
        if (parser.parse(r.body).get_array().get(list) != simdjson::SUCCESS)
            throw error(errc::parse_error, fmt::format("listing images on {}: the answer is not a JSON array", where_));
        std::vector<image_summary> out;
        for (auto item : list) {
            if (!item.is_object()) continue;
            auto s = summary_of(item);
            s.labels = labels_of(item["Labels"]);
            if (docker_api::labels_match(s.labels, label_filters)) out.push_back(std::move(s));
        }
        return out;
    }

    /// Builds from a context tar that `context` streams (POST /build; the tar
    /// is never held whole). Events go to `on_event`; a failed build throws
    /// build_failed with the exit code, the failing step and the log's tail.
    /// This is build()'s engine half; build() adds the context packer.
    build_result build_tar(const build_request& req, http::body_reader context, const event_sink& on_event,
                           std::stop_token stop = {}) {
        negotiate();
        const auto started = std::chrono::steady_clock::now();
        http::request r{"POST", docker_api::build_target(*api_, req)};
        r.headers.push_back({"Content-Type", "application/x-tar"});
        // The engine pulls a FROM image it lacks (one another host pushed);
        // it needs the credentials of the registries the build names.
        if (auto config = build_registry_config(req)) r.headers.push_back({"X-Registry-Config", std::move(*config)});
        auto sent = std::make_shared<std::uint64_t>(0);
        r.reader = [sent, context = std::move(context)](std::span<std::byte> buffer) {
            const auto n = context(buffer);
            *sent += n;
            return n;
        };
        std::optional<events::step> last_step;
        std::deque<std::string> tail;
        std::string image_id;
        std::string last_layer;  // the classic builder's " ---> <id>" of the last step done
        std::optional<events::failure> failed;
        auto remember = [&](std::string line) {
            tail.push_back(std::move(line));
            if (tail.size() > opts_.log_tail_lines) tail.pop_front();
        };
        const auto what = fmt::format("building {} through {}", req.tags.empty() ? std::string("an image") : req.tags.front(),
                                      where_);
        stream_raw(std::move(r), what, [&](const build_event& e) {
            if (const auto* s = std::get_if<events::step>(&e)) {
                last_step = *s;
                remember(fmt::format("STEP {}/{}: {}", s->index, s->total, s->instruction));
            } else if (const auto* l = std::get_if<events::log_line>(&e)) {
                if (last_step && last_step->index > 1)  // step 1's id is the base image's
                    if (const auto id = docker_api::step_image_of(l->text); !id.empty()) last_layer = id;
                remember(l->text);
            } else if (const auto* b = std::get_if<events::image_built>(&e)) {
                image_id = b->id;
            } else if (const auto* f = std::get_if<events::failure>(&e)) {
                if (!failed) failed = *f;
            }
            if (on_event) on_event(e);
        }, stop);
        if (failed) {
            if (!opts_.keep_failed_build_layers) {
                std::vector<std::string> notes;
                if (auto note = remove_failed_build_step(*this, last_layer); !note.empty()) notes.push_back("rtb: " + note);
                if (is_podman_) notes.push_back(remove_failed_build_layers_by_label(req.labels));
                for (const auto& note : notes)
                    if (on_event && !note.empty()) on_event(build_event{events::log_line{note}});
            }
            build_failure bf;
            bf.exit_code = failed->exit_code ? failed->exit_code : docker_api::exit_code_from_message(failed->message);
            if (last_step) bf.failing_step = fmt::format("Step {}/{} : {}", last_step->index, last_step->total, last_step->instruction);
            bf.log_tail.assign(tail.begin(), tail.end());
            error e(errc::build_failed, fmt::format("{} failed{}{}: {}", what,
                                                    bf.failing_step.empty() ? "" : " at " + bf.failing_step,
                                                    bf.exit_code ? fmt::format(" (exit code {})", *bf.exit_code) : "",
                                                    failed->message));
            e.with_build_failure(std::move(bf));
            throw e;
        }
        if (image_id.empty())
            throw error(errc::parse_error, fmt::format("{}: the engine ended the stream without an image id", what));
        build_result out;
        out.image_id = image_id;
        out.tags = req.tags;
        out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        out.bytes_sent = *sent;
        return out;
    }

    /// The Transport's build(): streams the context (request.context, or
    /// else request.context_dir as the docker CLI would send it, with its
    /// .dockerignore) as a tar straight into POST /build, never whole in
    /// memory, and hands the build's events to `logger`.
    template <class L>
        requires EventSink<L>
    build_result build(const build_request& req, L& logger, std::stop_token stop = {}) {
        auto snapshot = req.context;
        if (!snapshot) {
            directory_context_options o;
            o.ignore.dockerfile = req.dockerfile;
            snapshot = directory_context(req.context_dir, o).snapshot();
        }
        auto tar = std::make_shared<tar_stream>(std::move(snapshot), tar_options::from_environment());
        return build_tar(
            req, [tar](std::span<std::byte> buffer) { return tar->read(buffer); },
            [&logger](const build_event& e) { logger.on_event(e); }, stop);
    }

    /// The HTTP client, for calls this class does not wrap.
    http::client& http() noexcept { return http_; }

private:
    /// Pings the engine once: the API version (API-Version header) and
    /// whether it is Podman (Libpod-Api-Version header, with its version)
    /// come from /_ping alone. /version is slow (Podman runs conmon and runc
    /// to answer it, ~0.5 s) and is asked only by info() and version().
    void negotiate(std::stop_token stop = {}) {
        if (api_) return;
        const auto ping = short_call({"GET", "/_ping"}, stop);
        http::throw_for_status(ping, fmt::format("pinging the engine on {}", where_));
        if (const auto libpod = ping.header("Libpod-Api-Version")) {
            docker_api::version_answer v;
            v.product = "Podman Engine";
            v.version = std::string(*libpod);
            v.api_version = std::string(ping.header("API-Version").value_or(""));
            v.is_podman = true;
            docker_api::check_version(v, where_);
            is_podman_ = true;
        }
        if (const auto ping_api = ping.header("API-Version")) {
            api_ = docker_api::negotiate(*ping_api, opts_.api_version, where_);
        } else {
            fetch_version(docker_api::oldest_api);
            api_ = docker_api::negotiate(version_->api_version, opts_.api_version, where_);
        }
    }

    /// GET /version, checked and kept.
    void fetch_version(docker_api::api_version at) {
        if (version_) return;
        const auto v = short_call({"GET", fmt::format("/v{}/version", at.str())});
        http::throw_for_status(v, fmt::format("asking the engine on {} for its version", where_));
        auto answer = docker_api::parse_version(v.body, where_);
        const auto neg = docker_api::negotiate(answer.api_version, opts_.api_version, where_);
        if (const auto min = docker_api::api_version::parse(answer.min_api_version); min && *min > neg)
            throw error(errc::unsupported_version,
                        fmt::format("{} {} on {} accepts Engine API {} and newer; rtb speaks at most {}", answer.product,
                                    answer.version, where_, min->str(), neg.str()));
        docker_api::check_version(answer, where_);
        is_podman_ = answer.is_podman;
        version_ = std::move(answer);
    }

    /// Podman keeps the steps of a failed build as images carrying the
    /// build's labels and no name (its build output does not name them):
    /// removes those that carry every label of the request (which name the
    /// build's own tags), unless something holds them.
    std::string remove_failed_build_layers_by_label(const std::map<std::string, std::string>& labels) noexcept {
        if (labels.empty()) return {};
        try {
            std::vector<std::string> filters;
            for (const auto& [k, v] : labels) filters.push_back(k + "=" + v);
            std::size_t removed = 0;
            for (const auto& img : images(filters))
                if (!has_names(img) && remove_unused_image(img.id) == image_removal::removed) ++removed;
            return removed ? fmt::format("rtb: removed {} image{} of the failed build's steps", removed,
                                         removed == 1 ? "" : "s")
                           : std::string();
        } catch (const std::exception& e) {
            return fmt::format("rtb: could not remove the failed build's steps: {}", e.what());
        }
    }

    std::optional<image_summary> inspect_at(const std::string& target, const std::string& what, std::stop_token stop) {
        const auto r = short_call({"GET", target}, stop);
        if (r.status == 404) return std::nullopt;
        http::throw_for_status(r, fmt::format("inspecting image {} on {}", what, where_));
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (parser.parse(r.body).get(doc) != simdjson::SUCCESS || !doc.is_object())
            throw error(errc::parse_error,
                        fmt::format("inspecting image {} on {}: the answer is not a JSON object", what, where_));
        image_summary s = summary_of(doc);
        simdjson::dom::element config;
        if (doc["Config"].get(config) == simdjson::SUCCESS && config.is_object()) s.labels = labels_of(config["Labels"]);
        simdjson::dom::array layers;
        if (doc["RootFS"]["Layers"].get_array().get(layers) == simdjson::SUCCESS)
            for (auto l : layers)
                if (std::string_view v; l.get_string().get(v) == simdjson::SUCCESS) s.layers.emplace_back(v);
        return s;
    }


    http::response short_call(http::request r, std::stop_token stop = {}) {
        r.timeout = opts_.request_timeout;
        return http_.send(r, stop);
    }

    /// X-Registry-Config for a build: the credentials of the registries its
    /// tags are in (a lock or versioned image it builds FROM is in the same
    /// repository), when the docker config has any.
    std::optional<std::string> build_registry_config(const build_request& req) const {
        std::vector<std::pair<std::string, registry_credentials>> found;
        for (const auto& tag : req.tags) {
            const auto registry = image_ref::parse(tag).registry();
            if (std::any_of(found.begin(), found.end(), [&](const auto& f) { return f.first == registry; })) continue;
            try {
                if (auto c = credentials(image_ref::parse(tag))) found.emplace_back(registry, std::move(*c));
            } catch (const error&) {
                // A helper that fails here does not fail a build that may need
                // no credentials; a pull that does fails with the engine's words.
            }
        }
        return docker_auth::encode_registry_config(found);
    }

    std::optional<registry_credentials> credentials(const image_ref& ref) const {
        const auto file = opts_.docker_config ? *opts_.docker_config : docker_auth::config_path();
        return docker_auth::resolve_credentials(ref.registry(), file).credentials;
    }

    /// Sends a streaming request and decodes its JSON lines into events.
    template <class Sink>
    void stream_raw(http::request r, const std::string& what, Sink&& sink, std::stop_token stop) {
        struct forward {
            Sink* to;
            void on_event(const build_event& e) { (*to)(e); }
        } out{&sink};
        engine_stream_decoder<forward> decoder(out, {.max_line = opts_.max_stream_line, .source = what});
        r.on_data = [&](std::string_view chunk) { decoder.feed(chunk); };
        const auto resp = http_.send(r, stop);
        http::throw_for_status(resp, what);
        decoder.finish();
    }

    /// stream_raw, and a failure event becomes an error (after the sink saw it).
    void stream(http::request r, const std::string& what, const event_sink& on_event, std::stop_token stop) {
        std::optional<events::failure> failed;
        stream_raw(std::move(r), what, [&](const build_event& e) {
            if (const auto* f = std::get_if<events::failure>(&e); f && !failed) failed = *f;
            if (on_event) on_event(e);
        }, stop);
        if (failed) throw error(docker_api::classify_stream_error(failed->message), fmt::format("{}: {}", what, failed->message));
    }

    static image_summary summary_of(simdjson::dom::element item) {
        image_summary s;
        std::string_view v;
        if (item["Id"].get_string().get(v) == simdjson::SUCCESS) s.id = v;
        simdjson::dom::array tags;
        if (item["RepoTags"].get_array().get(tags) == simdjson::SUCCESS)
            for (auto t : tags)
                if (t.get_string().get(v) == simdjson::SUCCESS) s.repo_tags.emplace_back(v);
        std::int64_t size = 0;
        if (item["Size"].get_int64().get(size) == simdjson::SUCCESS && size > 0) s.size = static_cast<std::uint64_t>(size);
        // GET /images/json gives Created as Unix seconds; GET /images/{name}/json
        // (Docker and Podman) as an RFC 3339 string.
        std::int64_t created = 0;
        std::string_view stamp;
        if (item["Created"].get_int64().get(created) == simdjson::SUCCESS) s.created = created;
        else if (item["Created"].get_string().get(stamp) == simdjson::SUCCESS)
            if (const auto t = rtb::detail::parse_rfc3339(stamp)) s.created = t->seconds;
        return s;
    }

    static std::map<std::string, std::string> labels_of(simdjson::simdjson_result<simdjson::dom::element> labels) {
        std::map<std::string, std::string> out;
        simdjson::dom::object obj;
        if (labels.get_object().get(obj) != simdjson::SUCCESS) return out;
        for (auto [k, val] : obj) {
            std::string_view v;
            if (val.get_string().get(v) == simdjson::SUCCESS) out.emplace(std::string(k), std::string(v));
        }
        return out;
    }

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
inline http::endpoint podman_endpoint_from_env() {
    if (const char* h = std::getenv("CONTAINER_HOST"); h && *h) return http::parse_docker_host(h, {});
    if (::geteuid() != 0)
        if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
            return http::parse_docker_host(fmt::format("unix://{}/podman/podman.sock", x), {});
    return http::parse_docker_host("unix:///run/podman/podman.sock", {});
}

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
