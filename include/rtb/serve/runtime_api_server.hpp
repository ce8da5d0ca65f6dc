// The Runtime API server behind `rtb serve`: the build service OpenHands'
// RemoteRuntimeBuilder talks to (and rtb's remote_api), on cpp-httplib, with
// builds run by a docker_engine. API keys (constant-time check), a per-key
// rate limit (429 + Retry-After), request size limits (413), a bounded build
// queue with N workers, expiring records, cancellation, and uploaded
// contexts checked before the engine sees them, and GET /metrics (Prometheus
// text format, behind the same key). Binds loopback unless told otherwise.
// Keys are never logged.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/context/base64_decoder.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/deadline.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/serve/api_keys.hpp"
#include "rtb/serve/build_queue.hpp"
#include "rtb/serve/context_check.hpp"
#include "rtb/serve/metrics.hpp"
#include "rtb/serve/rate_limiter.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/transport/docker_engine.hpp"

namespace rtb::serve {

struct server_options {
    std::string host = "127.0.0.1";
    int port = 0;                     ///< 0: any free port (see runtime_api_server::port())
    bool allow_non_loopback = false;  ///< binding anything but loopback must be asked for
    std::size_t workers = 2;          ///< builds at once
    rate_limiter::options rate{};
    std::size_t max_queued = 64;
    std::chrono::milliseconds max_wait{30 * 60 * 1000};      ///< queued longer: EXPIRED
    std::chrono::milliseconds keep_finished{60 * 60 * 1000}; ///< finished records kept
    std::chrono::milliseconds build_timeout{30 * 60 * 1000}; ///< running longer: TIMEOUT
    std::uint64_t max_upload = std::uint64_t{512} << 20;     ///< request body; larger: 413
    context_limits limits{};
    std::string registry_prefix = "local/rtb";
    std::filesystem::path work_dir;   ///< uploaded contexts; empty: a new folder under TMPDIR, removed at the end
    docker_engine::options engine{};
    /// After each successful build, push its tags (the target image and the
    /// extra tags) to their registry, within the build's time limit, with
    /// the docker config's credentials and retries for what can succeed
    /// later. A failed push ends the build as INTERNAL_ERROR saying that the
    /// image was built and which tag did not reach the registry.
    bool push = false;
    /// One line per request and build outcome (never a key); empty: silent.
    std::function<void(std::string_view)> log;
};

/// Whether `host` is a loopback address or name.
inline bool is_loopback_host(std::string_view host) {
    return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

class runtime_api_server {
public:
    explicit runtime_api_server(server_options o, api_keys keys);
    ~runtime_api_server() { stop(); }
    runtime_api_server(const runtime_api_server&) = delete;
    runtime_api_server& operator=(const runtime_api_server&) = delete;

    /// The bound port.
    int port() const noexcept { return port_; }
    /// Serves on a background thread until stop().
    void start();
    /// Stops accepting, cancels queued builds, stops running ones, joins
    /// every thread and removes the uploaded contexts. Idempotent.
    void stop();

private:
    /// A checked context tar on disk, removed with the job.
    struct job {
        std::filesystem::path tar;
        std::string target_image;
        std::vector<std::string> tags;
        std::map<std::string, std::string> build_args, labels;
        std::string platform;
        job() = default;
        job(job&& o) noexcept = default;
        job& operator=(job&&) noexcept = default;
        ~job() {
            std::error_code ec;
            if (!tar.empty()) std::filesystem::remove(tar, ec);
        }
    };

    void push_tags(docker_engine& engine, const std::vector<std::string>& tags, const std::string& id,
                   const std::string& image, watchdog& dog, std::stop_token stop);
    void say(std::string_view line) const {
        if (opts_.log) opts_.log(line);
    }
    static void answer(httplib::Response& res, int status, std::string json) {
        res.status = status;
        res.set_content(std::move(json), "application/json");
    }
    static void answer_error(httplib::Response& res, int status, std::string_view message) {
        answer(res, status, fmt::format("{{\"message\":{}}}", rtb::detail::json_quote(message)));
    }
    httplib::Server::HandlerResponse admit(const httplib::Request& req, httplib::Response& res);
    void handle_build(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
    void handle_status(const httplib::Request& req, httplib::Response& res);
    void handle_exists(const httplib::Request& req, httplib::Response& res);
    void handle_cancel(const httplib::Request& req, httplib::Response& res);
    void handle_metrics(httplib::Response& res);
    void work(std::stop_token stop);
    std::filesystem::path new_work_file(std::string_view suffix);

    /// What GET /metrics shows. Every label value comes from a fixed list
    /// (below), never from a request: bounded series, nothing injected.
    struct server_metrics {
        metrics_registry registry;
        counter_family& builds = registry.counter(
            "rtb_builds_total", "Builds that reached a final state, by outcome and by the plan in their rtb.plan label.",
            {"outcome", "plan"});
        gauge_family& queued = registry.gauge("rtb_build_queue_depth", "Builds waiting in the queue.");
        gauge_family& running = registry.gauge("rtb_builds_running", "Builds running now.");
        histogram_family& duration = registry.histogram(
            "rtb_build_duration_seconds", "Time builds ran on the engine (builds that started), by outcome.", {"outcome"},
            {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600});
        histogram_family& queue_wait = registry.histogram(
            "rtb_build_queue_wait_seconds", "Time builds waited in the queue before they started or ended unstarted.", {},
            {0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800});
        counter_family& requests = registry.counter(
            "rtb_requests_total", "HTTP requests answered, by endpoint (other: any unknown path) and status code.",
            {"endpoint", "code"});
        counter_family& rate_limited =
            registry.counter("rtb_rate_limited_requests_total", "Requests refused with 429 by the per-key rate limit.");
        counter_family& unauthorized =
            registry.counter("rtb_unauthorized_requests_total", "Requests refused with 401: no or an unknown API key.");
        counter_family& upload_bytes = registry.counter(
            "rtb_upload_bytes_total", "Bytes of uploaded contexts (the decoded tar.gz) of builds accepted into the queue.");
    };
    static std::string_view endpoint_of(std::string_view path) noexcept;
    static std::string_view outcome_of(remote_build_state s) noexcept;
    static std::string_view plan_of(const job* j) noexcept;
    void observe(const build_queue<job>::transition& t);

    server_options opts_;
    api_keys keys_;
    rate_limiter limiter_;
    server_metrics metrics_;  // before queue_: its observer writes here
    build_queue<job> queue_;
    httplib::Server http_;
    std::optional<docker_engine> engine_;  // the prototype; each thread copies it
    std::filesystem::path work_dir_;
    bool own_work_dir_ = false;
    int port_ = 0;
    std::atomic<std::uint64_t> files_{0};
    std::thread listener_;
    std::vector<std::jthread> workers_;
    std::once_flag stopped_;
};

// ---------------------------------------------------------------------------

inline runtime_api_server::runtime_api_server(server_options o, api_keys keys)
    : opts_(std::move(o)),
      keys_(std::move(keys)),
      limiter_(opts_.rate),
      queue_([&] {
          build_queue<job>::options q;
          q.max_queued = opts_.max_queued;
          q.max_wait = opts_.max_wait;
          q.keep_finished = opts_.keep_finished;
          q.observe = [this](const build_queue<job>::transition& t) { observe(t); };
          return q;
      }()) {
    if (!opts_.allow_non_loopback && !is_loopback_host(opts_.host))
        throw error(errc::invalid_argument,
                    fmt::format("refusing to listen on {}: not a loopback address (the service would be reachable "
                                "from other machines; ask for it explicitly)",
                                rtb::detail::printable(opts_.host)));
    if (opts_.workers < 1 || opts_.workers > 256)
        throw error(errc::invalid_argument, fmt::format("{} workers: use 1 to 256", opts_.workers));
    // Every outcome's series exists from the start (at 0), so rates see the first event.
    for (const auto state : {remote_build_state::success, remote_build_state::failure, remote_build_state::cancelled,
                             remote_build_state::timeout, remote_build_state::expired, remote_build_state::internal_error}) {
        for (const std::string_view plan : {"lock", "versioned", "scratch", "unknown"})
            metrics_.builds.touch({outcome_of(state), plan});
        metrics_.duration.touch({outcome_of(state)});
    }
    engine_.emplace(opts_.engine);
    engine_->info();  // the engine must answer before the service says it is up

    if (opts_.work_dir.empty()) {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = fmt::format("{}/rtb-serve-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!::mkdtemp(pattern.data())) rtb::detail::throw_io("create a work folder", pattern);
        work_dir_ = pattern;
        own_work_dir_ = true;
    } else {
        work_dir_ = opts_.work_dir;
        std::error_code ec;
        std::filesystem::create_directories(work_dir_, ec);
        if (ec) rtb::detail::throw_io("create the work folder", work_dir_.string(), ec.value());
    }

    http_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    http_.set_payload_max_length(static_cast<std::size_t>(opts_.max_upload));
    http_.set_read_timeout(std::chrono::seconds(30));
    http_.set_write_timeout(std::chrono::seconds(30));
    http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return admit(req, res); });
    http_.Post("/build", [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
        handle_build(req, res, r);
    });
    http_.Get("/build_status", [this](const httplib::Request& req, httplib::Response& res) { handle_status(req, res); });
    http_.Get("/image_exists", [this](const httplib::Request& req, httplib::Response& res) { handle_exists(req, res); });
    http_.Get("/registry_prefix", [this](const httplib::Request&, httplib::Response& res) {
        answer(res, 200, fmt::format("{{\"registry_prefix\":{}}}", rtb::detail::json_quote(opts_.registry_prefix)));
    });
    http_.Post("/cancel_build", [this](const httplib::Request& req, httplib::Response& res) { handle_cancel(req, res); });
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { handle_metrics(res); });
    // Every answer, before it is written (so a client that has its answer
    // finds it counted), including 401, 429 and httplib's own 400/404/413.
    http_.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        metrics_.requests.inc({endpoint_of(req.path), std::to_string(res.status)});
    });
    http_.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        say(fmt::format("{} {}: 500 {}", req.method, req.path, what));
        answer_error(res, 500, what);
    });
    http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        say(fmt::format("{} {} -> {}", req.method, req.path, res.status));  // the path only: no query, no header
    });

    const int bound = opts_.port == 0 ? http_.bind_to_any_port(opts_.host) : (http_.bind_to_port(opts_.host, opts_.port) ? opts_.port : -1);
    if (bound <= 0)
        throw error(errc::io_error, fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)",
                                                opts_.host, opts_.port));
    port_ = bound;
}

inline void runtime_api_server::start() {
    for (std::size_t i = 0; i < opts_.workers; ++i) workers_.emplace_back([this](std::stop_token s) { work(s); });
    listener_ = std::thread([this] { http_.listen_after_bind(); });
    // cpp-httplib 0.11 has no wait_until_ready(); stop() must not race the
    // listener's start (it would then listen forever).
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

inline void runtime_api_server::stop() {
    std::call_once(stopped_, [this] {
        queue_.shutdown();
        http_.stop();
        if (listener_.joinable()) listener_.join();
        for (auto& w : workers_) w.request_stop();
        workers_.clear();  // joins
        if (own_work_dir_) {
            std::error_code ec;
            std::filesystem::remove_all(work_dir_, ec);
        }
    });
}

inline std::filesystem::path runtime_api_server::new_work_file(std::string_view suffix) {
    return work_dir_ / fmt::format("upload-{}{}", ++files_, suffix);
}

// Every request: a known key, then the key's rate limit. The key decides
// nothing else and is never logged; the log names the key by its number.
inline httplib::Server::HandlerResponse runtime_api_server::admit(const httplib::Request& req, httplib::Response& res) {
    std::string presented = req.get_header_value("X-API-Key");
    // Scrapers that cannot add a header (Prometheus' `authorization`) send
    // the key as a bearer token: /metrics takes it so too.
    if (presented.empty() && req.path == "/metrics") {
        const auto auth = req.get_header_value("Authorization");
        if (auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer "))) presented = auth.substr(7);
    }
    const auto key = keys_.match(presented);
    if (!key) {
        metrics_.unauthorized.inc();
        res.set_header("Connection", "close");
        answer_error(res, 401, "unauthorized: missing or unknown X-API-Key");
        return httplib::Server::HandlerResponse::Handled;
    }
    if (const auto wait = limiter_.take(*key, std::chrono::steady_clock::now())) {
        metrics_.rate_limited.inc();
        const auto seconds = (wait->count() + 999) / 1000;
        res.set_header("Retry-After", std::to_string(seconds));
        res.set_header("Connection", "close");
        answer_error(res, 429, fmt::format("rate limit of {} requests per second exceeded; retry after {} s",
                                           opts_.rate.per_second, seconds));
        say(fmt::format("{} {}: 429 for {}", req.method, req.path, keys_.describe(*key)));
        return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
}

inline void runtime_api_server::handle_build(const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& reader) {
    if (!req.is_multipart_form_data()) return answer_error(res, 400, "POST /build takes a multipart/form-data form");
    job j;
    std::string field;                 // the part being read
    std::string value;                 // its value (small fields)
    bool saw_context = false, too_large = false;
    std::optional<error> bad;
    std::uint64_t received = 0;
    std::uint64_t context_bytes = 0;  // the decoded tar.gz
    const auto gz_path = new_work_file(".tar.gz");
    struct remove_on_exit {
        std::filesystem::path p;
        ~remove_on_exit() {
            std::error_code ec;
            std::filesystem::remove(p, ec);
        }
    } gz_guard{gz_path};
    rtb::detail::unique_fd gz(::open(gz_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!gz) rtb::detail::throw_io("create", gz_path.string());
    base64_decoder decoder("uploaded context");
    std::string decoded;
    auto write_decoded = [&] {
        context_bytes += decoded.size();
        std::size_t off = 0;
        while (off < decoded.size()) {
            const auto w = ::write(gz.get(), decoded.data() + off, decoded.size() - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                rtb::detail::throw_io("write", gz_path.string());
            }
            off += static_cast<std::size_t>(w);
        }
        decoded.clear();
    };
    auto end_field = [&] {
        if (field.empty()) return;
        if (field == "context") {
            decoder.finish(decoded);
            write_decoded();
        } else if (field == "target_image") {
            j.target_image = value;
        } else if (field == "tags") {
            if (j.tags.size() >= 64) throw error(errc::invalid_argument, "more than 64 tags");
            j.tags.push_back(value);
        } else if (field == "build_arg" || field == "label") {
            const auto eq = value.find('=');
            if (eq == std::string::npos || eq == 0)
                throw error(errc::invalid_argument, fmt::format("{} {} is not KEY=VALUE", field, rtb::detail::printable(value)));
            (field == "build_arg" ? j.build_args : j.labels)[value.substr(0, eq)] = value.substr(eq + 1);
        } else if (field == "platform") {
            j.platform = value;
        }
        field.clear();
        value.clear();
    };
    const bool read_ok = reader(
        [&](const httplib::MultipartFormData& part) {
            try {
                end_field();
                field = part.name;
                if (field == "context") {
                    if (saw_context) throw error(errc::invalid_argument, "the form has two context parts");
                    saw_context = true;
                }
            } catch (const error& e) {
                bad = e;
                return false;
            }
            return true;
        },
        [&](const char* data, std::size_t n) {
            received += n;
            if (received > opts_.max_upload) {
                too_large = true;
                return false;
            }
            try {
                if (field == "context") {
                    decoder.feed({data, n}, decoded);
                    write_decoded();
                } else {
                    if (value.size() + n > 4096)
                        throw error(errc::invalid_argument, fmt::format("form field {} is longer than 4096 bytes",
                                                                        rtb::detail::printable(field)));
                    value.append(data, n);
                }
            } catch (const error& e) {
                bad = e;
                return false;
            }
            return true;
        });
    // cpp-httplib refuses a declared length over the limit before our
    // receiver sees a byte; a chunked body is counted above.
    if (!read_ok && req.has_header("Content-Length")) {
        const auto declared = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
        if (declared > opts_.max_upload) too_large = true;
    }
    if (too_large)
        return answer_error(res, 413, fmt::format("the upload is larger than {} bytes", opts_.max_upload));
    if (!bad && read_ok) {
        try {
            end_field();
        } catch (const error& e) {
            bad = e;
        }
    }
    if (bad) return answer_error(res, 400, bad->what());
    if (!read_ok) return answer_error(res, 400, "the multipart form could not be read (malformed or cut short)");
    if (!saw_context) return answer_error(res, 400, "the form has no 'context' part");
    if (j.target_image.empty()) return answer_error(res, 400, "the form has no 'target_image'");
    try {
        image_ref::parse(j.target_image);
        for (const auto& t : j.tags) image_ref::parse(t);
    } catch (const error& e) {
        return answer_error(res, 400, e.what());
    }
    gz.reset();

    // Check the context and keep a clean tar of it for the engine.
    j.tar = new_work_file(".tar");
    try {
        rtb::detail::unique_fd in(::open(gz_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in) rtb::detail::throw_io("open", gz_path.string());
        struct fd_source {
            int fd;
            std::size_t read(std::span<std::byte> b) {
                while (true) {
                    const auto n = ::read(fd, b.data(), b.size());
                    if (n >= 0) return static_cast<std::size_t>(n);
                    if (errno != EINTR) rtb::detail::throw_io("read", "the uploaded context");
                }
            }
        } source{in.get()};
        rtb::detail::unique_fd out(::open(j.tar.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!out) rtb::detail::throw_io("create", j.tar.string());
        const auto summary = check_context(
            source,
            [&](std::string_view bytes) {
                while (!bytes.empty()) {
                    const auto w = ::write(out.get(), bytes.data(), bytes.size());
                    if (w < 0) {
                        if (errno == EINTR) continue;
                        rtb::detail::throw_io("write", j.tar.string());
                    }
                    bytes.remove_prefix(static_cast<std::size_t>(w));
                }
            },
            opts_.limits);
        say(fmt::format("context for {}: {} entries, {} bytes", j.target_image, summary.entries, summary.content_bytes));
    } catch (const error& e) {
        return answer_error(res, e.value() == errc::invalid_argument ? 400 : 500, e.what());
    }
    try {
        const auto id = queue_.submit(std::move(j));
        metrics_.upload_bytes.inc({}, context_bytes);
        say(fmt::format("build {} queued", id));
        answer(res, 200, fmt::format("{{\"build_id\":{}}}", rtb::detail::json_quote(id)));
    } catch (const error& e) {
        res.set_header("Retry-After", "5");
        answer_error(res, 503, e.what());
    }
}

inline void runtime_api_server::handle_status(const httplib::Request& req, httplib::Response& res) {
    const auto id = req.get_param_value("build_id");
    if (id.empty()) return answer_error(res, 400, "build_id is missing");
    const auto s = queue_.status(id);
    if (!s) return answer_error(res, 404, fmt::format("no build {}", rtb::detail::printable(id.substr(0, 100))));
    std::string json = fmt::format("{{\"build_id\":{},\"status\":\"{}\"", rtb::detail::json_quote(s->id), to_string(s->state));
    if (!s->image.empty()) json += fmt::format(",\"image\":{}", rtb::detail::json_quote(s->image));
    if (!s->image_id.empty()) json += fmt::format(",\"image_id\":{}", rtb::detail::json_quote(s->image_id));
    if (!s->error.empty()) json += fmt::format(",\"error\":{}", rtb::detail::json_quote(s->error));
    answer(res, 200, json + "}");
}

inline void runtime_api_server::handle_cancel(const httplib::Request& req, httplib::Response& res) {
    const auto id = req.get_param_value("build_id");
    if (id.empty()) return answer_error(res, 400, "build_id is missing");
    const auto s = queue_.cancel(id);
    if (!s) return answer_error(res, 404, fmt::format("no build {}", rtb::detail::printable(id.substr(0, 100))));
    say(fmt::format("build {} cancel requested ({})", id, to_string(s->state)));
    answer(res, 200, fmt::format("{{\"build_id\":{},\"status\":\"{}\"}}", rtb::detail::json_quote(s->id), to_string(s->state)));
}

// Gauges are read from the queue at scrape time; the rest was counted as it happened.
inline void runtime_api_server::handle_metrics(httplib::Response& res) {
    const auto now = queue_.count();
    metrics_.queued.set(static_cast<double>(now.queued));
    metrics_.running.set(static_cast<double>(now.working));
    res.status = 200;
    res.set_content(metrics_.registry.render(), metrics_registry::content_type);
}

inline std::string_view runtime_api_server::endpoint_of(std::string_view path) noexcept {
    for (const std::string_view known :
         {"/build", "/build_status", "/image_exists", "/registry_prefix", "/cancel_build", "/metrics"})
        if (path == known) return known;
    return "other";
}

inline std::string_view runtime_api_server::outcome_of(remote_build_state s) noexcept {
    switch (s) {
        case remote_build_state::success: return "success";
        case remote_build_state::failure: return "failure";
        case remote_build_state::cancelled: return "cancelled";
        case remote_build_state::timeout: return "timeout";
        case remote_build_state::expired: return "expired";
        case remote_build_state::internal_error: return "internal_error";
        case remote_build_state::pending:
        case remote_build_state::queued:
        case remote_build_state::working: break;
    }
    return "internal_error";
}

// The plan the client's builder put in the rtb.plan label (image_labels::plan);
// anything else, or none (a client that is not rtb), is "unknown".
inline std::string_view runtime_api_server::plan_of(const job* j) noexcept {
    if (!j) return "unknown";
    const auto it = j->labels.find("rtb.plan");
    if (it == j->labels.end()) return "unknown";
    for (const std::string_view known : {"lock", "versioned", "scratch"})
        if (it->second == known) return known;
    return "unknown";
}

// Called by the queue, under its lock, for every transition.
inline void runtime_api_server::observe(const build_queue<job>::transition& t) {
    const auto seconds = std::chrono::duration<double>(t.in_state).count();
    if (t.from == remote_build_state::queued) metrics_.queue_wait.observe(seconds);
    if (t.to == remote_build_state::queued || t.to == remote_build_state::working) return;
    metrics_.builds.inc({outcome_of(t.to), plan_of(t.job)});
    if (t.from == remote_build_state::working) metrics_.duration.observe({outcome_of(t.to)}, seconds);
}

inline void runtime_api_server::handle_exists(const httplib::Request& req, httplib::Response& res) {
    const auto name = req.get_param_value("image");
    if (name.empty()) return answer_error(res, 400, "image is missing");
    std::optional<image_ref> ref;
    try {
        ref = image_ref::parse(name);
    } catch (const error& e) {
        return answer_error(res, 400, e.what());
    }
    docker_engine engine(*engine_);
    const auto found = engine.inspect(*ref);
    if (!found) return answer(res, 200, R"({"exists":false,"image":null})");
    char when[32] = "";
    const std::time_t t = static_cast<std::time_t>(found->created);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    answer(res, 200, fmt::format(R"({{"exists":true,"image":{{"upload_time":"{}","image_size_bytes":{}}}}})", when,
                                 found->size));
}

// server_options::push: each tag, retried while that can help, under the
// build's watchdog (its overall limit covers the push too).
inline void runtime_api_server::push_tags(docker_engine& engine, const std::vector<std::string>& tags,
                                          const std::string& id, const std::string& image, watchdog& dog,
                                          std::stop_token stop) {
    for (const auto& tag : tags) {
        try {
            exponential_backoff backoff;
            retry(backoff, stop, [&](int) {
                return dog.run([&](std::stop_token s) { return engine.push(image_ref::parse(tag), {}, s); });
            });
            say(fmt::format("build {}: pushed {}", id, tag));
        } catch (const error& e) {
            if (e.value() == errc::cancelled || e.value() == errc::timeout) throw;
            throw error(errc::push_failed,
                        fmt::format("built {} (it is tagged in the engine), but pushing {} failed: {}", image, tag, e.what()));
        }
    }
}

// A worker: takes builds from the queue and runs each on its own engine
// connection, under the build time limit, until the server stops.
inline void runtime_api_server::work(std::stop_token stop) {
    docker_engine engine(*engine_);
    while (auto w = queue_.next(stop)) {
        const job& j = *w->job;
        build_request req;
        req.tags.push_back(j.target_image);
        req.tags.insert(req.tags.end(), j.tags.begin(), j.tags.end());
        req.build_args = j.build_args;
        req.labels = j.labels;
        req.platform = j.platform;
        const auto what = fmt::format("remote build {} of {}", w->id, j.target_image);
        say(fmt::format("build {} started", w->id));
        try {
            rtb::detail::unique_fd tar(::open(j.tar.c_str(), O_RDONLY | O_CLOEXEC));
            if (!tar) rtb::detail::throw_io("open", j.tar.string());
            const int fd = tar.get();
            // A forced build moves names to the new image: the old one goes
            // when it has none left and nothing uses it.
            const auto previous = images_named(engine, req.tags, w->stop);
            watchdog dog({.what = what, .overall = deadline::after(opts_.build_timeout), .stall = std::nullopt}, w->stop);
            const auto built = dog.run([&](std::stop_token s) {
                return engine.build_tar(
                    req,
                    [fd](std::span<std::byte> b) -> std::size_t {
                        while (true) {
                            const auto n = ::read(fd, b.data(), b.size());
                            if (n >= 0) return static_cast<std::size_t>(n);
                            if (errno != EINTR) rtb::detail::throw_io("read", "the checked context");
                        }
                    },
                    {}, s);
            });
            remove_superseded(engine, previous, built.image_id,
                              [&](log_level, std::string_view m) { say(fmt::format("build {}: {}", w->id, m)); });
            if (opts_.push) push_tags(engine, req.tags, w->id, j.target_image, dog, w->stop);
            queue_.finish(w->id, remote_build_state::success, j.target_image, {}, built.image_id);
            say(fmt::format("build {} succeeded", w->id));
        } catch (const error& e) {
            remote_build_state state = remote_build_state::internal_error;
            std::string message = e.what();
            // The engine refusing the request (an empty or broken Dockerfile)
            // is the build's fault too, not the service's.
            if (e.value() == errc::build_failed || e.value() == errc::invalid_argument) {
                state = remote_build_state::failure;
                if (const auto& b = e.build())
                    for (const auto& line : b->log_tail) message += "\n" + line;
            } else if (e.value() == errc::timeout) {
                state = remote_build_state::timeout;
            } else if (e.value() == errc::cancelled) {
                state = remote_build_state::cancelled;
            }
            queue_.finish(w->id, state, {}, message);
            say(fmt::format("build {} ended: {}", w->id, to_string(state)));
        } catch (const std::exception& e) {
            queue_.finish(w->id, remote_build_state::internal_error, {}, e.what());
        }
    }
}

}  // namespace rtb::serve
