// The Runtime API server behind `rtb serve`: the build service OpenHands'
// RemoteRuntimeBuilder talks to (and rtb's remote_api), on rtb's own HTTP
// layer (http_server.hpp: Boost.Beast, asynchronous, bounded), with builds
// run by a docker_engine on worker threads.
//
// Every request needs an API key (constant-time check); the key names a
// tenant, which builds and tags only under its own image name prefixes,
// sees and cancels only its own builds (another tenant's build id answers
// 404, as an unknown one does) and is told its own prefix by GET
// /registry_prefix. A per-key rate limit (429 + Retry-After), a bounded
// queue with N workers, expiring records, unguessable build ids, uploads
// decoded as they arrive and checked before the engine sees them (names,
// links, sizes as written, no remote ADD), builds with no network, and GET
// /metrics (Prometheus text format). Anything slow (the engine, checking an
// upload) runs on a small pool of its own, never on the io threads. Binds
// loopback unless told otherwise. Keys are never logged, and request bytes
// reach the log escaped.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
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
#include "rtb/deadline.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/detail/rfc3339.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/serve/api_keys.hpp"
#include "rtb/serve/build_id.hpp"
#include "rtb/serve/build_queue.hpp"
#include "rtb/serve/context_check.hpp"
#include "rtb/serve/dockerfile_scan.hpp"
#include "rtb/serve/http_server.hpp"
#include "rtb/serve/listen_address.hpp"
#include "rtb/serve/log_text.hpp"
#include "rtb/serve/metrics.hpp"
#include "rtb/serve/multipart_reader.hpp"
#include "rtb/serve/query_param.hpp"
#include "rtb/serve/rate_limiter.hpp"
#include "rtb/serve/tenants.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/transport/docker_engine.hpp"

namespace rtb::serve {

/// What one POST /build form may hold besides its context.
struct form_limits {
    std::size_t max_field_bytes = 4096;  ///< one small field's value
    std::size_t max_tags = 64;
    std::size_t max_labels = 256;
    std::size_t max_build_args = 256;
    std::size_t max_parts = 1024;  ///< parts of any name (unknown ones are read and ignored)
};

struct server_options {
    std::string host = "127.0.0.1";
    int port = 0;                     ///< 0: any free port (see runtime_api_server::port())
    int listen_fd = -1;               ///< a listening socket handed over (fd:N, socket activation); owned
    bool allow_non_loopback = false;  ///< binding anything but loopback must be asked for
    bool allow_remote_add = false;    ///< ADD from URLs (the engine fetches them: it reaches the network)
    std::size_t workers = 2;          ///< builds at once
    std::size_t io_threads = 2;       ///< threads serving connections
    std::size_t blocking_threads = 4; ///< engine lookups and upload checks
    std::size_t max_pending = 256;    ///< such tasks waiting at once; more: 503
    std::size_t max_uploads = 32;     ///< POST /build bodies being received or checked at once; more: 503
    rate_limiter::options rate{};
    std::size_t max_queued = 64;
    std::chrono::milliseconds max_wait{30 * 60 * 1000};      ///< queued longer: EXPIRED
    std::chrono::milliseconds keep_finished{60 * 60 * 1000}; ///< finished records kept
    std::chrono::milliseconds build_timeout{30 * 60 * 1000}; ///< running longer: TIMEOUT
    std::uint64_t max_upload = std::uint64_t{512} << 20;     ///< POST /build's body; larger: 413
    context_limits limits{};
    form_limits form{};
    http_limits http{};
    std::string registry_prefix = "local/rtb";  ///< tenants' default prefixes live below it
    std::filesystem::path work_dir;   ///< uploaded contexts; empty: a new folder under TMPDIR, removed at the end
    docker_engine::options engine{};
    /// After each successful build, push its tags (the target image and the
    /// extra tags) to their registry, within the build's time limit, with
    /// the docker config's credentials and retries for what can succeed
    /// later. A failed push ends the build as INTERNAL_ERROR saying that the
    /// image was built and which tag did not reach the registry.
    bool push = false;
    /// One line per request and build outcome (never a key; request bytes
    /// escaped, no control byte in any line); empty: silent.
    std::function<void(std::string_view)> log;
};

class runtime_api_server {
public:
    explicit runtime_api_server(server_options o, api_keys keys);
    ~runtime_api_server() { stop(); }
    runtime_api_server(const runtime_api_server&) = delete;
    runtime_api_server& operator=(const runtime_api_server&) = delete;

    /// The bound port.
    int port() const noexcept { return address_.port(); }
    /// The bound address ("127.0.0.1:8000").
    std::string address() const { return address_.str(); }
    /// Serves on background threads until stop().
    void start();
    /// Stops accepting, cancels queued builds, stops running ones, joins
    /// every thread and removes the uploaded contexts. Idempotent.
    void stop();
    /// For a process that must end now (a second signal): removes the work
    /// folder (or, when it was given, this server's files in it) without
    /// waiting for anything. Safe from any thread at any time.
    void remove_work_files() const noexcept;

private:
    /// A checked context tar on disk, removed with the job.
    struct job {
        std::filesystem::path tar;
        std::string target_image;
        std::vector<std::string> tags;
        std::map<std::string, std::string> build_args, labels;
        bool labels_in_dockerfile = false;  // the context's Dockerfile sets `labels` (see build_request)
        std::string platform;
        job() = default;
        job(job&& o) noexcept = default;
        job& operator=(job&&) noexcept = default;
        ~job() {
            std::error_code ec;
            if (!tar.empty()) std::filesystem::remove(tar, ec);
        }
    };
    class upload;

    void push_tags(docker_engine& engine, const std::vector<std::string>& tags, const std::string& id,
                   const std::string& image, watchdog& dog, std::stop_token stop);
    void say(std::string_view line) const {
        if (opts_.log) opts_.log(log_line_safe(line));
    }
    static http_response json(int status, std::string body) {
        http_response r;
        r.status = status;
        r.body = std::move(body);
        return r;
    }
    static http_response error_json(int status, std::string_view message) {
        return json(status, fmt::format("{{\"message\":{}}}", rtb::detail::json_quote(message)));
    }
    http_plan on_request(const http_request& req);
    void on_answer(const http_request& req, const http_response& res);
    http_plan plan_build(const http_request& req, std::size_t key);
    void finish_build(const std::shared_ptr<upload>& up, const http_reply& reply);
    http_response handle_status(const http_request& req, const tenant& t);
    http_response handle_cancel(const http_request& req, const tenant& t);
    http_response handle_metrics(const tenant& t);
    void handle_exists(std::string image, const http_reply& reply);
    bool run_blocking(std::function<void()> task);
    void work(std::stop_token stop);
    std::filesystem::path new_work_file(std::string_view suffix);

    /// What GET /metrics shows. Every label value comes from a fixed list
    /// or from the operator's key file (tenant names), never from a request:
    /// bounded series, nothing injected.
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
        counter_family& tenant_requests = registry.counter(
            "rtb_tenant_requests_total", "Requests with a valid key, by the key's tenant (names from the key file).",
            {"tenant"});
        counter_family& tenant_builds = registry.counter(
            "rtb_tenant_builds_total", "Builds that reached a final state, by tenant and outcome.", {"tenant", "outcome"});
        counter_family& tenant_upload_bytes = registry.counter(
            "rtb_tenant_upload_bytes_total", "Bytes of uploaded contexts of builds accepted into the queue, by tenant.",
            {"tenant"});
        gauge_family& connections = registry.gauge("rtb_http_connections", "HTTP connections open now.");
        counter_family& dropped = registry.counter(
            "rtb_http_dropped_connections_total",
            "Connections ended without an answer: a deadline passed or a connection limit was reached.", {"reason"});
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
    std::optional<docker_engine> engine_;  // the prototype; each thread copies it
    std::filesystem::path work_dir_;
    bool own_work_dir_ = false;
    std::string file_prefix_;  // "upload-<pid>-": this server's files in the work folder
    socket_address address_;
    std::atomic<std::uint64_t> files_{0};
    std::atomic<std::size_t> pending_{0};  // tasks on the blocking pool
    std::atomic<std::size_t> uploads_{0};  // POST /build bodies in flight
    std::atomic<bool> stopping_{false};
    std::unique_ptr<boost::asio::thread_pool> blocking_;
    std::unique_ptr<http_server> http_;
    std::vector<std::jthread> workers_;
    std::once_flag stopped_;
};

// ---------------------------------------------------------------------------

/// One POST /build body as it arrives: the form's small fields (each name
/// checked against the tenant as soon as it is complete, so a refused name
/// stops the upload) and the context, base64-decoded into a file.
class runtime_api_server::upload final : public multipart_reader::handler {
public:
    upload(runtime_api_server& server, const tenant& owner, std::string boundary)
        : server_(server),
          owner_(owner),
          gz_path_(server.new_work_file(".tar.gz")),
          reader_(std::move(boundary), *this, {.max_parts = server.opts_.form.max_parts}) {
        ++server_.uploads_;
        gz_ = rtb::detail::unique_fd(::open(gz_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!gz_) {
            --server_.uploads_;
            rtb::detail::throw_io("create", gz_path_.string());
        }
    }
    ~upload() override {
        gz_.reset();
        std::error_code ec;
        std::filesystem::remove(gz_path_, ec);
        --server_.uploads_;
    }
    upload(const upload&) = delete;
    upload& operator=(const upload&) = delete;

    void feed(std::string_view bytes) { reader_.feed(bytes); }

    /// The body is complete: the form must be whole and hold what a build needs.
    void finish_form() {
        reader_.finish();
        if (!saw_context_) throw error(errc::invalid_argument, "the form has no 'context' part");
        if (job_.target_image.empty()) throw error(errc::invalid_argument, "the form has no 'target_image'");
        gz_.reset();
    }

    job& built() noexcept { return job_; }
    const tenant& owner() const noexcept { return owner_; }
    const std::filesystem::path& gz_path() const noexcept { return gz_path_; }
    std::uint64_t context_bytes() const noexcept { return context_bytes_; }

private:
    void begin_part(std::string_view name, std::string_view) override {
        field_ = std::string(name.substr(0, 100));
        value_.clear();
        if (field_ == "context") {
            if (saw_context_) throw error(errc::invalid_argument, "the form has two context parts");
            saw_context_ = true;
        }
    }

    void part_data(std::string_view bytes) override {
        if (field_ == "context") {
            decoder_.feed(bytes, decoded_);
            write_decoded();
            return;
        }
        if (value_.size() + bytes.size() > server_.opts_.form.max_field_bytes)
            throw error(errc::invalid_argument, fmt::format("form field '{}' is longer than {} bytes",
                                                            log_escape(field_, 100), server_.opts_.form.max_field_bytes));
        value_.append(bytes);
    }

    void end_part() override {
        const auto& f = server_.opts_.form;
        auto too_many = [](std::string_view what, std::size_t max) {
            throw error(errc::invalid_argument, fmt::format("the form has more than {} {} fields", max, what));
        };
        auto check_name = [&](std::string_view role) {
            if (const auto refusal = image_name_refusal(owner_, value_, role))
                throw error(refusal->status == 403 ? errc::unauthorized : errc::invalid_argument, refusal->message);
        };
        if (field_ == "context") {
            decoder_.finish(decoded_);
            write_decoded();
        } else if (field_ == "target_image") {
            if (!job_.target_image.empty()) throw error(errc::invalid_argument, "the form has two 'target_image' fields");
            check_name("target_image");
            job_.target_image = value_;
        } else if (field_ == "tags") {
            if (job_.tags.size() >= f.max_tags) too_many("tags", f.max_tags);
            check_name(fmt::format("tag {}", job_.tags.size() + 1));
            job_.tags.push_back(value_);
        } else if (field_ == "build_arg" || field_ == "label") {
            auto& into = field_ == "build_arg" ? job_.build_args : job_.labels;
            const auto max = field_ == "build_arg" ? f.max_build_args : f.max_labels;
            if (into.size() >= max) too_many(field_, max);
            const auto eq = value_.find('=');
            if (eq == std::string::npos || eq == 0)
                throw error(errc::invalid_argument,
                            fmt::format("{} '{}' is not KEY=VALUE", field_, log_escape(value_, 100)));
            into[value_.substr(0, eq)] = value_.substr(eq + 1);
        } else if (field_ == "platform") {
            for (const char c : value_)
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' || c == '.'))
                    throw error(errc::invalid_argument, fmt::format("platform '{}' is not os/arch[/variant]",
                                                                    log_escape(value_, 100)));
            job_.platform = value_;
        } else if (field_ == "labels_in_dockerfile") {
            job_.labels_in_dockerfile = value_ == "1";
        }
        field_.clear();
        value_.clear();
    }

    void write_decoded() {
        context_bytes_ += decoded_.size();
        std::string_view rest = decoded_;
        while (!rest.empty()) {
            const auto w = ::write(gz_.get(), rest.data(), rest.size());
            if (w < 0) {
                if (errno == EINTR) continue;
                rtb::detail::throw_io("write", gz_path_.string());
            }
            rest.remove_prefix(static_cast<std::size_t>(w));
        }
        decoded_.clear();
    }

    runtime_api_server& server_;
    const tenant& owner_;
    std::filesystem::path gz_path_;
    rtb::detail::unique_fd gz_;
    multipart_reader reader_;
    base64_decoder decoder_{"uploaded context"};
    std::string decoded_;
    std::string field_, value_;
    bool saw_context_ = false;
    std::uint64_t context_bytes_ = 0;
    job job_;
};

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
    if (opts_.workers < 1 || opts_.workers > 256)
        throw error(errc::invalid_argument, fmt::format("{} workers: use 1 to 256", opts_.workers));
    validate(opts_.http);
    // The socket first: a refused address says so before the engine is asked.
    rtb::detail::unique_fd listener;
    if (opts_.listen_fd >= 0) {
        listener = rtb::detail::unique_fd(opts_.listen_fd);
        address_ = check_inherited_listener(listener.get(), opts_.allow_non_loopback);
    } else {
        const auto bind_to = listen_address({opts_.host, opts_.port, -1}, opts_.allow_non_loopback);
        listener = open_listener(bind_to);
        address_.length = sizeof address_.storage;
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address_.storage), &address_.length);
    }
    // Every outcome's series exists from the start (at 0), so rates see the first event.
    for (const auto state : {remote_build_state::success, remote_build_state::failure, remote_build_state::cancelled,
                             remote_build_state::timeout, remote_build_state::expired, remote_build_state::internal_error}) {
        for (const std::string_view plan : {"lock", "versioned", "scratch", "unknown"})
            metrics_.builds.touch({outcome_of(state), plan});
        metrics_.duration.touch({outcome_of(state)});
        for (const auto& t : keys_.tenants()) metrics_.tenant_builds.touch({t.name, outcome_of(state)});
    }
    for (const auto& t : keys_.tenants()) {
        metrics_.tenant_requests.touch({t.name});
        metrics_.tenant_upload_bytes.touch({t.name});
    }
    for (const std::string_view reason :
         {"header_timeout", "body_timeout", "idle_timeout", "write_timeout", "connection_limit", "address_limit"})
        metrics_.dropped.touch({reason});
    engine_.emplace(opts_.engine);
    engine_->info();  // the engine must answer before the service says it is up

    file_prefix_ = fmt::format("upload-{}-", ::getpid());
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

    http_application app;
    app.on_request = [this](const http_request& r) { return on_request(r); };
    app.on_answer = [this](const http_request& r, const http_response& a) { on_answer(r, a); };
    app.error = [](int status, std::string_view message) { return error_json(status, message); };
    app.on_drop = [this](std::string_view reason) { metrics_.dropped.inc({reason}); };
    blocking_ = std::make_unique<boost::asio::thread_pool>(opts_.blocking_threads < 1 ? 1 : opts_.blocking_threads);
    http_ = std::make_unique<http_server>(opts_.http, std::move(app), listener.release(), opts_.io_threads);
}

inline void runtime_api_server::start() {
    for (std::size_t i = 0; i < opts_.workers; ++i) workers_.emplace_back([this](std::stop_token s) { work(s); });
    http_->start();
}

inline void runtime_api_server::stop() {
    std::call_once(stopped_, [this] {
        stopping_ = true;
        queue_.shutdown();
        if (http_) http_->stop();  // no request is read or answered from here on
        if (blocking_) blocking_->join();  // context checks see stopping_ and end
        if (http_) http_->release();       // connections and their uploads go
        for (auto& w : workers_) w.request_stop();
        workers_.clear();  // joins
        if (own_work_dir_) {
            std::error_code ec;
            std::filesystem::remove_all(work_dir_, ec);
        }
    });
}

inline void runtime_api_server::remove_work_files() const noexcept {
    std::error_code ec;
    if (work_dir_.empty()) return;
    if (own_work_dir_) {
        std::filesystem::remove_all(work_dir_, ec);
        return;
    }
    for (std::filesystem::directory_iterator it(work_dir_, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().starts_with(file_prefix_)) std::filesystem::remove(it->path(), ec);
}

inline std::filesystem::path runtime_api_server::new_work_file(std::string_view suffix) {
    return work_dir_ / fmt::format("{}{}{}", file_prefix_, ++files_, suffix);
}

inline bool runtime_api_server::run_blocking(std::function<void()> task) {
    if (pending_.fetch_add(1) >= opts_.max_pending) {
        --pending_;
        return false;
    }
    boost::asio::post(*blocking_, [this, task = std::move(task)] {
        struct done {
            std::atomic<std::size_t>& n;
            ~done() { --n; }
        } guard{pending_};
        try {
            task();
        } catch (...) {
        }
    });
    return true;
}

// Every request: one key, a known one, then the key's rate limit; the key
// decides the tenant and nothing else, and is never logged (the log names
// it by its number). Then the route.
inline http_plan runtime_api_server::on_request(const http_request& req) {
    const auto path = req.path();
    auto now = [](http_response r) {
        http_plan p;
        p.answer = std::move(r);
        return p;
    };
    if (req.count("X-API-Key") > 1) {
        auto r = error_json(400, "X-API-Key is given more than once");
        r.close = true;
        return now(std::move(r));
    }
    std::string_view presented = req.field("X-API-Key").value_or("");
    // Scrapers that cannot add a header (Prometheus' `authorization`) send
    // the key as a bearer token: /metrics takes it so too.
    if (presented.empty() && path == "/metrics") {
        const auto auth = req.field("Authorization").value_or("");
        if (auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer "))) presented = auth.substr(7);
    }
    const auto key = keys_.match(presented);
    if (!key) {
        metrics_.unauthorized.inc();
        auto r = error_json(401, "unauthorized: missing or unknown X-API-Key");
        r.close = true;
        return now(std::move(r));
    }
    const tenant& t = keys_.tenant_of(*key);
    metrics_.tenant_requests.inc({t.name});
    if (const auto wait = limiter_.take(*key, std::chrono::steady_clock::now())) {
        metrics_.rate_limited.inc();
        const auto seconds = (wait->count() + 999) / 1000;
        auto r = error_json(429, fmt::format("rate limit of {} requests per second exceeded; retry after {} s",
                                             opts_.rate.per_second, seconds));
        r.headers.emplace_back("Retry-After", std::to_string(seconds));
        r.close = true;
        say(fmt::format("{} {}: 429 for {}", log_escape(req.method, 20), log_escape(path), keys_.describe(*key)));
        return now(std::move(r));
    }
    const bool get = req.method == "GET", post = req.method == "POST";
    if (post && path == "/build") return plan_build(req, *key);

    // Every other endpoint takes no body worth reading: a small one is read
    // and dropped (so the connection can be kept), a larger one is 413.
    std::function<void(http_reply)> handler;
    if (get && path == "/build_status") {
        handler = [this, &req, &t](http_reply reply) { reply(handle_status(req, t)); };
    } else if (post && path == "/cancel_build") {
        handler = [this, &req, &t](http_reply reply) { reply(handle_cancel(req, t)); };
    } else if (get && path == "/registry_prefix") {
        handler = [&t](http_reply reply) {
            reply(json(200, fmt::format("{{\"registry_prefix\":{}}}", rtb::detail::json_quote(t.prefixes.front()))));
        };
    } else if (get && path == "/metrics") {
        handler = [this, &t](http_reply reply) { reply(handle_metrics(t)); };
    } else if (get && path == "/image_exists") {
        auto image = query_param(req.query(), "image").value_or("");
        handler = [this, image = std::move(image)](http_reply reply) { handle_exists(image, reply); };
    } else {
        auto r = error_json(404, fmt::format("no such endpoint: {} {}", log_escape(req.method, 20), log_escape(path, 100)));
        r.close = req.has_body();
        return now(std::move(r));
    }
    // The request (req) lives until the answer is written; the handlers that
    // use it after the body run before then.
    if (!req.has_body() && !(get && path == "/image_exists")) {
        http_response out;
        handler([&out](http_response r) { out = std::move(r); });
        return now(std::move(out));
    }
    http_plan p;
    p.body_limit = opts_.http.max_small_body;
    p.on_body = [](std::string_view) {};
    p.on_complete = std::move(handler);
    return p;
}

inline void runtime_api_server::on_answer(const http_request& req, const http_response& res) {
    metrics_.requests.inc({endpoint_of(req.path()), std::to_string(res.status)});
    // The path only (no query, no header), escaped: a client cannot forge lines.
    say(fmt::format("{} {} -> {}", req.method.empty() ? "-" : log_escape(req.method, 20),
                    req.target.empty() ? "-" : log_escape(req.path()), res.status));
}

inline http_plan runtime_api_server::plan_build(const http_request& req, std::size_t key) {
    auto refuse = [](int status, std::string_view message, std::vector<std::pair<std::string, std::string>> headers = {}) {
        http_plan p;
        p.answer = error_json(status, message);
        p.answer->headers = std::move(headers);
        p.answer->close = true;
        return p;
    };
    if (!req.content_length && !req.chunked)
        return refuse(411, "POST /build needs a Content-Length or a chunked body");
    const auto boundary = multipart_boundary_of(req.field("Content-Type").value_or(""));
    if (!boundary) return refuse(400, "POST /build takes a multipart/form-data form (with a boundary)");
    if (req.content_length && *req.content_length > opts_.max_upload)
        return refuse(413, fmt::format("the upload is larger than {} bytes", opts_.max_upload));
    if (uploads_.load() >= opts_.max_uploads)
        return refuse(503, fmt::format("{} uploads are being received; try again shortly", opts_.max_uploads),
                      {{"Retry-After", "2"}});
    std::shared_ptr<upload> up;
    try {
        up = std::make_shared<upload>(*this, keys_.tenant_of(key), *boundary);
    } catch (const error& e) {
        return refuse(500, e.what());
    }
    http_plan p;
    p.body_limit = opts_.max_upload;
    p.on_body = [up](std::string_view bytes) { up->feed(bytes); };
    p.on_complete = [this, up](http_reply reply) { finish_build(up, reply); };
    return p;
}

// The body is in: the form is checked here (quick); the context is checked
// and rewritten on the blocking pool, then queued.
inline void runtime_api_server::finish_build(const std::shared_ptr<upload>& up, const http_reply& reply) {
    try {
        up->finish_form();
    } catch (const error& e) {
        return reply(error_json(e.value() == errc::unauthorized ? 403 : 400, e.what()));
    }
    const bool queued = run_blocking([this, up, reply] {
        job& j = up->built();
        j.tar = new_work_file(".tar");
        context_summary summary;
        try {
            rtb::detail::unique_fd in(::open(up->gz_path().c_str(), O_RDONLY | O_CLOEXEC));
            if (!in) rtb::detail::throw_io("open", up->gz_path().string());
            struct fd_source {
                int fd;
                const std::atomic<bool>* stopping;
                std::size_t read(std::span<std::byte> b) {
                    if (*stopping) throw error(errc::cancelled, "the server is stopping");
                    while (true) {
                        const auto n = ::read(fd, b.data(), b.size());
                        if (n >= 0) return static_cast<std::size_t>(n);
                        if (errno != EINTR) rtb::detail::throw_io("read", "the uploaded context");
                    }
                }
            } source{in.get(), &stopping_};
            rtb::detail::unique_fd out(::open(j.tar.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
            if (!out) rtb::detail::throw_io("create", j.tar.string());
            summary = check_context(
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
        } catch (const error& e) {
            return reply(error_json(e.value() == errc::invalid_argument ? 400 : e.value() == errc::cancelled ? 503 : 500,
                                    e.what()));
        }
        // Builds reach no network: a Dockerfile that would fetch is refused
        // here, before anything runs.
        if (!opts_.allow_remote_add) {
            const auto found = network_reaching_instructions(summary.dockerfile, 4);
            if (!found.empty()) {
                std::string message = "uploaded context: " + found.front().describe();
                for (std::size_t i = 1; i < found.size(); ++i) message += "; " + found[i].describe();
                return reply(error_json(400, message));
            }
        }
        say(fmt::format("context for {}: {} entries, {} bytes", log_escape(j.target_image), summary.entries,
                        summary.content_bytes));
        try {
            const auto bytes = up->context_bytes();
            const auto& owner = up->owner();
            const auto id = queue_.submit(std::move(j), owner.name);
            metrics_.upload_bytes.inc({}, static_cast<double>(bytes));
            metrics_.tenant_upload_bytes.inc({owner.name}, static_cast<double>(bytes));
            say(fmt::format("build {} queued for tenant {}", id, owner.name));
            reply(json(200, fmt::format("{{\"build_id\":{}}}", rtb::detail::json_quote(id))));
        } catch (const error& e) {
            auto r = error_json(503, e.what());
            r.headers.emplace_back("Retry-After", "5");
            reply(std::move(r));
        }
    });
    if (!queued) {
        auto r = error_json(503, "the server is busy checking uploads; try again shortly");
        r.headers.emplace_back("Retry-After", "2");
        reply(std::move(r));
    }
}

inline http_response runtime_api_server::handle_status(const http_request& req, const tenant& t) {
    const auto id = query_param(req.query(), "build_id").value_or("");
    if (id.empty()) return error_json(400, "build_id is missing");
    // Another tenant's build answers exactly as an unknown id does.
    const auto s = is_build_id(id) ? queue_.status(id, t.name) : std::nullopt;
    if (!s) return error_json(404, fmt::format("no build {}", rtb::detail::printable(id.substr(0, 100))));
    std::string body = fmt::format("{{\"build_id\":{},\"status\":\"{}\"", rtb::detail::json_quote(s->id), to_string(s->state));
    if (!s->image.empty()) body += fmt::format(",\"image\":{}", rtb::detail::json_quote(s->image));
    if (!s->image_id.empty()) body += fmt::format(",\"image_id\":{}", rtb::detail::json_quote(s->image_id));
    if (!s->error.empty()) body += fmt::format(",\"error\":{}", rtb::detail::json_quote(s->error));
    return json(200, body + "}");
}

inline http_response runtime_api_server::handle_cancel(const http_request& req, const tenant& t) {
    const auto id = query_param(req.query(), "build_id").value_or("");
    if (id.empty()) return error_json(400, "build_id is missing");
    const auto s = is_build_id(id) ? queue_.cancel(id, t.name) : std::nullopt;
    if (!s) return error_json(404, fmt::format("no build {}", rtb::detail::printable(id.substr(0, 100))));
    say(fmt::format("build {} cancel requested ({})", s->id, to_string(s->state)));
    return json(200, fmt::format("{{\"build_id\":{},\"status\":\"{}\"}}", rtb::detail::json_quote(s->id),
                                 to_string(s->state)));
}

// Gauges are read at scrape time; the rest was counted as it happened.
inline http_response runtime_api_server::handle_metrics(const tenant& t) {
    if (!t.metrics)
        return error_json(403, fmt::format("tenant {} may not read /metrics (it shows every tenant's counts; the key "
                                           "file's metrics = true allows it)",
                                           t.name));
    const auto now = queue_.count();
    metrics_.queued.set(static_cast<double>(now.queued));
    metrics_.running.set(static_cast<double>(now.working));
    metrics_.connections.set(static_cast<double>(http_->open_connections()));
    http_response r;
    r.status = 200;
    r.content_type = std::string(metrics_registry::content_type);
    r.body = metrics_.registry.render();
    return r;
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
    if (t.owner) metrics_.tenant_builds.inc({*t.owner, outcome_of(t.to)});
    if (t.from == remote_build_state::working) metrics_.duration.observe({outcome_of(t.to)}, seconds);
}

// On the blocking pool: the engine may be slow; the io threads never wait for it.
inline void runtime_api_server::handle_exists(std::string name, const http_reply& reply) {
    if (name.empty()) return reply(error_json(400, "image is missing"));
    std::optional<image_ref> ref;
    try {
        ref = image_ref::parse(name);
    } catch (const error& e) {
        return reply(error_json(400, e.what()));
    }
    const bool queued = run_blocking([this, ref = *ref, reply] {
        try {
            docker_engine engine(*engine_);
            const auto found = engine.inspect(ref);
            if (!found) return reply(json(200, R"({"exists":false,"image":null})"));
            reply(json(200, fmt::format(R"({{"exists":true,"image":{{"upload_time":"{}","image_size_bytes":{}}}}})",
                                        rtb::detail::format_rfc3339_utc(found->created), found->size)));
        } catch (const error& e) {
            reply(error_json(e.value() == errc::timeout ? 504 : 502,
                             fmt::format("the engine did not answer: {}", e.what())));
        }
    });
    if (!queued) {
        auto r = error_json(503, "the server is busy; try again shortly");
        r.headers.emplace_back("Retry-After", "1");
        reply(std::move(r));
    }
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
        req.labels_in_dockerfile = j.labels_in_dockerfile;
        req.platform = j.platform;
        req.network_mode = "none";  // builds reach no network (remote ADD was refused before)
        req.pull = false;
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
            // The engine refusing the build (a broken Dockerfile, a context
            // it cannot use) is the build's fault, not the service's: only an
            // engine that cannot be reached is INTERNAL_ERROR.
            if (e.value() == errc::build_failed || e.value() == errc::invalid_argument ||
                e.value() == errc::not_found || (e.value() == errc::server_error && e.http_status())) {
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
