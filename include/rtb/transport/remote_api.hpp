// remote_api: the Transport that builds through a remote build service
// speaking the Runtime API (OpenHands' RemoteRuntimeBuilder; `rtb serve`):
//   X-API-Key on every request;
//   POST /build            multipart form: context (base64 of the tar.gz,
//                          file name context.tar.gz), target_image, tags...
//                          -> {"build_id": ...}
//   GET  /build_status?build_id=   polled until SUCCESS (-> image) or
//                          FAILURE / INTERNAL_ERROR / TIMEOUT / CANCELLED / EXPIRED
//   GET  /image_exists?image=      -> {"exists", "image": {upload_time, image_size_bytes}}
//   GET  /registry_prefix          -> {"registry_prefix": ...}, applied to image names
//   POST /cancel_build?build_id=   (rtb serve's; used when a build is stopped)
// 429 and transient failures are retried under the RetryPolicy (a loop,
// never recursion), honouring Retry-After.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/context/gzip_options.hpp"
#include "rtb/context/request_context.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/deadline.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/stream/runtime_api.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/http.hpp"

namespace rtb {

/// Where a Runtime API service is: "http://host:port" or "https://host:port"
/// (a trailing "/" allowed; no path, user or query). Throws invalid_argument.
inline http::endpoint parse_service_url(std::string_view url);

/// `image` renamed under the service's registry `prefix`: its last path
/// component (repository name and tag) placed below the prefix, as
/// OpenHands names images `{prefix}/runtime:tag`. Unchanged when the prefix
/// is empty or the image is already below it.
inline std::string apply_registry_prefix(std::string_view image, std::string_view prefix);

namespace detail {

/// POST /build's body, as a pull stream, and its Content-Type.
struct runtime_api_form {
    std::string content_type;  ///< multipart/form-data with this form's boundary
    http::body_reader body;
};

/// The multipart form of one POST /build (a fresh boundary each call):
/// target_image (names[0]) and tags (the rest), as OpenHands sends them;
/// the build arguments, labels and platform, which rtb serve reads and
/// other services ignore; then the context tar, gzip'd and base64'd as it
/// is read. Out of line: the form's compressor stays out of the template.
runtime_api_form runtime_api_build_form(const build_request& request, const std::vector<std::string>& names,
                                        std::shared_ptr<const context_snapshot> context, const gzip_options& gzip);

}  // namespace detail

/// The Runtime API client. One instance serves one thread; copies (one per
/// thread, as basic_builder makes) share nothing but the settings.
template <RetryPolicy Retry = exponential_backoff>
class basic_remote_api {
public:
    struct options {
        std::string url;      ///< "http://127.0.0.1:8000"
        std::string api_key;  ///< sent as X-API-Key; never logged or shown
        /// How often GET /build_status is asked (30 s, as OpenHands does).
        std::chrono::milliseconds poll_interval{30'000};
        /// The most one build may take, polling included (OpenHands' 30 min).
        std::chrono::milliseconds build_timeout{30 * 60 * 1000};
        /// Limit for each short call (status, exists, prefix, cancel).
        std::chrono::milliseconds request_timeout{60'000};
        /// The upload fails when no byte moves for this long.
        std::chrono::milliseconds stall_timeout{120'000};
        /// Retries of one request (429 with Retry-After, 502/503/504, lost
        /// connections); each request starts from this policy afresh.
        Retry retry{};
        /// Ask GET /registry_prefix and rename images under it.
        bool use_registry_prefix = true;
        /// Compression of the uploaded context.
        gzip_options gzip{};
    };

    explicit basic_remote_api(options o)
        : opts_(std::move(o)), http_(parse_service_url(opts_.url), client_options(opts_)), where_(normalized(opts_.url)) {
        if (opts_.poll_interval.count() <= 0)
            throw error(errc::invalid_argument, "remote_api: the poll interval must be positive");
        remember_secret(opts_.api_key);  // masked wherever a server or a log would echo it
    }
    basic_remote_api(const basic_remote_api& o)
        : opts_(o.opts_), http_(o.http_.where(), client_options(o.opts_)), where_(o.where_), prefix_(o.prefix_) {}
    basic_remote_api(basic_remote_api&&) noexcept = default;
    basic_remote_api& operator=(const basic_remote_api&) = delete;
    basic_remote_api& operator=(basic_remote_api&&) noexcept = default;

    /// The service: its URL and registry prefix (asking for the prefix also
    /// checks the API key).
    server_info info() {
        server_info s;
        s.product = fmt::format("Runtime API service {}", where_);
        s.version = opts_.use_registry_prefix ? fmt::format("registry prefix {}", registry_prefix()) : "";
        s.api_version = "runtime-api";
        return s;
    }

    /// GET /registry_prefix (asked once, then kept).
    const std::string& registry_prefix(std::stop_token stop = {}) {
        if (!prefix_) {
            const auto r = call("GET", "/registry_prefix", "asking for the registry prefix", stop);
            prefix_ = parse_registry_prefix(r.body);
        }
        return *prefix_;
    }

    /// An image name as the service knows it (the registry prefix applied).
    std::string service_name(std::string_view image, std::stop_token stop = {}) {
        if (!opts_.use_registry_prefix) return std::string(image);
        return apply_registry_prefix(image, registry_prefix(stop));
    }

    /// ImageNaming: the name the service gives an image asked for as `ref`.
    std::string stored_name(const image_ref& ref, std::stop_token stop = {}) { return service_name(ref.str(), stop); }

    /// GET /image_exists: whether the service has the image, with its upload
    /// time and size when it says.
    remote_image_info image_info(std::string_view image, std::stop_token stop = {}) {
        const auto name = service_name(image, stop);
        const auto r = call("GET", "/image_exists?image=" + detail::url_encode(name),
                            fmt::format("asking whether {} exists", name), stop);
        return parse_image_exists(r.body);
    }

    /// The Transport's lookup: the service has one store, so every mode asks
    /// it the same question.
    bool image_exists(const image_ref& ref, lookup) { return image_info(ref.str()).exists; }

    /// Tags are applied by the service during the build (the `tags` fields);
    /// the Runtime API has no separate tag call. Succeeds when `to` already
    /// exists there, otherwise throws unsupported_version.
    void tag(const image_ref& from, const image_ref& to) {
        if (image_info(to.str()).exists) return;
        throw error(errc::unsupported_version,
                    fmt::format("the Runtime API at {} cannot tag {} as {}: tags are given with the build", where_,
                                from.str(), to.str()));
    }

    /// Submits the build and polls until it ends. `request.tags` name the
    /// images (the first is target_image, the rest tags). The context
    /// (request.context, or else request.context_dir with its
    /// .dockerignore) is streamed. On a stop request the service is asked to
    /// cancel the build, then cancelled is thrown. Status changes reach the
    /// logger as log lines.
    template <class L>
    build_result build(const build_request& request, L& logger, std::stop_token stop = {}) {
        if (request.tags.empty())
            throw error(errc::invalid_argument, "a remote build needs at least one image name (build_request::tags)");
        const auto started = std::chrono::steady_clock::now();
        const auto overall = deadline::after(opts_.build_timeout);
        std::vector<std::string> names;
        for (const auto& t : request.tags) names.push_back(service_name(t, stop));

        const auto snapshot = context_snapshot_of(request);
        std::uint64_t bytes_sent = 0;
        const std::string id = submit(request, names, snapshot, stop, bytes_sent);
        logger.log(log_level::info, fmt::format("remote build {} submitted to {}", id, where_));

        try {
            auto out = follow(id, overall, started, names, logger, stop);
            out.bytes_sent = bytes_sent;
            return out;
        } catch (const error& e) {
            // A stop that landed inside a status call (or a retry's wait)
            // ends here: the service is still asked to cancel.
            if (e.value() != errc::cancelled || !stop.stop_requested()) throw;
            cancel_quietly(id);
            throw error(errc::cancelled, fmt::format("remote build {} on {}: cancelled", id, where_));
        }
    }

    /// GET /build_status once.
    remote_build_status poll(const std::string& id, std::stop_token stop = {}) {
        const auto r = call("GET", "/build_status?build_id=" + detail::url_encode(id),
                            fmt::format("asking for the status of remote build {}", id), stop,
                            /*not_found_is_answer=*/true);
        if (r.status == 404)
            throw error(errc::not_found,
                        fmt::format("{}: remote build {} is unknown to the service (it restarted or dropped the build): {}",
                                    where_, id, http::server_message(r.body)));
        return parse_build_status(r.body);
    }

    /// Asks the service to cancel a build (POST /cancel_build).
    void cancel(const std::string& id, std::stop_token stop = {}) {
        call("POST", "/cancel_build?build_id=" + detail::url_encode(id), fmt::format("cancelling remote build {}", id),
             stop);
    }

    const options& settings() const noexcept { return opts_; }
    /// The service, as errors name it ("http://127.0.0.1:8000").
    const std::string& where() const noexcept { return where_; }

private:
    /// Polls a submitted build until it ends, the deadline passes (it is
    /// cancelled service-side) or `stop` is requested (cancelled is thrown).
    template <class L>
    build_result follow(const std::string& id, const deadline& overall, std::chrono::steady_clock::time_point started,
                        const std::vector<std::string>& names, L& logger, std::stop_token stop) {
        std::optional<remote_build_state> last;
        while (true) {
            if (stop.stop_requested()) throw error(errc::cancelled, "stopped");  // build() cancels it service-side
            if (overall.expired()) {
                cancel_quietly(id);
                throw error(errc::timeout, fmt::format("remote build {} on {} did not finish within {} s", id, where_,
                                                       opts_.build_timeout.count() / 1000));
            }
            const auto status = poll(id, stop);
            if (!last || *last != status.state) {
                logger.on_event(build_event{events::log_line{fmt::format("remote build {}: {}", id, to_string(status.state))}});
                last = status.state;
            }
            if (status.state == remote_build_state::success) {
                build_result out;
                out.image_id = status.image_id;  // an id, when the service says one (rtb serve does)
                out.tags = names;
                out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
                return out;
            }
            if (status.finished()) throw remote_build_error(status, id).with_context(fmt::format("{}", where_));
            const auto wait = std::min(opts_.poll_interval, overall.remaining());
            if (!interruptible_sleep(wait, stop)) continue;  // the loop top cancels
        }
    }

    static http::client_options client_options(const options& o) {
        http::client_options c;
        c.connect_timeout = std::chrono::milliseconds(10'000);
        c.stall_timeout = o.stall_timeout;
        c.max_body = std::size_t{1} << 20;
        return c;
    }
    static std::string normalized(std::string_view url) {
        while (url.ends_with('/')) url.remove_suffix(1);
        return std::string(url);
    }

    /// One request under the retry policy; the answer (2xx, or 404 when
    /// asked) or an error naming the service and what was being done. A 401
    /// or 403 says "unauthorized" first.
    http::response call(std::string method, std::string target, const std::string& what, std::stop_token stop,
                        bool not_found_is_answer = false) {
        return with_retry(stop, what, [&] {
            http::request r{method, target};
            r.headers.push_back({"X-API-Key", opts_.api_key});
            r.timeout = opts_.request_timeout;
            auto resp = http_.send(r, stop);
            check(resp, not_found_is_answer);
            return resp;
        });
    }

    static void check(const http::response& resp, bool not_found_is_answer) {
        if (resp.status < 400 || (not_found_is_answer && resp.status == 404)) return;
        if (resp.status == 401 || resp.status == 403) {
            error e(errc::unauthorized,
                    fmt::format("unauthorized: the service refused the API key (HTTP {})", resp.status));
            e.with_http_status(resp.status);
            throw e;
        }
        throw http::error_for_status(resp.status, "the service answered", http::server_message(resp.body),
                                     resp.header("Retry-After"));
    }

    template <class Op>
    auto with_retry(std::stop_token stop, const std::string& what, Op&& op) -> decltype(op()) {
        Retry policy = opts_.retry;  // a fresh budget per request
        try {
            return retry(policy, stop, [&](int) { return op(); });
        } catch (const error& e) {
            if (e.value() == errc::cancelled) throw;
            throw e.with_context(fmt::format("{}: {}", where_, what));
        }
    }

    std::string submit(const build_request& request, const std::vector<std::string>& names,
                       const std::shared_ptr<const context_snapshot>& snapshot, std::stop_token stop,
                       std::uint64_t& bytes_sent) {
        const auto what = fmt::format("submitting the build of {}", names.front());
        const auto r = with_retry(stop, what, [&] {
            auto form = detail::runtime_api_build_form(request, names, snapshot, opts_.gzip);
            http::request req{"POST", "/build"};
            req.headers.push_back({"X-API-Key", opts_.api_key});
            req.headers.push_back({"Content-Type", std::move(form.content_type)});
            bytes_sent = 0;  // the attempt that was accepted counts
            req.reader = [body = std::move(form.body), &bytes_sent](std::span<std::byte> buf) {
                const auto n = body(buf);
                bytes_sent += n;
                return n;
            };
            auto resp = http_.send(req, stop);
            check(resp, false);
            return resp;
        });
        return parse_build_id(r.body);
    }

    void cancel_quietly(const std::string& id) noexcept {
        try {
            // A fresh token: the caller's is already stopped.
            cancel(id, {});
        } catch (...) {
            // The service may be gone; the caller's error says what happened.
        }
    }

    options opts_;
    http::client http_;
    std::string where_;
    std::optional<std::string> prefix_;
};

using remote_api = basic_remote_api<exponential_backoff>;
static_assert(Transport<remote_api> && ImageNaming<remote_api>);

// ---------------------------------------------------------------------------

inline http::endpoint parse_service_url(std::string_view url) {
    auto bad = [&](std::string_view why) -> void {
        throw error(errc::invalid_argument,
                    fmt::format("invalid Runtime API URL {}: {}", detail::ref::quote(url), why));
    };
    bool tls = false;
    std::string_view rest;
    if (url.starts_with("http://")) rest = url.substr(7);
    else if (url.starts_with("https://")) rest = url.substr(8), tls = true;
    else bad("expected http://host:port or https://host:port");
    while (rest.ends_with('/')) rest.remove_suffix(1);
    if (rest.empty()) bad("no host");
    if (rest.find('/') != std::string_view::npos) bad("a path is not supported after host:port");
    http::tls_options t;
    t.enabled = tls;
    // http::parse_docker_host checks the authority (host, brackets, port).
    const bool has_port = rest.starts_with('[') ? rest.find("]:") != std::string_view::npos
                                                : rest.find(':') != std::string_view::npos;
    const std::string authority = has_port ? std::string(rest) : fmt::format("{}:{}", rest, tls ? 443 : 80);
    try {
        return http::parse_docker_host("tcp://" + authority, t);
    } catch (const error& e) {
        bad(e.what());
    }
    return {};
}

inline std::string apply_registry_prefix(std::string_view image, std::string_view prefix) {
    while (prefix.ends_with('/')) prefix.remove_suffix(1);
    if (prefix.empty()) return std::string(image);
    if (image.starts_with(prefix) && image.size() > prefix.size() && image[prefix.size()] == '/')
        return std::string(image);
    const auto slash = image.rfind('/');
    const auto last = slash == std::string_view::npos ? image : image.substr(slash + 1);
    return fmt::format("{}/{}", prefix, last);
}

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/remote_api.ipp"
#else
// The client with the stock retry policy, and any_transport's wrapper around
// it, are compiled once, by <rtb/src.hpp>.
#include "rtb/any_transport.hpp"
namespace rtb {
extern template class basic_remote_api<exponential_backoff>;
extern template struct any_transport::model<remote_api>;
}  // namespace rtb
#endif
