// rtb::http: the HTTP layer under rtb's transports, on libcurl. Unix sockets,
// TCP and TLS; endpoints from DOCKER_HOST the way the docker CLI reads it;
// streamed request bodies and responses; timeouts; cancellation through
// std::stop_token; HTTP answers mapped to rtb::error.
#pragma once

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>

#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/detail/curl.hpp"
#include "rtb/transport/detail/tls_diagnosis.hpp"
#include "rtb/version.hpp"

namespace rtb::http {

// ------------------------------------------------------------------ endpoints

/// TLS material for a TCP endpoint (the docker CLI's --tls/--tlsverify).
struct tls_options {
    bool enabled = false;
    bool verify = true;                 ///< check the server's certificate and name
    std::filesystem::path ca_file;      ///< empty: the system's CAs
    std::filesystem::path cert_file;    ///< client certificate (PEM); empty: none
    std::filesystem::path key_file;     ///< client key (PEM)
    /// Where the files were looked for (DOCKER_CERT_PATH), so that an error
    /// can name a file that was missing; empty when they were given directly.
    std::filesystem::path cert_dir;
};

/// Where a client connects: a unix socket, or a TCP host and port (with TLS).
struct endpoint {
    enum class kind { unix_socket, tcp };
    kind type = kind::unix_socket;
    std::string socket_path;  ///< kind::unix_socket
    std::string host;         ///< kind::tcp: a name, an IPv4 address or a bracketed IPv6 address
    int port = 0;             ///< kind::tcp
    tls_options tls;          ///< kind::tcp only

    /// The docker CLI's default: unix:///var/run/docker.sock.
    static constexpr std::string_view default_socket = "/var/run/docker.sock";

    static endpoint unix_socket(std::string path) {
        endpoint e;
        e.socket_path = std::move(path);
        return e;
    }
    static endpoint tcp(std::string host, int port, tls_options tls = {}) {
        endpoint e;
        e.type = kind::tcp;
        e.host = std::move(host);
        e.port = port;
        e.tls = std::move(tls);
        return e;
    }

    /// The URL prefix requests are sent to ("http://localhost" over a unix socket).
    std::string base_url() const {
        if (type == kind::unix_socket) return "http://localhost";
        return fmt::format("{}://{}:{}", tls.enabled ? "https" : "http", host, port);
    }

    /// How errors name this endpoint: "unix socket /var/run/docker.sock",
    /// "tcp://10.0.0.2:2376 (TLS)".
    std::string describe() const {
        if (type == kind::unix_socket) return "unix socket " + socket_path;
        return fmt::format("tcp://{}:{}{}", host, port, tls.enabled ? " (TLS)" : "");
    }
};

namespace detail {
/// `scheme://user:***@host...`, `scheme://***@host...`: a URL as an error
/// may quote it. Userinfo without a colon is masked whole: it is often a
/// token (`tcp://TOKEN@host`), not a user name.
inline std::string mask_userinfo(std::string_view url) {
    const auto scheme_end = url.find("://");
    const auto authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    const auto at = url.find('@', authority);
    if (at == std::string_view::npos || url.substr(authority, at - authority).find('/') != std::string_view::npos)
        return std::string(url);
    const auto colon = url.substr(authority, at - authority).find(':');
    if (colon == std::string_view::npos) return fmt::format("{}***{}", url.substr(0, authority), url.substr(at));
    return fmt::format("{}***{}", url.substr(0, authority + colon + 1), url.substr(at));
}

[[noreturn]] inline void bad_host(std::string_view value, std::string_view why) {
    throw error(errc::invalid_argument,
                fmt::format("invalid DOCKER_HOST {}: {}", rtb::detail::ref::quote(mask_userinfo(value)), why));
}
}  // namespace detail

/// Parses a DOCKER_HOST value as the docker CLI does: `unix:///path`
/// (`unix://` alone: the default socket), `tcp://host[:port]` (host default
/// localhost, port default 2375; only an empty path or "/"), an empty value
/// for the default socket. `tls` applies to tcp:// only. ssh://, npipe:// and
/// fd:// are not HTTP endpoints and are refused with a hint.
inline endpoint parse_docker_host(std::string_view value, const tls_options& tls = {}) {
    std::string_view v = value;
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) detail::bad_host(value, "contains a control character");
    if (v.empty()) return endpoint::unix_socket(std::string(endpoint::default_socket));

    const auto sep = v.find("://");
    if (sep == std::string_view::npos)
        detail::bad_host(value, "expected unix:///path/to/socket or tcp://host:port");
    const auto scheme = v.substr(0, sep);
    const auto rest = v.substr(sep + 3);
    if (scheme == "unix") {
        if (rest.empty()) return endpoint::unix_socket(std::string(endpoint::default_socket));
        // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
        if (rest.size() > 107)
            detail::bad_host(value, fmt::format("the socket path is {} bytes; a unix socket path is at most 107",
                                                rest.size()));
        return endpoint::unix_socket(std::string(rest));
    }
    if (scheme == "tcp") {
        auto authority = rest;
        if (const auto slash = authority.find('/'); slash != std::string_view::npos) {
            if (authority.substr(slash) != "/")
                detail::bad_host(value, fmt::format("a path ({}) is not supported after tcp://host:port",
                                                    rtb::detail::ref::quote(authority.substr(slash))));
            authority = authority.substr(0, slash);
        }
        if (authority.find_first_of("@?#") != std::string_view::npos)
            detail::bad_host(value, "user information, queries and fragments are not allowed");
        std::string_view host = authority, port;
        if (authority.starts_with('[')) {
            const auto close = authority.find(']');
            if (close == std::string_view::npos) detail::bad_host(value, "unterminated '[' in an IPv6 address");
            host = authority.substr(0, close + 1);
            const auto tail = authority.substr(close + 1);
            if (!tail.empty()) {
                if (tail[0] != ':') detail::bad_host(value, "expected ':port' after the IPv6 address");
                port = tail.substr(1);
            }
            if (host.size() == 2) detail::bad_host(value, "empty IPv6 address");
        } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
            if (host.find(':') != std::string_view::npos)
                detail::bad_host(value, "an IPv6 address must be written in brackets: tcp://[::1]:2375");
        }
        for (char c : host)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '[' ||
                  c == ']' || c == ':'))
                detail::bad_host(value, fmt::format("invalid character {} in the host name",
                                                    rtb::detail::ref::quote(std::string_view(&c, 1))));
        int port_number = 2375;
        if (!port.empty() || authority.ends_with(':')) {
            if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
                detail::bad_host(value, fmt::format("port {} is not a number from 1 to 65535",
                                                    rtb::detail::ref::quote(port)));
            port_number = std::stoi(std::string(port));
            if (port_number < 1 || port_number > 65535)
                detail::bad_host(value, fmt::format("port {} is not a number from 1 to 65535", port_number));
        }
        return endpoint::tcp(host.empty() ? std::string("localhost") : std::string(host), port_number, tls);
    }
    if (scheme == "ssh")
        detail::bad_host(value, "ssh:// is not an HTTP endpoint; use the docker_cli transport, which runs ssh");
    if (scheme == "npipe" || scheme == "fd")
        detail::bad_host(value, fmt::format("{}:// endpoints do not exist on this platform", scheme));
    detail::bad_host(value, fmt::format("unknown scheme {}; expected unix:// or tcp://", rtb::detail::ref::quote(scheme)));
}

/// Reads an environment variable; tests pass their own.
using env_lookup = std::function<const char*(const char*)>;

/// The endpoint the docker CLI would use: DOCKER_HOST (default: the CLI's
/// default socket); for tcp://, TLS when DOCKER_TLS_VERIFY or DOCKER_TLS is
/// non-empty (any value, "0" included, as the CLI does), verification only
/// with DOCKER_TLS_VERIFY; certificates from DOCKER_CERT_PATH (default
/// ~/.docker): ca.pem, cert.pem, key.pem, each used when it exists.
inline endpoint endpoint_from_env(const env_lookup& getenv = [](const char* n) { return std::getenv(n); }) {
    auto get = [&](const char* name) -> std::string_view {
        const char* v = getenv(name);
        return v ? std::string_view(v) : std::string_view{};
    };
    tls_options tls;
    const bool verify = !get("DOCKER_TLS_VERIFY").empty();
    tls.enabled = verify || !get("DOCKER_TLS").empty();
    tls.verify = verify;
    if (tls.enabled) {
        std::filesystem::path dir = get("DOCKER_CERT_PATH");
        if (dir.empty()) {
            const auto home = get("HOME");
            if (!home.empty()) dir = std::filesystem::path(home) / ".docker";
        }
        if (!dir.empty()) {
            tls.cert_dir = dir;
            std::error_code ec;
            if (verify && std::filesystem::exists(dir / "ca.pem", ec)) tls.ca_file = dir / "ca.pem";
            if (std::filesystem::exists(dir / "cert.pem", ec) && std::filesystem::exists(dir / "key.pem", ec)) {
                tls.cert_file = dir / "cert.pem";
                tls.key_file = dir / "key.pem";
            }
        }
    }
    return parse_docker_host(get("DOCKER_HOST"), tls);
}

// ------------------------------------------------------ requests and answers

/// Fills `buffer` with the next bytes of a request body and returns how many
/// it wrote; 0 ends the body. Called on the sending thread; may throw (the
/// request is aborted and the exception rethrown from client::send).
using body_reader = std::function<std::size_t(std::span<std::byte> buffer)>;

/// Receives a successful answer's body as it arrives, chunk by chunk (chunks
/// split anywhere, even inside a UTF-8 sequence or a JSON line). An error
/// answer's body is kept for the error message instead. May throw.
using chunk_sink = std::function<void(std::string_view chunk)>;

/// A header. Values are never written to errors or logs (X-Registry-Auth and
/// Authorization carry secrets).
struct header_field {
    std::string name, value;
};

struct response;

/// One HTTP request.
struct request {
    request() = default;
    request(std::string method_, std::string target_) : method(std::move(method_)), target(std::move(target_)) {}

    std::string method = "GET";
    std::string target;                     ///< origin-form: "/v1.41/images/json?all=1"
    std::vector<header_field> headers;
    std::string body;                       ///< a small body (JSON); unused when `reader` is set
    body_reader reader;                     ///< a streamed body, sent chunked unless body_size is known
    std::optional<std::uint64_t> body_size; ///< the streamed body's length, when known
    chunk_sink on_data;                     ///< stream a 2xx body here instead of into response::body
    /// Called once the final answer's status line and headers are in, before
    /// its body: a long-poll (POST /containers/{id}/wait) is registered
    /// server-side by then. May throw (the request is aborted).
    std::function<void(const response&)> on_headers;
    std::optional<std::chrono::milliseconds> timeout;  ///< overrides client::options::timeout; 0: none
};

/// One HTTP answer.
struct response {
    int status = 0;
    std::vector<header_field> headers;
    std::string body;  ///< the body, unless it went to request::on_data

    /// The first header of that name (case-insensitive).
    std::optional<std::string_view> header(std::string_view name) const {
        for (const auto& h : headers)
            if (std::ranges::equal(h.name, name, [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                }))
                return std::string_view(h.value);
        return std::nullopt;
    }
};

// ----------------------------------------------------------- error mapping

/// A Retry-After value as a delay: delta-seconds, or an HTTP-date (a date in
/// the past is 0). std::nullopt for anything else. Capped at one day, so a
/// hostile value cannot park a client forever.
inline std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    constexpr std::chrono::milliseconds cap = std::chrono::hours(24);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (value.find_first_not_of("0123456789") == std::string_view::npos) {
        std::uint64_t seconds = 0;
        for (char c : value) {
            seconds = seconds * 10 + static_cast<std::uint64_t>(c - '0');
            if (seconds > 86'400) return cap;
        }
        return std::chrono::seconds(seconds);
    }
    const auto when = rtb::detail::parse_http_date(value);
    if (!when) return std::nullopt;
    // Compared in seconds: a date centuries ahead would overflow the clock's
    // nanoseconds (found by fuzzing).
    const auto now_s = std::chrono::floor<std::chrono::seconds>(now);
    if (*when <= now_s) return std::chrono::milliseconds(0);
    if (*when - now_s >= std::chrono::duration_cast<std::chrono::seconds>(cap)) return cap;
    return std::chrono::duration_cast<std::chrono::milliseconds>(*when - now_s);
}

/// What a server said in an error body: Docker's and Podman's {"message":...},
/// an OCI registry's {"errors":[{"message":...}]}, or else the text itself,
/// made printable and cut to 300 bytes.
std::string server_message(std::string_view body);

/// The rtb::error for an HTTP answer of status >= 400. `what` says what was
/// being done, with the endpoint ("inspecting image \"x\" on unix socket
/// /run/docker.sock"); the server's own message follows. 401/403
/// unauthorized, 404 not_found, 429 rate_limited, 5xx server_error; the
/// status is attached, and a 429's or 503's Retry-After (seconds or an
/// HTTP-date) as error::retry_after(); other 4xx are invalid_argument
/// (the request was refused as malformed).
inline error error_for_status(int status, std::string_view what, std::string_view message,
                              std::optional<std::string_view> retry_after = std::nullopt,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    errc code;
    if (status == 401 || status == 403) code = errc::unauthorized;
    else if (status == 404) code = errc::not_found;
    else if (status == 429) code = errc::rate_limited;
    else if (status >= 500) code = errc::server_error;
    else code = errc::invalid_argument;
    std::string text = fmt::format("{}: HTTP {}", what, status);
    if (!message.empty()) text += fmt::format(": {}", message);
    error e(code, std::move(text));
    e.with_http_status(status);
    if ((status == 429 || status == 503) && retry_after) {  // RFC 9110 section 10.2.3
        if (auto d = parse_retry_after(*retry_after, now)) e.with_retry_after(*d);
    }
    return e;
}

/// Throws error_for_status for an answer of status >= 400; returns otherwise.
inline void throw_for_status(const response& r, std::string_view what) {
    if (r.status < 400) return;
    throw error_for_status(r.status, what, server_message(r.body), r.header("Retry-After"));
}

// ------------------------------------------------------------------ client

/// Limits of a client.
struct client_options {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds timeout{0};                ///< per request, 0: none (builds, pulls)
    std::size_t max_body = std::size_t{64} << 20;       ///< a kept (not streamed) body larger than this is an error
    std::size_t max_error_body = std::size_t{64} << 10;  ///< error bodies are cut here
    /// A transfer that moves no byte (either way) for this long fails with
    /// errc::timeout ("stalled"); 0: no limit. Unlike `timeout`, a slow but
    /// live answer (a build's log, a big pull) never trips it. While the
    /// answer's head arrives, progress is seen a whole header line at a time.
    std::chrono::milliseconds stall_timeout{0};
};

/// An HTTP/1.1 client bound to one endpoint. Keeps its connection open
/// between requests (libcurl's connection cache). Not thread-safe: one
/// client per thread; move it, don't share it.
class client {
public:
    using options = client_options;

    explicit client(endpoint where, options opts = {}) : where_(std::move(where)), opts_(opts) {
        rtb::detail::curl::global_init();
        easy_.reset(curl_easy_init());
        multi_.reset(curl_multi_init());
        if (!easy_ || !multi_) throw error(errc::io_error, "libcurl could not create a handle");
        base_url_ = where_.base_url();
    }

    const endpoint& where() const noexcept { return where_; }

    /// Sends `r` and returns the answer, whatever its status (see
    /// throw_for_status). Throws connection_failed (naming the endpoint),
    /// timeout, cancelled (when `stop` is requested: the transfer is dropped
    /// at once, its connection closed), parse_error (not HTTP), and whatever
    /// the body reader or chunk sink threw.
    response send(const request& r, std::stop_token stop = {});

private:
    struct transfer;
    static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self) noexcept;
    static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* self) noexcept;
    static std::size_t on_read(char* data, std::size_t size, std::size_t n, void* self) noexcept;
    static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept;
    [[noreturn]] void fail(const request& r, transfer& t, CURLcode code);

    endpoint where_;
    options opts_;
    std::string base_url_;
    rtb::detail::curl::easy_ptr easy_;
    rtb::detail::curl::multi_ptr multi_;
};

struct client::transfer {
    const request* req = nullptr;
    const options* opts = nullptr;
    response resp;
    std::stop_token stop;
    std::exception_ptr failure;  // thrown by a callback, rethrown after the transfer
    bool too_large = false;
    bool got_status = false;
    bool stalled = false;
    curl_off_t moved = -1;  // bytes down + up at the last progress call
    curl_off_t header_bytes = 0;  // answer head bytes (curl's dlnow counts the body only)
    std::chrono::steady_clock::time_point last_motion = std::chrono::steady_clock::now();
    bool headers_done = false;
    char errbuf[CURL_ERROR_SIZE] = {};
};

inline std::size_t client::on_header(char* data, std::size_t size, std::size_t n, void* self) noexcept {
    auto& t = *static_cast<transfer*>(self);
    const std::size_t len = size * n;
    t.header_bytes += static_cast<curl_off_t>(len);
    try {
        std::string_view line(data, len);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        if (line.starts_with("HTTP/")) {  // a new answer (after 100 Continue, too)
            t.resp.headers.clear();
            const auto sp = line.find(' ');
            int status = 0;
            if (sp != std::string_view::npos)
                for (std::size_t i = sp + 1; i < line.size() && i < sp + 4 && line[i] >= '0' && line[i] <= '9'; ++i)
                    status = status * 10 + (line[i] - '0');
            t.resp.status = status;
            t.got_status = true;
        } else if (line.empty()) {  // the end of a header block
            if (t.resp.status >= 200 && !t.headers_done) {
                t.headers_done = true;  // once: trailers end with an empty line too
                if (t.req->on_headers) t.req->on_headers(t.resp);
            }
        } else if (const auto colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
            auto value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
            if (t.resp.headers.size() < 1000)
                t.resp.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
        }
        return len;
    } catch (...) {
        t.failure = std::current_exception();
        return 0;
    }
}

inline std::size_t client::on_write(char* data, std::size_t size, std::size_t n, void* self) noexcept {
    auto& t = *static_cast<transfer*>(self);
    const std::size_t len = size * n;
    try {
        const std::string_view chunk(data, len);
        const bool ok = t.resp.status >= 200 && t.resp.status < 300;
        if (ok && t.req->on_data) {
            t.req->on_data(chunk);
        } else if (!ok) {
            const auto room = t.opts->max_error_body - std::min(t.opts->max_error_body, t.resp.body.size());
            t.resp.body.append(chunk.substr(0, room));
        } else {
            if (t.resp.body.size() + len > t.opts->max_body) {
                t.too_large = true;
                return 0;
            }
            t.resp.body.append(chunk);
        }
        return len;
    } catch (...) {
        t.failure = std::current_exception();
        return 0;
    }
}

inline std::size_t client::on_read(char* data, std::size_t size, std::size_t n, void* self) noexcept {
    auto& t = *static_cast<transfer*>(self);
    try {
        if (t.stop.stop_requested()) return CURL_READFUNC_ABORT;
        const std::size_t got = t.req->reader(std::span<std::byte>(reinterpret_cast<std::byte*>(data), size * n));
        return std::min(got, size * n);
    } catch (...) {
        t.failure = std::current_exception();
        return CURL_READFUNC_ABORT;
    }
}

inline int client::on_progress(void* self, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) noexcept {
    auto& t = *static_cast<transfer*>(self);
    if (t.stop.stop_requested()) return 1;
    if (t.opts->stall_timeout.count() > 0) {
        const auto now = std::chrono::steady_clock::now();
        if (const auto moved = dlnow + ulnow + t.header_bytes; moved != t.moved) {
            t.moved = moved;
            t.last_motion = now;
        } else if (now - t.last_motion >= t.opts->stall_timeout) {
            t.stalled = true;
            return 1;
        }
    }
    return 0;
}

inline response client::send(const request& r, std::stop_token stop) {
    const auto describe = [&] { return fmt::format("{} {} on {}", r.method, r.target, where_.describe()); };
    if (stop.stop_requested()) throw error(errc::cancelled, fmt::format("{}: cancelled before it was sent", describe()));
    if (r.target.empty() || r.target.front() != '/')
        throw error(errc::invalid_argument, fmt::format("request target {} must start with '/'",
                                                        rtb::detail::ref::quote(r.target)));
    for (unsigned char c : r.target)
        if (c <= 0x20 || c >= 0x7f)
            throw error(errc::invalid_argument,
                        fmt::format("request target {} has a space, control or non-ASCII byte; encode it",
                                    rtb::detail::ref::quote(r.target)));
    for (const auto& h : r.headers)
        for (unsigned char c : h.name + h.value)
            if (c == '\r' || c == '\n' || c == 0)
                throw error(errc::invalid_argument,
                            fmt::format("header {} contains a line break or NUL", rtb::detail::ref::quote(h.name)));

    CURL* e = easy_.get();
    curl_easy_reset(e);
    transfer t;
    t.req = &r;
    t.opts = &opts_;
    t.stop = stop;

    const std::string url = base_url_ + r.target;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
    const auto total = r.timeout.value_or(opts_.timeout);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
    if (where_.type == endpoint::kind::unix_socket) {
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, where_.socket_path.c_str());
        curl_easy_setopt(e, CURLOPT_PROXY, "");  // no proxy between us and a local socket
    } else if (where_.tls.enabled) {
        const auto& tls = where_.tls;
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2L : 0L);
        if (!tls.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, tls.ca_file.c_str());
        if (!tls.cert_file.empty()) curl_easy_setopt(e, CURLOPT_SSLCERT, tls.cert_file.c_str());
        if (!tls.key_file.empty()) curl_easy_setopt(e, CURLOPT_SSLKEY, tls.key_file.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &client::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &client::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &client::on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &t);

    rtb::detail::curl::slist_ptr headers;
    std::string line;
    for (const auto& h : r.headers) {
        line = h.name + ": " + h.value;
        rtb::detail::curl::append(headers, line.c_str());
    }
    rtb::detail::curl::append(headers, "Expect:");  // no 100-continue round trip
    line = fmt::format("User-Agent: rtb/{}", rtb::version_string);
    rtb::detail::curl::append(headers, line.c_str());

    const bool has_body = static_cast<bool>(r.reader) || !r.body.empty();
    if (r.method == "HEAD") {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r.method == "POST" || has_body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (r.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
        if (r.reader) {
            curl_easy_setopt(e, CURLOPT_READFUNCTION, &client::on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, &t);
            if (r.body_size) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(*r.body_size));
            } else {
                rtb::detail::curl::append(headers, "Transfer-Encoding: chunked");
            }
        } else {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.c_str());
        }
    } else if (r.method != "GET") {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());

    // Run the transfer on our multi handle, so a stop request can wake the
    // wait at once (curl_multi_wakeup is thread-safe), not after curl's
    // next progress tick.
    CURLM* m = multi_.get();
    if (curl_multi_add_handle(m, e) != CURLM_OK) throw error(errc::io_error, "libcurl refused a transfer");
    struct remove_on_exit {
        CURLM* m;
        CURL* e;
        ~remove_on_exit() { curl_multi_remove_handle(m, e); }
    } guard{m, e};
    std::stop_callback wake(stop, [m] { curl_multi_wakeup(m); });

    CURLcode result = CURLE_OK;
    bool cancelled = false;
    for (;;) {
        int running = 0;
        if (const auto mc = curl_multi_perform(m, &running); mc != CURLM_OK)
            throw error(errc::io_error, fmt::format("{}: libcurl: {}", describe(), curl_multi_strerror(mc)));
        if (running == 0) {
            int left = 0;
            while (CURLMsg* msg = curl_multi_info_read(m, &left))
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) result = msg->data.result;
            break;
        }
        if (stop.stop_requested()) {
            cancelled = true;
            break;
        }
        // Wake often enough for the stall check to be on time.
        const int wait_ms = opts_.stall_timeout.count() > 0
                                ? static_cast<int>(std::clamp<std::int64_t>(opts_.stall_timeout.count() / 4, 1, 1000))
                                : 1000;
        if (const auto mc = curl_multi_poll(m, nullptr, 0, wait_ms, nullptr); mc != CURLM_OK)
            throw error(errc::io_error, fmt::format("{}: libcurl: {}", describe(), curl_multi_strerror(mc)));
    }
    if (t.failure) std::rethrow_exception(t.failure);
    if (cancelled || (result == CURLE_ABORTED_BY_CALLBACK && stop.stop_requested()))
        throw error(errc::cancelled, fmt::format("{}: cancelled", describe()));
    if (result == CURLE_ABORTED_BY_CALLBACK && t.stalled)
        throw error(errc::timeout, fmt::format("{}: stalled: no data moved for {} ms{}", describe(),
                                               opts_.stall_timeout.count(),
                                               t.got_status ? "" : " (no answer yet)"));
    if (result != CURLE_OK) fail(r, t, result);
    return std::move(t.resp);
}

inline void client::fail(const request& r, transfer& t, CURLcode code) {
    CURL* e = easy_.get();
    const std::string where = where_.describe();
    const std::string what = fmt::format("{} {}", r.method, r.target);
    const std::string detail = t.errbuf[0] ? std::string(t.errbuf) : std::string(curl_easy_strerror(code));
    long os_errno = 0;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
    if (where_.type == endpoint::kind::tcp && where_.tls.enabled) {
        // A certificate problem says which file was wrong and how; it is the
        // setup's fault, not a passing one (never retried), and the request
        // is never sent again without TLS.
        const rtb::detail::tls::files files{where_.tls.ca_file, where_.tls.cert_file, where_.tls.key_file,
                                       where_.tls.cert_dir};
        switch (code) {
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SEND_ERROR:
            case CURLE_RECV_ERROR:
            case CURLE_GOT_NOTHING:
                if (auto m = rtb::detail::tls::explain(detail, files, where)) throw error(errc::invalid_argument, *m);
                break;
            case CURLE_SSL_CERTPROBLEM:
                throw error(errc::invalid_argument,
                            fmt::format("the client certificate {} or its key {} for {} cannot be used: {}",
                                        where_.tls.cert_file.string(), where_.tls.key_file.string(), where, detail));
            case CURLE_SSL_CACERT_BADFILE:
                throw error(errc::invalid_argument,
                            fmt::format("the CA file {} for {} cannot be read or holds no certificate: {}",
                                        where_.tls.ca_file.string(), where, detail));
            default:
                break;
        }
    }
    switch (code) {
        case CURLE_OPERATION_TIMEDOUT: {
            if (!t.got_status) {
                curl_off_t connect_us = 0;
                curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect_us);
                if (connect_us == 0)
                    throw error(errc::timeout, fmt::format("connecting to {} timed out after {} ms", where,
                                                           opts_.connect_timeout.count()));
            }
            const auto total = r.timeout.value_or(opts_.timeout);
            throw error(errc::timeout,
                        fmt::format("{} on {} did not finish within {} ms", what, where, total.count()));
        }
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: {
            std::string reason = os_errno ? std::string(std::strerror(static_cast<int>(os_errno))) : detail;
            std::string hint;
            if (where_.type == endpoint::kind::unix_socket)
                hint = " (is the engine running? DOCKER_HOST selects another endpoint)";
            throw error(errc::connection_failed, fmt::format("cannot connect to {}: {}{}", where, reason, hint));
        }
        case CURLE_GOT_NOTHING:
            throw error(errc::connection_failed,
                        fmt::format("{} closed the connection without answering {}", where, what));
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
            throw error(errc::connection_failed,
                        fmt::format("connection to {} lost during {}: {}", where, what, detail));
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            throw error(errc::parse_error,
                        fmt::format("{} did not answer {} with valid HTTP: {}", where, what, detail));
        case CURLE_WRITE_ERROR:
            if (t.too_large)
                throw error(errc::parse_error, fmt::format("{} on {}: the answer is larger than {} bytes", what,
                                                           where, opts_.max_body));
            break;
        case CURLE_ABORTED_BY_CALLBACK:
        case CURLE_READ_ERROR:
            throw error(errc::io_error, fmt::format("{} on {}: the request body could not be read", what, where));
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CIPHER:
            throw error(errc::invalid_argument,
                        fmt::format("the TLS files for {} are unusable (ca {}, cert {}, key {}): {}", where,
                                    where_.tls.ca_file.string(), where_.tls.cert_file.string(),
                                    where_.tls.key_file.string(), detail));
        case CURLE_SSL_CONNECT_ERROR:
            throw error(errc::connection_failed, fmt::format("TLS with {} failed: {}", where, detail));
        case CURLE_PEER_FAILED_VERIFICATION:
            throw error(errc::invalid_argument, fmt::format("TLS with {} failed: {}", where, detail));
        default:
            break;
    }
    throw error(errc::connection_failed, fmt::format("{} on {} failed: {}", what, where, detail));
}

}  // namespace rtb::http

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/http.ipp"
#endif
