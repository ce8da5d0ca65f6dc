// docker_engine's member functions (rtb/transport/docker_engine.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so JSON parsing (simdjson), the stream decoder,
// the context packer and the registry client are parsed only here.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include "rtb/cache_directory.hpp"
#include "rtb/context/request_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/detail/rfc3339.hpp"
#include "rtb/stream/engine_stream.hpp"
#include "rtb/transport/docker_auth.hpp"
#include "rtb/transport/detail/engine_root_memo.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/registry.hpp"

namespace rtb::detail::engine_json {

RTB_DECL image_summary summary_of(simdjson::dom::element item) {
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

RTB_DECL std::map<std::string, std::string> labels_of(simdjson::simdjson_result<simdjson::dom::element> labels) {
    std::map<std::string, std::string> out;
    simdjson::dom::object obj;
    if (labels.get_object().get(obj) != simdjson::SUCCESS) return out;
    for (auto [k, val] : obj) {
        std::string_view v;
        if (val.get_string().get(v) == simdjson::SUCCESS) out.emplace(std::string(k), std::string(v));
    }
    return out;
}

}  // namespace rtb::detail::engine_json

namespace rtb {

/// Sends a streaming request and decodes its JSON lines into events.
template <class Sink>
void docker_engine::stream_raw(http::request r, const std::string& what, Sink&& sink, std::stop_token stop) {
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

RTB_DECL docker_engine::docker_engine(options o)
    : opts_(std::move(o)),
      http_(opts_.endpoint ? *opts_.endpoint : http::endpoint_from_env(), opts_.http),
      where_(http_.where().describe()) {
    if (!opts_.registry) {
        registry_client::options r;
        r.docker_config = opts_.docker_config;
        opts_.registry = make_registry_lookup(std::move(r));
    }
}

RTB_DECL server_info docker_engine::info() {
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

RTB_DECL std::optional<std::filesystem::path> docker_engine::data_root(std::stop_token stop) {
    if (http_.where().type != http::endpoint::kind::unix_socket) return std::nullopt;
    if (data_root_) return *data_root_;  // asked once: an engine does not move its data
    const std::string& socket = http_.where().socket_path;
    const auto memo = opts_.data_root_memo.value_or(cache_directory() / "engine-roots");
    const auto id = memo.empty() ? std::nullopt : detail::identify_socket(socket);
    if (id) {
        std::error_code ec;
        if (auto root = detail::remembered_engine_root(memo, socket, *id); root && std::filesystem::is_directory(*root, ec)) {
            data_root_.emplace(std::move(root));
            return *data_root_;
        }
    }
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
    if (id && !p.empty()) detail::remember_engine_root(memo, socket, *id, p);
    return *data_root_;
}

RTB_DECL bool docker_engine::image_exists(const image_ref& ref, lookup mode, const event_sink& on_event, std::stop_token stop) {
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

RTB_DECL bool docker_engine::in_registry(const image_ref& ref, std::stop_token stop) {
    if (!opts_.registry)
        throw error(errc::invalid_argument,
                    fmt::format("cannot look {} up in its registry: no registry client is configured "
                                "(docker_engine::options::registry)",
                                ref.str()));
    return opts_.registry(ref, stop);
}

RTB_DECL bool docker_engine::exists_locally(const image_ref& ref, std::stop_token stop) {
    negotiate(stop);
    if (!is_podman_) return inspect(ref, stop).has_value();
    const auto r = short_call({"GET", docker_api::libpod_exists_target(ref)}, stop);
    if (r.status == 404) return false;
    http::throw_for_status(r, fmt::format("checking for image {} on {}", ref.str(), where_));
    return true;
}

RTB_DECL std::optional<image_summary> docker_engine::inspect(const image_ref& ref, std::stop_token stop) {
    negotiate(stop);
    return inspect_at(docker_api::inspect_target(*api_, ref), ref.str(), stop);
}

RTB_DECL std::optional<image_summary> docker_engine::describe_image(std::string_view name_or_id, std::stop_token stop) {
    if (!docker_api::is_image_id(name_or_id)) return inspect(image_ref::parse(name_or_id), stop);
    negotiate(stop);
    return inspect_at(docker_api::inspect_id_target(*api_, name_or_id), std::string(name_or_id), stop);
}

RTB_DECL image_removal docker_engine::remove_unused_image(std::string_view id, std::stop_token stop) {
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

RTB_DECL void docker_engine::pull(const image_ref& ref, const event_sink& on_event, std::stop_token stop) {
    negotiate();
    http::request r{"POST", docker_api::pull_target(*api_, ref)};
    if (auto c = credentials(ref)) r.headers.push_back({"X-Registry-Auth", docker_auth::encode_registry_auth(c)});
    stream(std::move(r), fmt::format("pulling {} through {}", ref.str(), where_), on_event, stop);
}

RTB_DECL events::pushed docker_engine::push(const image_ref& ref, const event_sink& on_event, std::stop_token stop) {
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

RTB_DECL void docker_engine::tag(const image_ref& from, const image_ref& to) {
    negotiate();
    const auto r = short_call({"POST", docker_api::tag_target(*api_, from, to)});
    http::throw_for_status(r, fmt::format("tagging {} as {} on {}", from.str(), to.str(), where_));
}

RTB_DECL bool docker_engine::remove(const image_ref& ref, bool force) {
    negotiate();
    const auto r = short_call({"DELETE", docker_api::remove_target(*api_, ref, force, true)});
    if (r.status == 404) return false;
    http::throw_for_status(r, fmt::format("removing image {} on {}", ref.str(), where_));
    return true;
}

RTB_DECL std::vector<image_summary> docker_engine::images(const std::vector<std::string>& label_filters) {
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
        auto s = detail::engine_json::summary_of(item);
        s.labels = detail::engine_json::labels_of(item["Labels"]);
        if (docker_api::labels_match(s.labels, label_filters)) out.push_back(std::move(s));
    }
    return out;
}

RTB_DECL build_result docker_engine::build_tar(const build_request& req, http::body_reader context, const event_sink& on_event,
                                               std::stop_token stop) {
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

RTB_DECL void docker_engine::negotiate(std::stop_token stop) {
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

RTB_DECL void docker_engine::fetch_version(docker_api::api_version at) {
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

RTB_DECL std::string docker_engine::remove_failed_build_layers_by_label(const std::map<std::string, std::string>& labels) noexcept {
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

RTB_DECL std::optional<image_summary> docker_engine::inspect_at(const std::string& target, const std::string& what, std::stop_token stop) {
    const auto r = short_call({"GET", target}, stop);
    if (r.status == 404) return std::nullopt;
    http::throw_for_status(r, fmt::format("inspecting image {} on {}", what, where_));
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r.body).get(doc) != simdjson::SUCCESS || !doc.is_object())
        throw error(errc::parse_error,
                    fmt::format("inspecting image {} on {}: the answer is not a JSON object", what, where_));
    image_summary s = detail::engine_json::summary_of(doc);
    simdjson::dom::element config;
    if (doc["Config"].get(config) == simdjson::SUCCESS && config.is_object()) s.labels = detail::engine_json::labels_of(config["Labels"]);
    simdjson::dom::array layers;
    if (doc["RootFS"]["Layers"].get_array().get(layers) == simdjson::SUCCESS)
        for (auto l : layers)
            if (std::string_view v; l.get_string().get(v) == simdjson::SUCCESS) s.layers.emplace_back(v);
    return s;
}

RTB_DECL http::response docker_engine::short_call(http::request r, std::stop_token stop) {
    r.timeout = opts_.request_timeout;
    return http_.send(r, stop);
}

RTB_DECL std::optional<std::string> docker_engine::build_registry_config(const build_request& req) const {
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

RTB_DECL std::optional<registry_credentials> docker_engine::credentials(const image_ref& ref) const {
    const auto file = opts_.docker_config ? *opts_.docker_config : docker_auth::config_path();
    return docker_auth::resolve_credentials(ref.registry(), file).credentials;
}

RTB_DECL void docker_engine::stream(http::request r, const std::string& what, const event_sink& on_event, std::stop_token stop) {
    std::optional<events::failure> failed;
    stream_raw(std::move(r), what, [&](const build_event& e) {
        if (const auto* f = std::get_if<events::failure>(&e); f && !failed) failed = *f;
        if (on_event) on_event(e);
    }, stop);
    if (failed) throw error(docker_api::classify_stream_error(failed->message), fmt::format("{}: {}", what, failed->message));
}

RTB_DECL build_result docker_engine::build_with_context(const build_request& req, const event_sink& on_event,
                                                      std::stop_token stop) {
    auto snapshot = context_snapshot_of(req);
    auto tar = std::make_shared<tar_stream>(std::move(snapshot), tar_options::from_environment());
    return build_tar(
        req, [tar](std::span<std::byte> buffer) { return tar->read(buffer); }, on_event, stop);
}

RTB_DECL http::endpoint podman_endpoint_from_env() {
    if (const char* h = std::getenv("CONTAINER_HOST"); h && *h) return http::parse_docker_host(h, {});
    if (::geteuid() != 0)
        if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
            return http::parse_docker_host(fmt::format("unix://{}/podman/podman.sock", x), {});
    return http::parse_docker_host("unix:///run/podman/podman.sock", {});
}

}  // namespace rtb
