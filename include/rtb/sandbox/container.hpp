// Sandbox containers on a Docker or Podman engine: launch(engine, spec)
// checks the spec, creates and starts the container, waits until it runs
// (or its health check passes) and returns an RAII handle with its id and
// mapped ports. The handle follows its logs as events, waits for its exit
// code, and stops (with a grace period) and removes it when it goes away,
// unless it was detached or the spec keeps it alive.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/sandbox/container_api.hpp"
#include "rtb/sandbox/container_list.hpp"
#include "rtb/sandbox/container_spec.hpp"
#include "rtb/sandbox/log_stream.hpp"
#include "rtb/sandbox/validate.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/http.hpp"

namespace rtb {

/// Whether a handle stops and removes its container when it goes away.
enum class ownership {
    owned,     ///< yes (unless the spec says keep_alive)
    borrowed,  ///< no: someone else's container, or one kept alive for later
};

/// Receives a container's output as it arrives: which stream, and bytes
/// (not cut into lines; a TTY container's output is all stdout).
using output_sink = std::function<void(std_stream, std::string_view)>;

/// Reading a container's log stream: everything so far and (follow) what
/// comes until the container stops.
struct container_log_options {
    bool follow = true;
    bool stdout_stream = true;
    bool stderr_stream = true;
    std::optional<unsigned> tail;  ///< only the last lines of what is there already
};

namespace detail::sandbox {

/// The exit of an auto-removed container, watched on a second connection
/// from before its start: once the engine has removed it, its exit code
/// is gone, so the wait must be registered first (as the docker CLI does).
struct exit_watch {
    std::mutex m;
    std::condition_variable_any cv;
    bool registered = false;
    bool done = false;
    std::optional<container_api::wait_result> result;
    std::exception_ptr failure;
};

/// Whether an answer says the container does not exist: 404, or Podman
/// 4.3's 500 "... does not exist in database: no such container" for one
/// it is auto-removing.
inline bool container_gone(const http::response& r) {
    if (r.status == 404) return true;
    return r.status == 500 && r.body.find("no such container") != std::string::npos;
}

/// Sleeps `d` unless `stop` is requested first; false when it was.
inline bool sleep_unless_stopped(std::chrono::milliseconds d, std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, d, [] { return false; });
    return !stop.stop_requested();
}

}  // namespace detail::sandbox

/// A container rtb started or attached to. Move-only. Not for concurrent
/// use: one call at a time (follow the logs of a container while waiting
/// for it from another thread through a second, borrowed handle: attach()).
class container {
public:
    using log_options = container_log_options;

    container() = default;
    container(container&&) noexcept = default;
    container& operator=(container&& o) noexcept {
        if (this != &o) {
            release_quietly();
            s_ = std::move(o.s_);
        }
        return *this;
    }
    container(const container&) = delete;
    container& operator=(const container&) = delete;
    /// Stops and removes the container when this handle owns it and the spec
    /// did not say keep_alive; errors go to on_cleanup_error(), never out.
    ~container() { release_quietly(); }

    explicit operator bool() const noexcept { return s_ != nullptr; }
    const std::string& id() const { return need().id; }
    const std::string& name() const { return need().name; }
    /// The published ports: on the host network, each container port as
    /// itself; on another network, where the engine bound them.
    const std::vector<mapped_port>& ports() const { return need().ports; }
    /// The host port a container port is reachable on, if it is published.
    std::optional<int> host_port(int container_port, port_protocol p = port_protocol::tcp) const {
        for (const auto& m : need().ports)
            if (m.container_port == container_port && m.protocol == p) return m.host_port;
        return std::nullopt;
    }
    /// Whether destruction stops and removes the container.
    bool owns() const noexcept { return s_ && s_->owned && !s_->keep_alive && !s_->removed; }

    /// Where errors that the destructor swallows go (by default: nowhere).
    void on_cleanup_error(std::function<void(const error&)> sink) { need().on_cleanup_error = std::move(sink); }

    /// The engine's view of the container now. Throws not_found once it is gone.
    container_state inspect() {
        auto& s = need();
        const auto r = short_call({"GET", container_api::inspect_target(s.api, s.id)});
        if (detail::sandbox::container_gone(r))
            throw error(errc::not_found, fmt::format("inspecting container {} on {}: it does not exist (any more)",
                                                     s.id, s.where))
                .with_http_status(404);
        http::throw_for_status(r, fmt::format("inspecting container {} on {}", s.id, s.where));
        return container_api::parse_inspect(r.body, fmt::format("inspecting container {} on {}", s.id, s.where));
    }

    /// Streams the container's output to `sink` as it arrives, decoded from
    /// the Engine API's framing. With follow, returns when the container
    /// stops (or `stop` is requested: cancelled).
    void logs(const output_sink& sink, log_options o, std::stop_token stop = {}) {
        auto& s = need();
        if (o.follow && !s.tty) return follow_with_catch_up(sink, o, stop);
        const auto what = fmt::format("reading the logs of container {} on {}", s.id, s.where);
        mux_decoder decoder(s.tty);
        http::request r{"GET", container_api::logs_target(s.api, s.id, o.follow, o.stdout_stream, o.stderr_stream, o.tail)};
        r.timeout = o.follow ? std::chrono::milliseconds(0) : s.request_timeout;
        r.on_data = [&](std::string_view chunk) { decoder.feed(chunk, sink); };
        if (o.follow && s.podman) {
            if (follow_until_exit(r, stop, what)) decoder.finish();
            return;
        }
        const auto resp = s.client.send(r, stop);
        http::throw_for_status(resp, what);
        decoder.finish();
    }
    void logs(const output_sink& sink, std::stop_token stop = {}) { logs(sink, log_options{}, stop); }

    /// Follows the logs as rtb events: one events::log_line per line of
    /// stdout or stderr (a line cut at 1 MiB). Returns when the container stops.
    void follow_logs(const event_sink& on_event, std::stop_token stop = {}, log_options o = {}) {
        line_splitter lines;
        auto emit = [&](std_stream, std::string_view line) {
            if (on_event) on_event(build_event{events::log_line{std::string(line)}});
        };
        logs([&](std_stream st, std::string_view bytes) { lines.feed(st, bytes, emit); }, o, stop);
        lines.finish(emit);
    }

    /// The last `n` lines of output, both streams, in the engine's order.
    /// dockerd cuts them itself (tail=n); Podman 4.3's tail joins the last
    /// complete line with a final partial one, so there rtb reads the whole
    /// log and keeps the last n lines.
    std::vector<std::string> tail(unsigned n) {
        std::deque<std::string> out;
        log_options o;
        o.follow = false;
        if (!need().podman) o.tail = n;
        follow_logs(
            [&](const build_event& e) {
                out.push_back(std::get<events::log_line>(e).text);
                if (out.size() > n) out.pop_front();
            },
            {}, o);
        return {out.begin(), out.end()};
    }

    /// Waits until the container exits and returns its exit code (128 + n
    /// for a signal n, as the engines report it). Kept: a second call
    /// answers at once. Throws cancelled when `stop` is requested, not_found
    /// when the container was removed before its exit code could be read.
    int wait(std::stop_token stop = {}) {
        auto& s = need();
        if (s.exit_code) return *s.exit_code;
        const auto what = fmt::format("waiting for container {} on {}", s.id, s.where);
        container_api::wait_result w;
        if (s.watch) {
            std::unique_lock lock(s.watch->m);
            if (!s.watch->cv.wait(lock, stop, [&] { return s.watch->done; }))
                throw error(errc::cancelled, what + ": cancelled");
            if (s.watch->failure) std::rethrow_exception(s.watch->failure);
            w = *s.watch->result;
        } else {
            http::request r{"POST", container_api::wait_target(s.api, s.id, container_api::wait_condition::not_running)};
            r.timeout = std::chrono::milliseconds(0);
            const auto resp = s.client.send(r, stop);
            if (detail::sandbox::container_gone(resp))
                throw error(errc::not_found, fmt::format("{}: the container is gone, and its exit code with it", what));
            http::throw_for_status(resp, what);
            w = container_api::parse_wait(resp.body, what);
        }
        if (!w.error.empty()) throw error(errc::server_error, fmt::format("{}: {}", what, w.error));
        s.exit_code = w.exit_code;
        return w.exit_code;
    }

    /// Stops the container: SIGTERM (or the image's STOPSIGNAL), SIGKILL
    /// after `grace` (default: the spec's stop_grace). A stopped or removed
    /// container is fine.
    void stop(std::optional<std::chrono::seconds> grace = std::nullopt) {
        auto& s = need();
        const auto g = grace.value_or(s.grace);
        http::request r{"POST", container_api::stop_target(s.api, s.id, g)};
        r.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(g) + s.request_timeout;
        const auto resp = s.client.send(r);
        if (resp.status == 304 || detail::sandbox::container_gone(resp)) return;
        http::throw_for_status(resp, fmt::format("stopping container {} on {}", s.id, s.where));
    }

    /// Stops (grace period) and removes the container with its anonymous
    /// volumes; afterwards the handle owns nothing. Safe to call twice, and
    /// on a container the engine already removed. Throws when the engine
    /// refuses (the handle then still owns it: the destructor tries again).
    void remove() {
        auto& s = need();
        if (s.removed) return;
        try {
            stop();
        } catch (const error&) {
            // The forced removal below still kills it; its error is the one that counts.
        }
        const auto what = fmt::format("removing container {} on {}", s.id, s.where);
        auto resp = short_call({"DELETE", container_api::remove_target(s.api, s.id, true, true)});
        if (resp.status == 409) {
            // dockerd is removing it already (auto-remove): wait until it is gone.
            http::request r{"POST", container_api::wait_target(s.api, s.id, container_api::wait_condition::removed)};
            r.timeout = s.request_timeout;
            resp = s.client.send(r);
            if (!detail::sandbox::container_gone(resp)) http::throw_for_status(resp, what);
        } else if (!detail::sandbox::container_gone(resp)) {
            http::throw_for_status(resp, what);
        }
        s.removed = true;
        end_watch();
    }

    /// Lets the container live on: the handle forgets it (no stop, no
    /// removal) and returns its id. attach() finds it again.
    std::string detach() {
        auto& s = need();
        std::string id = s.id;
        end_watch();
        s_.reset();
        return id;
    }

private:
    /// How long a followed Podman log stream may stay open once the container
    /// has exited.
    static constexpr std::chrono::seconds podman_log_drain{5};

    /// Follows the logs with timestamps, then reads again from a little
    /// before the latest stamp seen and passes on only what the follow did
    /// not (log_catch_up: matched by order, not by stamp, since dockerd's
    /// log is not in stamp order when both streams write; a last entry the
    /// follow passed on in part goes on from where it stopped). Why a
    /// second read: dockerd 20.10's follower can end at the container's
    /// exit before the last entries reach it (seen in 4 of 10 runs: the
    /// final line missing); Podman 4.3's now and then keeps the stream open
    /// after the exit (a follow once never returned), and at a high output
    /// rate has been seen to stop passing entries on long before it ends.
    /// So on Podman the exit is also watched on a second connection: once
    /// the engine reports it, the stream has podman_log_drain to end by
    /// itself before it is ended. The tail limit applies to the follow only.
    void follow_with_catch_up(const output_sink& sink, const log_options& o, std::stop_token stop) {
        auto& s = need();
        const auto what = fmt::format("reading the logs of container {} on {}", s.id, s.where);
        struct reading {
            mux_decoder frames{false};
            timestamp_stripper stamps;
        };
        auto request = [&](bool follow, std::optional<unsigned> tail, std::optional<std::int64_t> since, reading& rd,
                           auto&& on_entry) {
            std::string target = container_api::logs_target(s.api, s.id, follow, o.stdout_stream, o.stderr_stream, tail);
            target += "&timestamps=1";
            if (since) target += fmt::format("&since={}", *since);
            http::request r{"GET", std::move(target)};
            r.timeout = follow ? std::chrono::milliseconds(0) : s.request_timeout;
            r.on_data = [&](std::string_view chunk) {
                rd.frames.feed(chunk, [&](std_stream st, std::string_view piece, bool first) {
                    rd.stamps.feed(st, piece, first, on_entry);
                });
            };
            return r;
        };

        log_catch_up catch_up;
        reading followed;
        auto pass_followed = [&](std_stream st, log_time t, std::string_view data, bool entry_start) {
            if (entry_start) catch_up.followed(st, t);
            catch_up.followed_bytes(data.size());
            if (!data.empty()) sink(st, data);
        };
        auto follow = request(true, o.tail, std::nullopt, followed, pass_followed);
        if (s.podman) {
            if (follow_until_exit(follow, stop, what)) followed.frames.finish();
            // else the stream was ended after the exit: a frame cut short is caught up below
        } else {
            const auto resp = s.client.send(follow, stop);
            http::throw_for_status(resp, what);
            followed.frames.finish();
        }

        catch_up.begin_catch_up(o.tail.has_value());
        reading again;
        std::size_t skip = 0;  // bytes of the current entry the follow passed on already
        auto request_again = request(false, std::nullopt, catch_up.since(), again,
                                     [&](std_stream st, log_time t, std::string_view data, bool entry_start) {
                                         if (entry_start) skip = catch_up.already_passed(st, t);
                                         const auto drop = std::min(skip, data.size());
                                         skip -= drop;
                                         data.remove_prefix(drop);
                                         if (!data.empty()) sink(st, data);
                                     });
        const auto resp = s.client.send(request_again, stop);
        http::throw_for_status(resp, what);
        again.frames.finish();
    }

    /// Sends the follow request `r` on Podman, ending it once the container
    /// has exited and the stream has had podman_log_drain to end by itself.
    /// Returns whether it ended by itself. (For a started container: a
    /// created one counts as not running. A watch that fails sets no bound.)
    bool follow_until_exit(http::request& r, std::stop_token stop, const std::string& what) {
        auto& s = need();
        std::stop_source ended;  // the user's stop, or the drain period over
        std::stop_callback forward(stop, [&] { ended.request_stop(); });
        std::atomic<bool> drained{false};
        std::jthread exit_bound([&ended, &drained, ep = s.endpoint, ho = s.http_options,
                                 target = container_api::wait_target(s.api, s.id, container_api::wait_condition::not_running)](
                                    std::stop_token self) {
            try {
                http::client c(ep, ho);
                http::request w{"POST", target};
                w.timeout = std::chrono::milliseconds(0);
                const auto resp = c.send(w, self);
                if (resp.status >= 300 && !detail::sandbox::container_gone(resp)) return;
            } catch (const error&) {
                return;
            }
            std::mutex m;
            std::condition_variable_any never;
            std::unique_lock lock(m);
            if (never.wait_for(lock, self, podman_log_drain, [] { return false; }) || self.stop_requested()) return;
            drained = true;
            ended.request_stop();
        });
        http::response resp;
        try {
            resp = s.client.send(r, ended.get_token());
        } catch (const error& e) {
            if (e.value() != errc::cancelled || !drained || stop.stop_requested()) throw;
            return false;  // the container exited and its stream did not end
        }
        http::throw_for_status(resp, what);
        return true;
    }

    struct state {
        state(const http::endpoint& ep, const http::client_options& ho) : client(ep, ho) {}
        http::client client;
        http::endpoint endpoint;
        http::client_options http_options;
        docker_api::api_version api;
        bool podman = false;
        std::string where;
        std::string id, name;
        std::vector<mapped_port> ports;
        bool tty = false, auto_remove = false, keep_alive = false, owned = true, removed = false;
        std::chrono::seconds grace{10};
        std::chrono::milliseconds request_timeout{60'000};
        std::optional<int> exit_code;
        std::shared_ptr<detail::sandbox::exit_watch> watch;
        std::function<void(const error&)> on_cleanup_error;
        std::jthread watcher;  // last: joined (and cancelled) first
    };

    friend container launch(docker_engine&, const container_spec&, const host_filesystem&, std::stop_token,
                            const event_sink&);
    friend container attach(docker_engine&, std::string_view, ownership);

    static std::unique_ptr<state> make_state(docker_engine& engine) {
        auto s = std::make_unique<state>(engine.http().where(), engine.settings().http);
        s->endpoint = engine.http().where();
        s->http_options = engine.settings().http;
        s->api = engine.api_version();
        s->podman = engine.is_podman();
        s->where = engine.http().where().describe();
        s->request_timeout = engine.settings().request_timeout;
        return s;
    }

    state& need() const {
        if (!s_) throw error(errc::invalid_argument, "this container handle is empty (moved from or detached)");
        return *s_;
    }

    http::response short_call(http::request r) {
        r.timeout = need().request_timeout;
        return s_->client.send(r);
    }

    /// Registers a wait for the container's exit on a second connection and
    /// returns once the engine has it (launch() starts the container after).
    void watch_exit() {
        auto& s = *s_;
        auto watch = std::make_shared<detail::sandbox::exit_watch>();
        s.watch = watch;
        // Docker: "removed" also waits for the auto-removal to finish. Podman
        // 4.3 answers "removed" with StatusCode 0 whatever the exit code was,
        // and "next-exit" correctly.
        const auto cond = s.podman ? container_api::wait_condition::next_exit : container_api::wait_condition::removed;
        std::string target = container_api::wait_target(s.api, s.id, cond);
        std::string what = fmt::format("waiting for container {} on {}", s.id, s.where);
        s.watcher = std::jthread([watch, ep = s.endpoint, ho = s.http_options, target = std::move(target),
                                  what = std::move(what)](std::stop_token stop) {
            try {
                http::client c(ep, ho);
                http::request r{"POST", target};
                r.timeout = std::chrono::milliseconds(0);
                r.on_headers = [&](const http::response& head) {
                    if (head.status >= 300) return;
                    std::lock_guard lock(watch->m);
                    watch->registered = true;
                    watch->cv.notify_all();
                };
                const auto resp = c.send(r, stop);
                http::throw_for_status(resp, what);
                auto w = container_api::parse_wait(resp.body, what);
                std::lock_guard lock(watch->m);
                watch->result = std::move(w);
                watch->done = true;
                watch->cv.notify_all();
            } catch (...) {
                std::lock_guard lock(watch->m);
                watch->failure = std::current_exception();
                watch->done = true;
                watch->cv.notify_all();
            }
        });
        std::unique_lock lock(watch->m);
        if (!watch->cv.wait_for(lock, s.request_timeout, [&] { return watch->registered || watch->done; }))
            throw error(errc::timeout, fmt::format("the engine on {} did not take a wait for container {} within {} ms",
                                                   s.where, s.id, s.request_timeout.count()));
        if (!watch->registered && watch->failure) std::rethrow_exception(watch->failure);
    }

    /// Ends the exit watch: cancels its request if it still runs, joins it.
    void end_watch() noexcept {
        if (!s_ || !s_->watcher.joinable()) return;
        s_->watcher.request_stop();
        s_->watcher.join();
    }

    void release_quietly() noexcept {
        if (!s_) return;
        if (owns()) {
            try {
                remove();
            } catch (const error& e) {
                if (s_->on_cleanup_error) {
                    try {
                        s_->on_cleanup_error(e);
                    } catch (...) {
                    }
                }
            } catch (...) {
            }
        }
        end_watch();
        s_.reset();
    }

    std::unique_ptr<state> s_;
};

namespace detail::sandbox {

/// The named network must exist: dockerd would create the container and
/// fail at start, Podman answers 500; both less clear than this.
inline void check_network(http::client& c, docker_api::api_version api, const std::string& network,
                          const std::string& where, std::chrono::milliseconds timeout) {
    if (network == network_none || network == network_host) return;
    http::request r{"GET", container_api::network_target(api, network)};
    r.timeout = timeout;
    const auto resp = c.send(r);
    if (resp.status == 404)
        throw error(errc::not_found, fmt::format("network {} does not exist on {}; create it first, or use \"none\" or "
                                                 "\"host\"",
                                                 ref::quote(network), where));
    http::throw_for_status(resp, fmt::format("looking up network {} on {}", ref::quote(network), where));
}

inline std::string tail_text(container& c) {
    try {
        const auto lines = c.tail(20);
        if (lines.empty()) return "";
        std::string out = "; last output:";
        for (const auto& l : lines) out += "\n  " + l;
        return out;
    } catch (const error&) {
        return "";
    }
}

}  // namespace detail::sandbox

/// Starts a sandbox: validates `spec` (nothing is sent when it is wrong),
/// checks that a named network exists, creates the container (labels, limits,
/// mounts with their sources resolved as validated), starts it, and waits
/// until it is running, or healthy when spec.ready says so (at most
/// spec.ready_timeout). Any failure after the create removes the container
/// again. An image the engine lacks is pulled first unless spec.pull says
/// never (the pull's progress goes to `on_pull`). Throws invalid_argument
/// (the spec), not_found (image, network), timeout, cancelled, and the
/// engine's errors with its message.
/// `host` is how bind sources are checked: the engine's host as the caller
/// sees it. The overload without it uses this machine's filesystem, which is
/// the engine's for a unix socket; for a tcp:// engine elsewhere, pass a
/// host_filesystem that knows that machine.
inline container launch(docker_engine& engine, const container_spec& spec, const host_filesystem& host,
                        std::stop_token stop = {}, const event_sink& on_pull = {}) {
    validate(spec, host);

    container_spec resolved = spec;  // bind sources as they were checked (symlinks resolved)
    for (auto& m : resolved.mounts)
        if (m.type == mount::kind::bind)
            if (auto real = host.resolve(m.source)) m.source = *real;

    container c;
    c.s_ = container::make_state(engine);
    auto& s = *c.s_;
    s.owned = false;  // nothing to remove yet
    const std::string image = image_ref::parse(spec.image).familiar();
    detail::sandbox::check_network(s.client, s.api, spec.network, s.where, s.request_timeout);

    {
        const auto create = [&] {
            http::request r{"POST", container_api::create_target(s.api, spec.name)};
            r.headers.push_back({"Content-Type", "application/json"});
            r.body = container_api::create_body(resolved);
            return c.short_call(std::move(r));
        };
        const auto what = fmt::format("creating a container from {} on {}", image, s.where);
        auto resp = create();
        if (resp.status == 404 && spec.pull == image_pull::missing) {
            // Not here (the network was checked above): an image only its
            // registry has, as when another host built and pushed it.
            try {
                engine.pull(image_ref::parse(spec.image), on_pull, stop);
            } catch (const error& e) {
                if (e.value() != errc::not_found) throw e.with_context(what);
                throw error(errc::not_found,
                            fmt::format("{}: no such image in the engine, and pulling it failed: {}", what, e.what()));
            }
            resp = create();
        }
        if (resp.status == 404)
            throw error(errc::not_found, fmt::format("{}: no such image ({}); build or pull it first", what,
                                                     http::server_message(resp.body)))
                .with_http_status(404);
        http::throw_for_status(resp, what);
        s.id = container_api::parse_created(resp.body, what);
    }
    s.owned = true;  // from here on, any failure removes it
    s.name = spec.name;
    s.tty = spec.tty;
    s.auto_remove = spec.auto_remove;
    s.grace = spec.stop_grace;
    const std::string what = fmt::format("container {} ({}) on {}", s.id.substr(0, 12), image, s.where);

    if (spec.ready == readiness::healthy && !spec.health && !c.inspect().has_healthcheck)
        throw error(errc::invalid_argument,
                    fmt::format("{}: readiness is \"healthy\" but neither the spec nor the image has a health check", what));
    if (spec.auto_remove) c.watch_exit();
    {
        const auto resp = c.short_call({"POST", container_api::start_target(s.api, s.id)});
        if (resp.status != 304) http::throw_for_status(resp, fmt::format("starting {}", what));
    }

    // Ready: running (or done already), or healthy.
    const auto deadline = std::chrono::steady_clock::now() + spec.ready_timeout;
    const auto health_every = std::max(std::chrono::milliseconds(50),
                                       spec.health ? spec.health->interval : std::chrono::milliseconds(1000));
    std::optional<container_state> last;
    for (;;) {
        if (stop.stop_requested()) throw error(errc::cancelled, fmt::format("starting {}: cancelled", what));
        const auto r = c.short_call({"GET", container_api::inspect_target(s.api, s.id)});
        if (detail::sandbox::container_gone(r) && spec.auto_remove && spec.ready == readiness::running) {
            s.removed = true;  // it ran, exited and the engine removed it already
            break;
        }
        http::throw_for_status(r, fmt::format("inspecting {}", what));
        last = container_api::parse_inspect(r.body, fmt::format("inspecting {}", what));
        const bool ended = last->status == "exited" || last->status == "dead";
        if (spec.ready == readiness::running) {
            if (last->running || ended) break;
        } else {
            if (ended)
                throw error(errc::server_error,
                            fmt::format("{} exited with code {} before its health check passed{}", what,
                                        last->exit_code, detail::sandbox::tail_text(c)));
            std::optional<health_state> h = last->health;
            if (s.podman && last->running) {
                // Podman 4.3 has nobody to run the check without systemd: run it.
                const auto hr = c.short_call({"GET", container_api::libpod_healthcheck_target(s.id)});
                if (hr.status >= 400 && !c.inspect().running)
                    continue;  // it stopped since (409 "not running", 500 "state improper"): the next round says how
                http::throw_for_status(hr, fmt::format("running the health check of {}", what));
                h = container_api::parse_health(hr.body, fmt::format("running the health check of {}", what));
            }
            if (h && h->status == "healthy") break;
            if (h && h->status == "unhealthy" && !s.podman)
                throw error(errc::server_error,
                            fmt::format("{} is unhealthy: {} checks failed in a row; the last one{}{}", what,
                                        h->failing_streak,
                                        h->last_exit_code ? fmt::format(" exited {}", *h->last_exit_code) : "",
                                        h->last_output.empty() ? "" : " and said: " + h->last_output));
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            throw error(errc::timeout,
                        fmt::format("{} was not {} within {} ms (state {}{})", what,
                                    spec.ready == readiness::healthy ? "healthy" : "running", spec.ready_timeout.count(),
                                    last ? last->status : "unknown",
                                    last && last->health ? ", health " + last->health->status : ""));
        const auto pause = spec.ready == readiness::healthy ? health_every : std::chrono::milliseconds(20);
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        if (!detail::sandbox::sleep_unless_stopped(std::min(pause, left), stop))
            throw error(errc::cancelled, fmt::format("starting {}: cancelled", what));
    }

    if (spec.network == network_host) {
        for (const auto& p : spec.ports) s.ports.push_back({p.container_port, p.protocol, p.host_ip, p.container_port});
    } else if (last) {
        s.ports = last->ports;
    }
    if (last && s.name.empty()) s.name = last->name;
    s.keep_alive = spec.keep_alive;
    return c;
}

/// launch() with bind sources checked on this machine (and the engine's own
/// socket, when it is a unix socket, among those a mount must not expose).
inline container launch(docker_engine& engine, const container_spec& spec, std::stop_token stop = {},
                        const event_sink& on_pull = {}) {
    const auto& ep = engine.http().where();
    return launch(engine, spec,
                  local_host_filesystem(ep.type == http::endpoint::kind::unix_socket ? ep.socket_path : ""), stop,
                  on_pull);
}

/// A handle to an existing container (by id or name): borrowed by default,
/// so a kept-alive sandbox can be used again without being stopped when
/// the handle goes; owned to take over its clean-up. Throws not_found.
inline container attach(docker_engine& engine, std::string_view id_or_name, ownership own = ownership::borrowed) {
    container c;
    c.s_ = container::make_state(engine);
    auto& s = *c.s_;
    s.owned = false;
    s.id = container_api::path_id(id_or_name);
    const auto st = c.inspect();
    s.id = st.id;
    s.name = st.name;
    s.ports = st.ports;
    s.tty = st.tty;
    s.auto_remove = st.auto_remove;
    if (st.stop_timeout) s.grace = std::chrono::seconds(*st.stop_timeout);
    s.owned = own == ownership::owned;
    return c;
}

}  // namespace rtb
