// The Engine API's container calls as pure functions (rtb/sandbox/container_api.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so simdjson and the request bodies stay out of
// units that only launch or list containers.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/config.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/sandbox/container_spec.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/docker_api.hpp"
#include "rtb/sandbox/container_api.hpp"

namespace rtb::container_api {

namespace detail_body {
inline std::string strings(const std::vector<std::string>& v) { return docker_api::json_array(v); }
inline long long ns(std::chrono::milliseconds d) { return static_cast<long long>(d.count()) * 1'000'000; }
}  // namespace detail_body

RTB_DECL std::string path_id(std::string_view id) {
    if (id.empty() || id.size() > 256 || id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                                             std::string_view::npos)
        throw error(errc::invalid_argument,
                    fmt::format("{} is not a container id or name", detail::ref::quote(id.substr(0, 80))));
    return std::string(id);
}

RTB_DECL std::string create_target(api_version v, std::string_view name) {
    std::string t = fmt::format("/v{}/containers/create", v.str());
    if (!name.empty()) t += "?name=" + detail::url_encode(name);
    return t;
}

RTB_DECL std::string start_target(api_version v, std::string_view id) {
    return fmt::format("/v{}/containers/{}/start", v.str(), path_id(id));
}

RTB_DECL std::string stop_target(api_version v, std::string_view id, std::chrono::seconds grace) {
    return fmt::format("/v{}/containers/{}/stop?t={}", v.str(), path_id(id), grace.count());
}

RTB_DECL std::string remove_target(api_version v, std::string_view id, bool force, bool volumes) {
    return fmt::format("/v{}/containers/{}?force={}&v={}", v.str(), path_id(id), force ? 1 : 0, volumes ? 1 : 0);
}

RTB_DECL std::string wait_target(api_version v, std::string_view id, wait_condition c) {
    const char* name = c == wait_condition::next_exit ? "next-exit" : c == wait_condition::removed ? "removed" : "not-running";
    return fmt::format("/v{}/containers/{}/wait?condition={}", v.str(), path_id(id), name);
}

RTB_DECL std::string logs_target(api_version v, std::string_view id, bool follow, bool stdout_, bool stderr_,
                                 std::optional<unsigned> tail) {
    std::string t = fmt::format("/v{}/containers/{}/logs?follow={}&stdout={}&stderr={}", v.str(), path_id(id),
                                follow ? 1 : 0, stdout_ ? 1 : 0, stderr_ ? 1 : 0);
    if (tail) t += fmt::format("&tail={}", *tail);
    return t;
}

RTB_DECL std::string inspect_target(api_version v, std::string_view id) {
    return fmt::format("/v{}/containers/{}/json", v.str(), path_id(id));
}

RTB_DECL std::string list_target(api_version v, const std::vector<std::string>& label_filters, bool all) {
    std::string t = fmt::format("/v{}/containers/json?all={}", v.str(), all ? 1 : 0);
    if (!label_filters.empty())
        t += "&filters=" + detail::url_encode(fmt::format("{{\"label\":{}}}", docker_api::json_array(label_filters)));
    return t;
}

RTB_DECL std::string network_target(api_version v, std::string_view name) {
    return fmt::format("/v{}/networks/{}", v.str(), detail::url_encode(name));
}

RTB_DECL std::string libpod_healthcheck_target(std::string_view id) {
    return fmt::format("/v4.0.0/libpod/containers/{}/healthcheck", path_id(id));
}

RTB_DECL std::string port_key(int port, port_protocol p) { return fmt::format("{}/{}", port, to_string(p)); }

RTB_DECL std::string tmpfs_options(const tmpfs_mount& t) {
    std::string o;
    if (t.size) o += fmt::format("size={}", *t.size);
    if (t.mode) o += fmt::format("{}mode={:o}", o.empty() ? "" : ",", *t.mode);
    return o;
}

RTB_DECL std::string create_body(const container_spec& spec) {
    using detail::json_quote;
    std::string b = "{";
    auto field = [&](std::string_view key, const std::string& json) {
        if (b.size() > 1) b += ',';
        b += json_quote(key);
        b += ':';
        b += json;
    };
    field("Image", json_quote(image_ref::parse(spec.image).familiar()));
    if (!spec.command.empty()) field("Cmd", detail_body::strings(spec.command));
    if (spec.entrypoint) field("Entrypoint", detail_body::strings(*spec.entrypoint));
    if (!spec.env.empty()) {
        std::vector<std::string> env;
        env.reserve(spec.env.size());
        for (const auto& [k, v] : spec.env) env.push_back(k + '=' + v);
        field("Env", detail_body::strings(env));
    }
    if (!spec.working_dir.empty()) field("WorkingDir", json_quote(spec.working_dir));
    if (!spec.user.empty()) field("User", json_quote(spec.user));
    if (!spec.labels.empty()) field("Labels", docker_api::json_object(spec.labels));
    field("Tty", spec.tty ? "true" : "false");
    field("OpenStdin", "false");
    field("AttachStdin", "false");
    field("AttachStdout", "true");
    field("AttachStderr", "true");
    field("StopTimeout", fmt::format("{}", spec.stop_grace.count()));
    const bool host_net = spec.network == network_host;
    if (!spec.ports.empty() && !host_net) {
        std::map<std::string, bool> keys;
        for (const auto& p : spec.ports) keys[port_key(p.container_port, p.protocol)] = true;
        std::string e = "{";
        for (const auto& [k, _] : keys) e += (e.size() > 1 ? "," : "") + json_quote(k) + ":{}";
        field("ExposedPorts", e + "}");
    }
    if (spec.health) {
        const auto& h = *spec.health;
        std::vector<std::string> test;
        if (!h.shell.empty()) {
            test = {"CMD-SHELL", h.shell};
        } else {
            test = {"CMD"};
            test.insert(test.end(), h.exec.begin(), h.exec.end());
        }
        field("Healthcheck", fmt::format("{{\"Test\":{},\"Interval\":{},\"Timeout\":{},\"StartPeriod\":{},\"Retries\":{}}}",
                                         detail_body::strings(test), detail_body::ns(h.interval),
                                         detail_body::ns(h.timeout), detail_body::ns(h.start_period), h.retries));
    }

    std::string hc = "{";
    auto host = [&](std::string_view key, const std::string& json) {
        if (hc.size() > 1) hc += ',';
        hc += json_quote(key);
        hc += ':';
        hc += json;
    };
    host("NetworkMode", json_quote(spec.network));
    if (!spec.ports.empty() && !host_net) {
        std::map<std::string, std::vector<std::string>> bindings;
        for (const auto& p : spec.ports)
            bindings[port_key(p.container_port, p.protocol)].push_back(
                fmt::format("{{\"HostIp\":{},\"HostPort\":{}}}", json_quote(p.host_ip),
                            json_quote(p.host_port ? std::to_string(p.host_port) : std::string())));
        std::string pb = "{";
        for (const auto& [k, list] : bindings) {
            if (pb.size() > 1) pb += ',';
            pb += json_quote(k) + ":[";
            for (std::size_t i = 0; i < list.size(); ++i) pb += (i ? "," : "") + list[i];
            pb += ']';
        }
        host("PortBindings", pb + "}");
    }
    if (!spec.mounts.empty()) {
        std::string m = "[";
        for (const auto& x : spec.mounts) {
            if (m.size() > 1) m += ',';
            m += fmt::format("{{\"Type\":{},\"Source\":{},\"Target\":{},\"ReadOnly\":{}}}",
                             json_quote(x.type == mount::kind::bind ? "bind" : "volume"), json_quote(x.source),
                             json_quote(x.target), x.read_only ? "true" : "false");
        }
        host("Mounts", m + "]");
    }
    if (!spec.tmpfs.empty()) {
        std::string t = "{";
        for (const auto& x : spec.tmpfs) {
            if (t.size() > 1) t += ',';
            t += json_quote(x.target) + ':' + json_quote(tmpfs_options(x));
        }
        host("Tmpfs", t + "}");
    }
    const auto& r = spec.limits;
    if (r.memory) host("Memory", std::to_string(*r.memory));
    if (r.memory_swap) host("MemorySwap", std::to_string(*r.memory_swap));
    if (r.nano_cpus) host("NanoCpus", std::to_string(*r.nano_cpus));
    if (r.cpu_quota) host("CpuQuota", std::to_string(*r.cpu_quota));
    if (r.cpu_period) host("CpuPeriod", std::to_string(*r.cpu_period));
    if (r.pids_limit) host("PidsLimit", std::to_string(*r.pids_limit));
    if (r.shm_size) host("ShmSize", std::to_string(*r.shm_size));
    host("ReadonlyRootfs", spec.read_only_rootfs ? "true" : "false");
    host("AutoRemove", spec.auto_remove ? "true" : "false");
    field("HostConfig", hc + "}");
    return b + "}";
}

namespace detail_parse {

RTB_DECL simdjson::dom::element object_of(simdjson::dom::parser& parser, std::string_view json, std::string_view what) {
    simdjson::dom::element doc;
    if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object())
        throw error(errc::parse_error, fmt::format("{}: the answer is not a JSON object", what));
    return doc;
}

RTB_DECL std::string str(simdjson::dom::element e, std::string_view key) {
    std::string_view v;
    if (e[key].get_string().get(v) == simdjson::SUCCESS) return std::string(v);
    return {};
}

RTB_DECL std::int64_t num(simdjson::dom::element e, std::string_view key, std::int64_t fallback = 0) {
    std::int64_t v = 0;
    if (e[key].get_int64().get(v) == simdjson::SUCCESS) return v;
    return fallback;
}

RTB_DECL bool flag(simdjson::dom::element e, std::string_view key) {
    bool v = false;
    return e[key].get_bool().get(v) == simdjson::SUCCESS && v;
}

RTB_DECL std::map<std::string, std::string> labels(simdjson::simdjson_result<simdjson::dom::element> l) {
    std::map<std::string, std::string> out;
    simdjson::dom::object obj;
    if (l.get_object().get(obj) != simdjson::SUCCESS) return out;
    for (auto [k, v] : obj) {
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS) out.emplace(std::string(k), std::string(s));
    }
    return out;
}

RTB_DECL int exit_code(std::int64_t v) {
    return static_cast<int>(std::clamp<std::int64_t>(v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

RTB_DECL health_state health(simdjson::dom::element h) {
    health_state s;
    s.status = str(h, "Status");
    s.failing_streak = exit_code(num(h, "FailingStreak"));
    simdjson::dom::array log;
    if (h["Log"].get_array().get(log) == simdjson::SUCCESS && log.size() > 0) {
        simdjson::dom::element last;
        for (auto e : log) last = e;
        if (last.is_object()) {
            s.last_output = str(last, "Output").substr(0, 4096);
            std::int64_t c = 0;
            if (last["ExitCode"].get_int64().get(c) == simdjson::SUCCESS) s.last_exit_code = exit_code(c);
        }
    }
    return s;
}

}  // namespace detail_parse

RTB_DECL std::string parse_created(std::string_view json, std::string_view what) {
    simdjson::dom::parser parser;
    const auto doc = detail_parse::object_of(parser, json, what);
    auto id = detail_parse::str(doc, "Id");
    if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw error(errc::parse_error, fmt::format("{}: the answer has no container id", what));
    return id;
}

RTB_DECL std::optional<std::pair<int, port_protocol>> parse_port_key(std::string_view key) {
    const auto slash = key.find('/');
    const auto num = key.substr(0, slash);
    const auto proto = slash == std::string_view::npos ? std::string_view("tcp") : key.substr(slash + 1);
    int port = 0;
    const auto r = std::from_chars(num.data(), num.data() + num.size(), port);
    if (num.empty() || r.ec != std::errc{} || r.ptr != num.data() + num.size() || port < 1 || port > 65535)
        return std::nullopt;
    if (proto == "tcp") return std::pair{port, port_protocol::tcp};
    if (proto == "udp") return std::pair{port, port_protocol::udp};
    if (proto == "sctp") return std::pair{port, port_protocol::sctp};
    return std::nullopt;
}

RTB_DECL container_state parse_inspect(std::string_view json, std::string_view what) {
    using namespace detail_parse;
    simdjson::dom::parser parser;
    const auto doc = object_of(parser, json, what);
    container_state s;
    s.id = str(doc, "Id");
    s.name = str(doc, "Name");
    if (s.name.starts_with('/')) s.name.erase(0, 1);
    simdjson::dom::element state;
    if (doc["State"].get(state) != simdjson::SUCCESS || !state.is_object())
        throw error(errc::parse_error, fmt::format("{}: the answer has no State", what));
    s.status = str(state, "Status");
    s.running = flag(state, "Running");
    s.exit_code = exit_code(num(state, "ExitCode"));
    s.oom_killed = flag(state, "OOMKilled");
    s.error = str(state, "Error").substr(0, 4096);
    simdjson::dom::element h;
    if (state["Health"].get(h) == simdjson::SUCCESS && h.is_object()) s.health = health(h);
    simdjson::dom::element config;
    if (doc["Config"].get(config) == simdjson::SUCCESS && config.is_object()) {
        s.image = str(config, "Image");
        s.labels = labels(config["Labels"]);
        s.tty = flag(config, "Tty");
        std::int64_t t = 0;
        if (config["StopTimeout"].get_int64().get(t) == simdjson::SUCCESS && t > 0 && t <= 86'400)  // Podman: 0 when unset
            s.stop_timeout = static_cast<int>(t);
        simdjson::dom::array test;
        if (config["Healthcheck"]["Test"].get_array().get(test) == simdjson::SUCCESS && test.size() > 0) {
            std::string_view first;
            s.has_healthcheck = test.at(0).get_string().get(first) == simdjson::SUCCESS && first != "NONE";
        }
    }
    simdjson::dom::element host_config;
    if (doc["HostConfig"].get(host_config) == simdjson::SUCCESS && host_config.is_object()) {
        s.network_mode = str(host_config, "NetworkMode");
        s.auto_remove = flag(host_config, "AutoRemove");
    }
    simdjson::dom::object ports;
    if (doc["NetworkSettings"]["Ports"].get_object().get(ports) == simdjson::SUCCESS) {
        for (auto [key, bindings] : ports) {
            const auto k = parse_port_key(key);
            simdjson::dom::array list;
            if (!k || bindings.get_array().get(list) != simdjson::SUCCESS) continue;
            for (auto b : list) {
                if (!b.is_object()) continue;
                mapped_port m;
                m.container_port = k->first;
                m.protocol = k->second;
                m.host_ip = str(b, "HostIp");
                const auto hp = str(b, "HostPort");
                int port = 0;
                const auto r = std::from_chars(hp.data(), hp.data() + hp.size(), port);
                if (r.ec != std::errc{} || port < 1 || port > 65535) continue;
                m.host_port = port;
                s.ports.push_back(std::move(m));
            }
        }
    }
    return s;
}

RTB_DECL wait_result parse_wait(std::string_view json, std::string_view what) {
    using namespace detail_parse;
    simdjson::dom::parser parser;
    const auto doc = object_of(parser, json, what);
    std::int64_t code = 0;
    if (doc["StatusCode"].get_int64().get(code) != simdjson::SUCCESS)
        throw error(errc::parse_error, fmt::format("{}: the answer has no StatusCode", what));
    wait_result w;
    w.exit_code = exit_code(code);
    simdjson::dom::element e;
    if (doc["Error"].get(e) == simdjson::SUCCESS && e.is_object()) w.error = str(e, "Message").substr(0, 4096);
    return w;
}

RTB_DECL health_state parse_health(std::string_view json, std::string_view what) {
    simdjson::dom::parser parser;
    return detail_parse::health(detail_parse::object_of(parser, json, what));
}

RTB_DECL std::vector<container_summary> parse_list(std::string_view json, std::string_view what) {
    using namespace detail_parse;
    simdjson::dom::parser parser;
    simdjson::dom::array list;
    if (parser.parse(json.data(), json.size()).get_array().get(list) != simdjson::SUCCESS)
        throw error(errc::parse_error, fmt::format("{}: the answer is not a JSON array", what));
    std::vector<container_summary> out;
    for (auto item : list) {
        if (!item.is_object()) continue;
        container_summary c;
        c.id = str(item, "Id");
        c.image = str(item, "Image");
        c.image_id = str(item, "ImageID");
        c.state = str(item, "State");
        c.labels = labels(item["Labels"]);
        simdjson::dom::array names;
        if (item["Names"].get_array().get(names) == simdjson::SUCCESS)
            for (auto n : names) {
                std::string_view v;
                if (n.get_string().get(v) != simdjson::SUCCESS) continue;
                if (v.starts_with('/')) v.remove_prefix(1);
                c.names.emplace_back(v);
            }
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace rtb::container_api
