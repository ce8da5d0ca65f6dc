// http::client's member functions (rtb/transport/http.hpp), on libcurl:
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so that neither libcurl's headers nor the TLS
// diagnosis (OpenSSL) reach a unit that only holds a client.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include <curl/curl.h>
#include <fmt/format.h>

#include "rtb/detail/config.hpp"
#include "rtb/transport/detail/curl.hpp"
#include "rtb/transport/detail/tls_diagnosis.hpp"
#include "rtb/transport/http.hpp"
#include "rtb/version.hpp"

namespace rtb::http {

RTB_DECL void client::easy_cleanup::operator()(void* handle) const noexcept { curl_easy_cleanup(handle); }

RTB_DECL void client::multi_cleanup::operator()(void* handle) const noexcept { curl_multi_cleanup(handle); }

RTB_DECL client::client(endpoint where, options opts) : where_(std::move(where)), opts_(opts) {
    rtb::detail::curl::global_init();
    easy_.reset(curl_easy_init());
    multi_.reset(curl_multi_init());
    if (!easy_ || !multi_) throw error(errc::io_error, "libcurl could not create a handle");
    base_url_ = where_.base_url();
}

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

    // libcurl's callbacks; `self` is the transfer.
    static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self) noexcept;
    static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* self) noexcept;
    static std::size_t on_read(char* data, std::size_t size, std::size_t n, void* self) noexcept;
    static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept;
};

inline std::size_t client::transfer::on_header(char* data, std::size_t size, std::size_t n, void* self) noexcept {
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

inline std::size_t client::transfer::on_write(char* data, std::size_t size, std::size_t n, void* self) noexcept {
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

inline std::size_t client::transfer::on_read(char* data, std::size_t size, std::size_t n, void* self) noexcept {
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

inline int client::transfer::on_progress(void* self, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) noexcept {
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

RTB_DECL response client::send(const request& r, std::stop_token stop) {
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

    CURL* e = static_cast<CURL*>(easy_.get());
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
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &transfer::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &transfer::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &transfer::on_progress);
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
            curl_easy_setopt(e, CURLOPT_READFUNCTION, &transfer::on_read);
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
    CURLM* m = static_cast<CURLM*>(multi_.get());
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
    if (result != CURLE_OK) fail(r, t, static_cast<int>(result));
    return std::move(t.resp);
}

RTB_DECL void client::fail(const request& r, transfer& t, int curl_code) {
    const auto code = static_cast<CURLcode>(curl_code);
    CURL* e = static_cast<CURL*>(easy_.get());
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
