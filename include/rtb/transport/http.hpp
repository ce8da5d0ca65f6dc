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
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"
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
RTB_DECL std::string mask_userinfo(std::string_view url);

}  // namespace detail

/// Parses a DOCKER_HOST value as the docker CLI does: `unix:///path`
/// (`unix://` alone: the default socket), `tcp://host[:port]` (host default
/// localhost, port default 2375; only an empty path or "/"), an empty value
/// for the default socket. `tls` applies to tcp:// only. ssh://, npipe:// and
/// fd:// are not HTTP endpoints and are refused with a hint.
RTB_DECL endpoint parse_docker_host(std::string_view value, const tls_options& tls = {});

/// Reads an environment variable; tests pass their own.
using env_lookup = std::function<const char*(const char*)>;

/// The endpoint the docker CLI would use: DOCKER_HOST (default: the CLI's
/// default socket); for tcp://, TLS when DOCKER_TLS_VERIFY or DOCKER_TLS is
/// non-empty (any value, "0" included, as the CLI does), verification only
/// with DOCKER_TLS_VERIFY; certificates from DOCKER_CERT_PATH (default
/// ~/.docker): ca.pem, cert.pem, key.pem, each used when it exists.
RTB_DECL endpoint endpoint_from_env(const env_lookup& getenv = [](const char* n) { return std::getenv(n); });

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
RTB_DECL std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

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
RTB_DECL error error_for_status(int status, std::string_view what, std::string_view message,
                                std::optional<std::string_view> retry_after = std::nullopt,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Throws error_for_status for an answer of status >= 400; returns otherwise.
RTB_DECL void throw_for_status(const response& r, std::string_view what);

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

    explicit client(endpoint where, options opts = {});

    const endpoint& where() const noexcept { return where_; }

    /// Sends `r` and returns the answer, whatever its status (see
    /// throw_for_status). Throws connection_failed (naming the endpoint),
    /// timeout, cancelled (when `stop` is requested: the transfer is dropped
    /// at once, its connection closed), parse_error (not HTTP), and whatever
    /// the body reader or chunk sink threw.
    response send(const request& r, std::stop_token stop = {});

private:
    // libcurl's handles, owned through types this header can name without
    // <curl/curl.h> (a CURL and a CURLM are void to libcurl's users too).
    struct easy_cleanup {
        RTB_DECL void operator()(void* handle) const noexcept;
    };
    struct multi_cleanup {
        RTB_DECL void operator()(void* handle) const noexcept;
    };
    struct transfer;
    [[noreturn]] void fail(const request& r, transfer& t, int curl_code);

    endpoint where_;
    options opts_;
    std::string base_url_;
    std::unique_ptr<void, easy_cleanup> easy_;
    std::unique_ptr<void, multi_cleanup> multi_;
};

}  // namespace rtb::http

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/http.ipp"
#include "rtb/transport/impl/http_client.ipp"
#endif
