// The docker CLI's credentials (rtb/transport/docker_auth.hpp): included by that
// header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION). The config parsing (simdjson) and the credential
// helper runner are compiled by the library's unit only.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/config.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/detail/subprocess.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/docker_auth.hpp"

namespace rtb {

namespace detail {

/// The engine's AuthConfig as JSON: a token or a user and password, and the
/// server they are for; empty fields are left out.
inline std::string auth_config_json(const registry_credentials& c, std::string_view server_address) {
    std::string json = "{";
    const auto field = [&](std::string_view k, std::string_view v) {
        if (v.empty()) return;
        if (json.size() > 1) json += ',';
        json += json_quote(k) + ':' + json_quote(v);
    };
    if (!c.identity_token.empty()) {
        field("identitytoken", c.identity_token);
    } else {
        field("username", c.username);
        field("password", c.password);
    }
    field("serveraddress", server_address);
    json += '}';
    return json;
}

}  // namespace detail

RTB_DECL void remember_secrets(const registry_credentials& c) {
    remember_secret(c.password);
    remember_secret(c.identity_token);
    if (!c.password.empty()) remember_secret(detail::base64_encode(c.username + ":" + c.password));
}

}  // namespace rtb

namespace rtb {
namespace docker_auth {

RTB_DECL std::string normalize_registry(std::string_view s) {
    if (s.starts_with("https://")) s.remove_prefix(8);
    else if (s.starts_with("http://")) s.remove_prefix(7);
    if (const auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (out == "index.docker.io" || out == "registry-1.docker.io" || out == "registry.hub.docker.com") out = "docker.io";
    return out;
}

RTB_DECL std::optional<registry_credentials> credentials_for(std::string_view registry, std::string_view config_json,
                                                             std::string_view source) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(config_json.data(), config_json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object())
        throw error(errc::parse_error, fmt::format("{} is not a JSON object", source));
    simdjson::dom::object auths;
    if (doc["auths"].get_object().get(auths) != simdjson::SUCCESS) return std::nullopt;
    const std::string want = normalize_registry(registry);
    for (auto [key, entry] : auths) {
        if (normalize_registry(key) != want) continue;
        registry_credentials c;
        c.server_address = std::string(key);
        std::string_view s;
        if (entry["auth"].get_string().get(s) == simdjson::SUCCESS && !s.empty()) {
            const auto decoded = detail::base64_decode(s);
            const auto colon = decoded ? decoded->find(':') : std::string::npos;
            if (!decoded || colon == std::string::npos)
                throw error(errc::parse_error,
                            fmt::format("{}: auths[\"{}\"].auth is not base64 of \"user:password\"", source, key));
            c.username = decoded->substr(0, colon);
            c.password = decoded->substr(colon + 1);
        } else {
            if (entry["username"].get_string().get(s) == simdjson::SUCCESS) c.username = s;
            if (entry["password"].get_string().get(s) == simdjson::SUCCESS) c.password = s;
        }
        if (entry["identitytoken"].get_string().get(s) == simdjson::SUCCESS) c.identity_token = s;
        if (c.empty()) return std::nullopt;
        remember_secrets(c);
        return c;
    }
    return std::nullopt;
}

RTB_DECL std::optional<std::string> helper_for(std::string_view registry, std::string_view config_json,
                                               std::string_view source) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(config_json.data(), config_json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object())
        throw error(errc::parse_error, fmt::format("{} is not a JSON object", source));
    auto checked = [&](std::string_view name, std::string_view field) -> std::optional<std::string> {
        if (name.empty()) return std::nullopt;
        const bool ok = name.size() <= 100 && name.front() != '.' &&
                        name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                            std::string_view::npos;
        if (!ok)
            throw error(errc::parse_error,
                        fmt::format("{}: {} names credential helper {}, which is not a valid helper name "
                                    "([A-Za-z0-9._-]+, as in docker-credential-<name>)",
                                    source, field, detail::ref::quote(name)));
        return std::string(name);
    };
    const std::string want = normalize_registry(registry);
    simdjson::dom::object helpers;
    if (doc["credHelpers"].get_object().get(helpers) == simdjson::SUCCESS) {
        for (auto [key, value] : helpers) {
            std::string_view name;
            if (normalize_registry(key) != want || value.get_string().get(name) != simdjson::SUCCESS) continue;
            if (auto h = checked(name, fmt::format("credHelpers[\"{}\"]", key))) return h;
        }
    }
    std::string_view store;
    if (doc["credsStore"].get_string().get(store) == simdjson::SUCCESS) return checked(store, "credsStore");
    return std::nullopt;
}

RTB_DECL std::string helper_server_url(std::string_view registry) {
    const auto r = normalize_registry(registry);
    if (r == "docker.io") return "https://index.docker.io/v1/";
    return r;
}

RTB_DECL registry_credentials parse_helper_answer(std::string_view answer, std::string_view helper) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view user, secret, url;
    if (parser.parse(answer.data(), answer.size()).get(doc) != simdjson::SUCCESS || !doc.is_object() ||
        doc["Username"].get_string().get(user) != simdjson::SUCCESS ||
        doc["Secret"].get_string().get(secret) != simdjson::SUCCESS)
        throw error(errc::parse_error,
                    fmt::format("credential helper docker-credential-{} answered something that is not a JSON object "
                                "with Username and Secret (its answer is not shown: it may hold secrets)",
                                helper));
    registry_credentials c;
    if (user == "<token>") {
        c.identity_token = secret;
    } else {
        c.username = user;
        c.password = secret;
    }
    if (doc["ServerURL"].get_string().get(url) == simdjson::SUCCESS) c.server_address = url;
    remember_secrets(c);
    return c;
}

RTB_DECL std::optional<registry_credentials> run_helper(std::string_view helper, std::string_view server_url,
                                                        std::chrono::milliseconds timeout,
                                                        std::stop_token stop) {
    const std::string program = fmt::format("docker-credential-{}", helper);
    detail::run_options o;
    o.input = std::string(server_url) + "\n";
    o.timeout = timeout;
    o.max_output = 1 << 20;
    detail::program_result r;
    try {
        r = detail::run_program({program, "get"}, o, stop);
    } catch (const error& e) {
        if (e.value() == errc::not_found)
            throw error(errc::not_found, fmt::format("the docker config names credential helper {} for {}, but {} is "
                                                     "not installed (not found in PATH)",
                                                     helper, server_url, program));
        throw error(e.value(), fmt::format("asking {} for the credentials of {}: {}", program, server_url, e.what()));
    }
    if (r.exit_code == 0) {
        auto c = parse_helper_answer(r.out, helper);
        if (c.empty()) return std::nullopt;
        if (c.server_address.empty()) c.server_address = std::string(server_url);
        return c;
    }
    // A failing helper prints its error message on stdout (the protocol), the
    // way docker-credential-helpers' "credentials not found in native keychain".
    auto message = std::string_view(r.out.empty() ? r.err : r.out);
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r' || message.back() == ' '))
        message.remove_suffix(1);
    if (message.find("credentials not found") != std::string_view::npos) return std::nullopt;
    std::string shown;
    for (unsigned char ch : message.substr(0, 200)) shown += (ch < 0x20 || ch == 0x7f) ? ' ' : static_cast<char>(ch);
    throw error(errc::unauthorized,
                fmt::format("credential helper {} failed for {} (exit status {}){}{}", program, server_url,
                            r.exit_code, shown.empty() ? "" : ": ", shown));
}

RTB_DECL std::filesystem::path config_path(const std::function<const char*(const char*)>& getenv) {
    if (const char* d = getenv("DOCKER_CONFIG"); d && *d) return std::filesystem::path(d) / "config.json";
    if (const char* h = getenv("HOME"); h && *h) return std::filesystem::path(h) / ".docker" / "config.json";
    return {};
}

RTB_DECL std::optional<registry_credentials> load_credentials(std::string_view registry,
                                                              const std::filesystem::path& file) {
    if (file.empty()) return std::nullopt;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!std::filesystem::exists(file, ec)) return std::nullopt;
        throw error(errc::io_error, fmt::format("cannot read {}", file.string()));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return credentials_for(registry, text.str(), file.string());
}

RTB_DECL credential_lookup resolve_credentials(std::string_view registry, const std::filesystem::path& file,
                                               std::chrono::milliseconds helper_timeout,
                                               std::stop_token stop) {
    credential_lookup out;
    out.source = file.string();
    if (file.empty()) return out;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!std::filesystem::exists(file, ec)) return out;
        throw error(errc::io_error, fmt::format("cannot read {}", file.string()));
    }
    std::ostringstream text;
    text << in.rdbuf();
    const auto json = text.str();
    if (const auto helper = helper_for(registry, json, file.string())) {
        out.source = fmt::format("credential helper docker-credential-{} (named in {})", *helper, file.string());
        out.credentials = run_helper(*helper, helper_server_url(registry), helper_timeout, stop);
        return out;
    }
    out.credentials = credentials_for(registry, json, file.string());
    return out;
}

RTB_DECL std::string encode_registry_auth(const std::optional<registry_credentials>& c) {
    const auto json = c && !c->empty() ? detail::auth_config_json(*c, c->server_address) : std::string("{}");
    return detail::base64_encode(json, /*url_safe=*/true);
}

RTB_DECL std::optional<std::string> encode_registry_config(
    const std::vector<std::pair<std::string, registry_credentials>>& by_registry) {
    std::string json = "{";
    for (const auto& [registry, c] : by_registry) {
        if (c.empty()) continue;
        const auto server = helper_server_url(registry);
        if (json.size() > 1) json += ',';
        json += detail::json_quote(server) + ':' + detail::auth_config_json(c, server);
    }
    if (json.size() == 1) return std::nullopt;
    json += '}';
    return detail::base64_encode(json, /*url_safe=*/true);
}

}  // namespace docker_auth
}  // namespace rtb
