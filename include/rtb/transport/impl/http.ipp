// The HTTP layer's functions (rtb/transport/http.hpp; the client's are in
// http_client.ipp): included by that header (header-only) or compiled once by
// <rtb/src.hpp> (RTB_SEPARATE_COMPILATION), so the parsers, and simdjson,
// stay out of the units that use the layer.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/http.hpp"

namespace rtb::http {

RTB_DECL std::string server_message(std::string_view body) {
    auto printable_cut = [](std::string_view s) {
        std::string out;
        for (unsigned char c : s.substr(0, 300)) {
            if (c == '\n' || c == '\r' || c == '\t') out += ' ';
            else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
            else out += static_cast<char>(c);
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        if (s.size() > 300) out += "...";
        return out;
    };
    const auto first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] == '{') {
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS) {
            std::string_view m;
            if (doc["message"].get_string().get(m) == simdjson::SUCCESS) return printable_cut(m);
            simdjson::dom::array errors;
            if (doc["errors"].get_array().get(errors) == simdjson::SUCCESS) {
                std::string all;
                for (auto e : errors) {
                    if (e["message"].get_string().get(m) != simdjson::SUCCESS) continue;
                    if (!all.empty()) all += "; ";
                    all += m;
                }
                if (!all.empty()) return printable_cut(all);
            }
        }
    }
    return printable_cut(body);
}


namespace detail {

RTB_DECL std::string mask_userinfo(std::string_view url) {
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

RTB_DECL endpoint parse_docker_host(std::string_view value, const tls_options& tls) {
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

RTB_DECL endpoint endpoint_from_env(const env_lookup& getenv) {
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

RTB_DECL std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
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

RTB_DECL error error_for_status(int status, std::string_view what, std::string_view message,
                                std::optional<std::string_view> retry_after,
                                std::chrono::system_clock::time_point now) {
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

RTB_DECL void throw_for_status(const response& r, std::string_view what) {
    if (r.status < 400) return;
    throw error_for_status(r.status, what, server_message(r.body), r.header("Retry-After"));
}

}  // namespace rtb::http
