// Parsing what a registry says when it wants credentials: WWW-Authenticate
// challenges (RFC 9110 section 11.6.1) and the absolute URLs they name (the
// Bearer realm). Both come from the network, so the parsers are strict,
// bounded and never throw on bad input: a malformed header yields what could
// be read safely, a malformed URL yields nothing. Internal; pure functions.
#pragma once

#include <cctype>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtb::detail {

/// One challenge: "Bearer realm="https://auth.example/token",service="reg"".
struct auth_challenge {
    std::string scheme;                         ///< lowercased: "bearer", "basic"
    std::map<std::string, std::string> params;  ///< names lowercased, values unquoted
    std::string token68;                        ///< the rare token68 form, when used

    std::string param(std::string_view name) const {
        const auto it = params.find(std::string(name));
        return it == params.end() ? std::string() : it->second;
    }
};

namespace challenge_parse {

constexpr std::size_t max_header = 8192;    ///< longer headers are not parsed at all
constexpr std::size_t max_challenges = 16;
constexpr std::size_t max_params = 32;      ///< per challenge

constexpr bool tchar(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
constexpr bool token68_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~+/").find(c) != std::string_view::npos;
}

struct cursor {
    std::string_view s;
    std::size_t pos = 0;
    bool end() const noexcept { return pos >= s.size(); }
    char peek() const noexcept { return end() ? '\0' : s[pos]; }
    void skip_ws() noexcept {
        while (!end() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
    }
    std::string_view token() noexcept {
        const auto start = pos;
        while (!end() && tchar(s[pos])) ++pos;
        return s.substr(start, pos - start);
    }
    /// A quoted-string at pos (opening quote included); std::nullopt when
    /// unterminated or holding a control character.
    std::optional<std::string> quoted() {
        if (peek() != '"') return std::nullopt;
        ++pos;
        std::string out;
        while (!end()) {
            char c = s[pos++];
            if (c == '"') return out;
            if (c == '\\') {
                if (end()) return std::nullopt;
                c = s[pos++];
            }
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return std::nullopt;
            out += c;
        }
        return std::nullopt;
    }
};

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace challenge_parse

/// Parses a WWW-Authenticate value into its challenges, in order. Several
/// challenges may share one header, separated by commas like their
/// parameters. Malformed input ends the parse: the challenges read fully
/// before it are returned, the one it broke is dropped (so a half-read
/// realm is never used). A challenge that repeats a parameter is dropped.
inline std::vector<auth_challenge> parse_challenges(std::string_view header) {
    using namespace challenge_parse;
    std::vector<auth_challenge> out;
    if (header.size() > max_header) return out;
    cursor c{header};
    for (;;) {
        while (!c.end() && (c.peek() == ' ' || c.peek() == '\t' || c.peek() == ',')) ++c.pos;
        if (c.end() || out.size() >= max_challenges) return out;
        const auto scheme = c.token();
        if (scheme.empty()) return out;
        auth_challenge ch;
        ch.scheme = lower(scheme);
        bool duplicate = false;
        // After the scheme: nothing, a comma (next challenge), or a space and
        // then a token68 or a list of parameters.
        if (!c.end() && c.peek() != ',' && c.peek() != ' ' && c.peek() != '\t') return out;
        c.skip_ws();
        bool first = true;
        for (;;) {
            const auto item_start = c.pos;
            if (!first) {
                // parameters are comma-separated; an empty list element is allowed
                c.skip_ws();
                if (c.peek() != ',') {
                    c.pos = item_start;
                    break;
                }
                while (!c.end() && (c.peek() == ',' || c.peek() == ' ' || c.peek() == '\t')) ++c.pos;
            }
            if (c.end()) break;
            const auto name_start = c.pos;
            const auto name = c.token();
            c.skip_ws();
            if (name.empty() || c.peek() != '=') {
                if (first) {
                    // token68: [A-Za-z0-9-._~+/]+ =*, alone after the scheme
                    c.pos = name_start;
                    const auto t_start = c.pos;
                    while (!c.end() && token68_char(c.peek())) ++c.pos;
                    while (!c.end() && c.peek() == '=') ++c.pos;
                    const auto t = header.substr(t_start, c.pos - t_start);
                    c.skip_ws();
                    if (!t.empty() && (c.end() || c.peek() == ',')) {
                        ch.token68 = std::string(t);
                        break;
                    }
                    if (t.empty() && (c.end() || c.peek() == ',')) break;
                    return out;  // neither parameters nor a token68
                }
                // the start of the next challenge ("..., Basic realm=...")
                c.pos = item_start;
                break;
            }
            ++c.pos;  // '='
            c.skip_ws();
            std::string value;
            if (c.peek() == '"') {
                auto q = c.quoted();
                if (!q) return out;
                value = std::move(*q);
            } else {
                const auto v = c.token();
                if (v.empty()) return out;
                value = std::string(v);
            }
            if (ch.params.size() >= max_params) return out;
            if (!ch.params.emplace(lower(name), std::move(value)).second) duplicate = true;
            first = false;
        }
        if (!duplicate) out.push_back(std::move(ch));
    }
}

/// An absolute http(s) URL, split: "https://auth.example:8443/token?x=1".
struct url_parts {
    bool https = true;
    std::string host;  ///< a name, an IPv4 address or a bracketed IPv6 address
    int port = 0;      ///< the explicit port, or 443 / 80
    std::string path;  ///< origin-form: path and query, at least "/"
};

/// Parses an absolute http:// or https:// URL. Refuses (std::nullopt) user
/// information, fragments, bytes outside printable ASCII, spaces, empty or
/// invalid hosts and ports outside 1-65535.
inline std::optional<url_parts> parse_url(std::string_view u) {
    if (u.size() > 2048) return std::nullopt;
    for (unsigned char c : u)
        if (c <= 0x20 || c >= 0x7f) return std::nullopt;
    url_parts p;
    const auto lower_prefix = [&](std::string_view prefix) {
        if (u.size() < prefix.size()) return false;
        for (std::size_t i = 0; i < prefix.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(u[i])) != prefix[i]) return false;
        return true;
    };
    if (lower_prefix("https://")) {
        u.remove_prefix(8);
    } else if (lower_prefix("http://")) {
        p.https = false;
        u.remove_prefix(7);
    } else {
        return std::nullopt;
    }
    if (u.find('#') != std::string_view::npos) return std::nullopt;
    const auto path_start = u.find_first_of("/?");
    auto authority = u.substr(0, path_start);
    p.path = path_start == std::string_view::npos ? "/" : std::string(u.substr(path_start));
    if (p.path.front() == '?') p.path.insert(0, "/");
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view host = authority, port;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return std::nullopt;
        for (char c : authority.substr(1, close - 1))
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return std::nullopt;
        host = authority.substr(0, close + 1);
        const auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
            if (port.empty()) return std::nullopt;
        }
    } else {
        if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
            if (port.empty()) return std::nullopt;
        }
        if (host.empty()) return std::nullopt;
        for (char c : host)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return std::nullopt;
    }
    p.port = p.https ? 443 : 80;
    if (!port.empty()) {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        int v = 0;
        for (char c : port) v = v * 10 + (c - '0');
        if (v < 1 || v > 65535) return std::nullopt;
        p.port = v;
    }
    p.host = std::string(host);
    for (auto& c : p.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return p;
}

/// Whether a host (as in url_parts::host or an image_ref registry without
/// its port) is this machine: localhost, 127.0.0.0/8 or [::1].
inline bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "[::1]" || host == "::1") return true;
    if (!host.starts_with("127.")) return false;
    int dots = 0;
    for (char c : host) {
        if (c == '.') ++dots;
        else if (c < '0' || c > '9') return false;
    }
    return dots == 3;
}

}  // namespace rtb::detail
