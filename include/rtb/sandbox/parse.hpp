// The docker run spellings of a container_spec's parts, parsed: --env K=V,
// --label K=V, --publish [IP:][HOST:]CONTAINER[/PROTO], --mount SRC:DST[:ro],
// --tmpfs DST[:size=..,mode=..]. Pure; each error names the option and the
// value. validate() still checks the assembled spec.
#pragma once

#include <charconv>
#include <optional>
#include <system_error>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/resources.hpp"
#include "rtb/sandbox/container_spec.hpp"
#include "rtb/sandbox/validate.hpp"

namespace rtb {

namespace detail::sandbox {

/// A port number: 1 to 5 digits, at most 65535 (0 only when `zero_ok`).
inline std::optional<int> port_number(std::string_view s, bool zero_ok) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    int v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    if (v > 65535 || (v == 0 && !zero_ok)) return std::nullopt;
    return v;
}

}  // namespace detail::sandbox

/// "K=V" (--env, --label): the name and the value (which may hold '=' and
/// be empty). A bare "K" is refused: rtb does not copy the caller's
/// environment into a sandbox unasked.
inline std::pair<std::string, std::string> parse_assignment(std::string_view text, std::string_view option) {
    const auto eq = text.find('=');
    if (eq == std::string_view::npos)
        detail::bad_value(option, text, "is not NAME=VALUE (a bare NAME is not taken from rtb's own environment)");
    if (eq == 0) detail::bad_value(option, text, "has an empty name");
    return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

/// --publish: "CONTAINER", "HOST:CONTAINER", "IP:HOST:CONTAINER",
/// "IP::CONTAINER" (the engine picks the host port) or "[IPv6]:HOST:CONTAINER",
/// each with an optional "/tcp", "/udp" or "/sctp". The host address is
/// 127.0.0.1 unless given; the host port 0 (the engine's choice) unless given.
inline port_mapping parse_port_mapping(std::string_view text, std::string_view option = "--publish") {
    using detail::sandbox::port_number;
    auto fail = [&](std::string_view why) { detail::bad_value(option, text, why); };
    port_mapping p;
    std::string_view s = text;
    if (const auto slash = s.rfind('/'); slash != std::string_view::npos) {
        const auto proto = s.substr(slash + 1);
        if (proto == "tcp") p.protocol = port_protocol::tcp;
        else if (proto == "udp") p.protocol = port_protocol::udp;
        else if (proto == "sctp") p.protocol = port_protocol::sctp;
        else fail("has an unknown protocol: expected /tcp, /udp or /sctp");
        s = s.substr(0, slash);
    }
    if (s.find('-') != std::string_view::npos) fail("is a port range; publish one port per --publish");
    std::string_view ip, host, container;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            fail("is not [IPv6]:HOST:CONTAINER");
        ip = s.substr(1, close - 1);
        s = s.substr(close + 2);
        const auto colon = s.find(':');
        if (colon == std::string_view::npos) fail("is not [IPv6]:HOST:CONTAINER");
        host = s.substr(0, colon);
        container = s.substr(colon + 1);
    } else {
        const auto last = s.rfind(':');
        if (last == std::string_view::npos) {
            container = s;
        } else {
            container = s.substr(last + 1);
            const auto rest = s.substr(0, last);
            const auto first = rest.rfind(':');
            if (first == std::string_view::npos) {
                host = rest;
                if (host.empty()) fail("has an empty host port: write CONTAINER, HOST:CONTAINER or IP::CONTAINER");
            } else {
                ip = rest.substr(0, first);
                host = rest.substr(first + 1);
                if (ip.find(':') != std::string_view::npos) fail("has an IPv6 address without brackets: [::1]:HOST:CONTAINER");
            }
        }
    }
    const auto c = port_number(container, false);
    if (!c) fail(fmt::format("has container port {}, which is not a port (1..65535)", detail::shown(container)));
    p.container_port = *c;
    if (!host.empty()) {
        const auto h = port_number(host, true);
        if (!h) fail(fmt::format("has host port {}, which is not a port (1..65535)", detail::shown(host)));
        p.host_port = *h;
    }
    if (!ip.empty() || s.starts_with(':')) {
        if (ip.empty()) fail("has an empty host address");
        p.host_ip = std::string(ip);
        if (!detail::sandbox::ip_literal(p.host_ip)) fail(fmt::format("has host address {}, which is not an IP address", detail::shown(ip)));
    }
    return p;
}

/// --mount "SRC:DST[:ro|rw]": an absolute SRC is a bind mount of that host
/// path; a plain name ([a-zA-Z0-9][a-zA-Z0-9_.-]+) is a named volume, as
/// with docker run -v. A relative path ("./data", "data/x") is refused.
inline mount parse_mount(std::string_view text, std::string_view option = "--mount") {
    auto fail = [&](std::string_view why) { detail::bad_value(option, text, why); };
    mount m;
    std::string_view s = text;
    const auto first = s.find(':');
    if (first == std::string_view::npos) fail("is not SOURCE:TARGET[:ro]");
    const auto source = s.substr(0, first);
    auto rest = s.substr(first + 1);
    std::string_view target = rest, mode;
    if (const auto second = rest.find(':'); second != std::string_view::npos) {
        target = rest.substr(0, second);
        mode = rest.substr(second + 1);
        if (mode == "ro" || mode == "readonly") m.read_only = true;
        else if (mode != "rw") fail(fmt::format("has mode {}: expected ro or rw (and no ':' in paths)", detail::shown(mode)));
    }
    if (source.empty()) fail("has an empty source");
    if (target.empty()) fail("has an empty target");
    if (source.front() == '/') {
        m.type = mount::kind::bind;
    } else if (detail::sandbox::docker_name(source, 2)) {
        m.type = mount::kind::volume;
    } else {
        fail(fmt::format("has source {}, a relative path: a bind mount's source must be absolute (a name without "
                         "'/' is a volume)",
                         detail::shown(source)));
    }
    m.source = std::string(source);
    m.target = std::string(target);
    return m;
}

/// --tmpfs "DST[:size=64m,mode=1777]"; size as parse_byte_size reads it,
/// mode in octal. Other tmpfs options are refused.
inline tmpfs_mount parse_tmpfs(std::string_view text, std::string_view option = "--tmpfs") {
    auto fail = [&](std::string_view why) { detail::bad_value(option, text, why); };
    tmpfs_mount t;
    const auto colon = text.find(':');
    t.target = std::string(text.substr(0, colon));
    if (t.target.empty()) fail("has an empty target");
    if (colon == std::string_view::npos) return t;
    std::string_view opts = text.substr(colon + 1);
    if (opts.empty()) fail("has nothing after ':': expected size=SIZE and/or mode=OCTAL");
    while (!opts.empty()) {
        const auto comma = opts.find(',');
        const auto opt = opts.substr(0, comma);
        opts = comma == std::string_view::npos ? std::string_view{} : opts.substr(comma + 1);
        if (opt.starts_with("size=")) {
            t.size = parse_byte_size(opt.substr(5), fmt::format("{} size", option));
        } else if (opt.starts_with("mode=")) {
            const auto v = opt.substr(5);
            unsigned mode = 0;
            const auto r = std::from_chars(v.data(), v.data() + v.size(), mode, 8);
            if (v.empty() || v.size() > 5 || r.ec != std::errc{} || r.ptr != v.data() + v.size() || mode > 07777)
                fail(fmt::format("has mode {}, which is not an octal permission mode (0..7777)", detail::shown(v)));
            t.mode = mode;
        } else {
            fail(fmt::format("has option {}: only size=SIZE and mode=OCTAL are supported", detail::shown(opt)));
        }
    }
    return t;
}

}  // namespace rtb
