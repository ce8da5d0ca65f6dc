// A fault-injection HTTP server for tests, on 127.0.0.1 only (built on
// fake_server): each route answers its requests from a script, one fault
// per request (a status with headers, 429 with Retry-After in seconds or as
// an HTTP-date, 5xx, a connection reset, a stall, a truncated or malformed
// answer, a slow trickle, a silent hang-up), then a fallback for every later
// request. It counts requests per route and keeps every request head, so
// tests assert on attempts and on what was sent, never on wall time.
#pragma once

#include <chrono>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include "support/fake_server.hpp"

namespace rtb::test {

/// One scripted answer.
struct fault {
    enum class kind {
        respond,    ///< a complete answer: status, headers, body
        reset,      ///< close with a TCP RST (SO_LINGER 0) instead of answering
        hang_up,    ///< close without a byte
        stall,      ///< say nothing, keep the connection open until the client gives up
        truncated,  ///< a head promising `declared_length` bytes, fewer bytes, then close
        malformed,  ///< bytes that are not HTTP
        trickle,    ///< a complete answer, `chunk` bytes every `interval`
    };
    kind what = kind::respond;
    int status = 200;
    std::string headers;  ///< extra header lines, each ending in \r\n
    std::string body;
    std::string content_type = "application/json";
    std::size_t declared_length = 0;  ///< kind::truncated
    std::size_t chunk = 1;            ///< kind::trickle
    std::chrono::milliseconds interval{10};
};

namespace faults {

inline fault respond(int status, std::string headers = {}, std::string body = {},
                     std::string content_type = "application/json") {
    fault f;
    f.status = status;
    f.headers = std::move(headers);
    f.body = std::move(body);
    f.content_type = std::move(content_type);
    return f;
}
/// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
inline std::string http_date(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}
inline fault rate_limited(int seconds) {
    return respond(429, "Retry-After: " + std::to_string(seconds) + "\r\n",
                   R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})");
}
inline fault rate_limited_until(std::chrono::system_clock::time_point when) {
    return respond(429, "Retry-After: " + http_date(when) + "\r\n",
                   R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})");
}
inline fault server_error(int status, std::string headers = {}) {
    return respond(status, std::move(headers), R"({"errors":[{"code":"UNAVAILABLE","message":"try later"}]})");
}
inline fault of(fault::kind k) {
    fault f;
    f.what = k;
    return f;
}
inline fault reset() { return of(fault::kind::reset); }
inline fault hang_up() { return of(fault::kind::hang_up); }
inline fault stall() { return of(fault::kind::stall); }
inline fault malformed() { return of(fault::kind::malformed); }
inline fault truncated(int status, std::string body_part, std::size_t declared_length, std::string headers = {}) {
    fault f = respond(status, std::move(headers), std::move(body_part));
    f.what = fault::kind::truncated;
    f.declared_length = declared_length;
    return f;
}
inline fault trickle(fault answer, std::size_t chunk, std::chrono::milliseconds interval) {
    answer.what = fault::kind::trickle;
    answer.chunk = chunk;
    answer.interval = interval;
    return answer;
}

}  // namespace faults

class fault_server {
public:
    using responder = std::function<fault(const std::string& head)>;

    fault_server() : server_([this](connection& c, const std::string& head) { return serve(c, head); }) {}

    /// Requests whose target starts with `prefix` get `script` in order, then
    /// `then(head)` for each later one. Routes are tried in the order added.
    void route(std::string prefix, std::vector<fault> script, responder then) {
        std::lock_guard lock(mutex_);
        routes_.push_back({std::move(prefix), {script.begin(), script.end()}, std::move(then), 0});
    }
    void route(std::string prefix, std::vector<fault> script, fault then) {
        route(std::move(prefix), std::move(script), [then](const std::string&) { return then; });
    }

    int port() const noexcept { return server_.port(); }
    /// "127.0.0.1:PORT", as an image reference's registry.
    std::string host() const { return "127.0.0.1:" + std::to_string(port()); }
    /// Requests seen on the route with this prefix.
    int hits(std::string_view prefix) const {
        std::lock_guard lock(mutex_);
        for (const auto& r : routes_)
            if (r.prefix == prefix) return r.hits;
        return 0;
    }
    int connections() const noexcept { return server_.connections(); }
    int requests() const noexcept { return server_.requests(); }
    std::vector<std::string> heads() const {
        std::lock_guard lock(mutex_);
        return heads_;
    }
    /// The request bodies, in the order of heads().
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mutex_);
        return bodies_;
    }

private:
    struct route_state {
        std::string prefix;
        std::deque<fault> script;
        responder then;
        int hits;
    };

    bool serve(connection& c, const std::string& head) {
        const auto target = target_of(head);
        std::optional<fault> f;
        {
            std::lock_guard lock(mutex_);
            heads_.push_back(head);
            for (auto& r : routes_) {
                if (!target.starts_with(r.prefix)) continue;
                ++r.hits;
                if (!r.script.empty()) {
                    f = std::move(r.script.front());
                    r.script.pop_front();
                } else {
                    f = r.then(head);
                }
                break;
            }
        }
        if (!f) f = faults::respond(404, {}, R"({"errors":[{"code":"NOT_FOUND","message":"no route"}]})");
        // A request with a body (token POSTs, streamed uploads): read it, so
        // the answer is not a reset; keep it (up to 4 MiB) for the test.
        std::string body;
        if (const auto len = header_of(head, "Content-Length"); !len.empty()) body = c.read_exact(std::stoul(len));
        else if (header_of(head, "Transfer-Encoding") == "chunked")
            c.read_chunked([&](std::string_view part) {
                if (body.size() < (std::size_t{4} << 20)) body.append(part);
            });
        {
            std::lock_guard lock(mutex_);
            bodies_.push_back(std::move(body));
        }
        const bool head_request = head.starts_with("HEAD ");
        auto full = [&](const fault& x, std::size_t length) {
            std::string s = "HTTP/1.1 " + std::to_string(x.status) + " X\r\nContent-Type: " + x.content_type +
                            "\r\nContent-Length: " + std::to_string(length) + "\r\n" + x.headers + "\r\n";
            if (!head_request) s += x.body;
            return s;
        };
        switch (f->what) {
            case fault::kind::respond:
                return c.write(full(*f, f->body.size()));
            case fault::kind::reset: {
                linger l{1, 0};
                ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
                return false;  // the server closes it: an RST
            }
            case fault::kind::hang_up:
                return false;
            case fault::kind::stall:
                c.wait_for_close();
                return false;
            case fault::kind::truncated:
                c.write(full(*f, f->declared_length));
                return false;
            case fault::kind::malformed:
                c.write("SSH-2.0-OpenSSH_9.2\r\n\x01\x02 this is not HTTP\r\n\r\n");
                return false;
            case fault::kind::trickle: {
                const auto bytes = full(*f, f->body.size());
                for (std::size_t i = 0; i < bytes.size(); i += f->chunk) {
                    if (!c.write(std::string_view(bytes).substr(i, f->chunk))) return false;
                    std::this_thread::sleep_for(f->interval);
                }
                return true;
            }
        }
        return false;
    }

    mutable std::mutex mutex_;
    std::vector<route_state> routes_;
    std::vector<std::string> heads_;
    std::vector<std::string> bodies_;
    fake_server server_;  // last: stopped (its threads joined) before the routes go
};

}  // namespace rtb::test
