// Registry credentials the way the docker CLI keeps them: the `auths` of
// ~/.docker/config.json (or $DOCKER_CONFIG/config.json), and the
// X-Registry-Auth header an engine expects for pulls and pushes.
// Credential helpers (credsStore / credHelpers) come with the registry client.
#pragma once

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/json_writer.hpp"
#include "rtb/error.hpp"
#include "rtb/transport/detail/codec.hpp"

namespace rtb {

/// Credentials for one registry. Never logged, never put in an error message.
struct registry_credentials {
    std::string username;
    std::string password;
    std::string identity_token;  ///< an OAuth refresh token (docker login with a token)
    std::string server_address;  ///< the registry as the config names it

    bool empty() const noexcept { return username.empty() && password.empty() && identity_token.empty(); }
};

namespace docker_auth {

/// The key a registry is filed under in `auths`, from any form a config
/// uses: "https://index.docker.io/v1/", "http://host:5000", "host:5000/v2/".
/// Docker Hub's names all become "docker.io".
inline std::string normalize_registry(std::string_view s) {
    if (s.starts_with("https://")) s.remove_prefix(8);
    else if (s.starts_with("http://")) s.remove_prefix(7);
    if (const auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (out == "index.docker.io" || out == "registry-1.docker.io" || out == "registry.hub.docker.com") out = "docker.io";
    return out;
}

/// The credentials for `registry` (as in image_ref::registry()) in the text
/// of a config.json; std::nullopt when it has none. Reads `auth`
/// (base64 "user:password") or `username`/`password`, and `identitytoken`.
/// Throws parse_error naming `source` (the file) for malformed JSON or a
/// malformed `auth`, never quoting a secret.
inline std::optional<registry_credentials> credentials_for(std::string_view registry, std::string_view config_json,
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
        return c;
    }
    return std::nullopt;
}

/// The docker CLI's config file: $DOCKER_CONFIG/config.json, else
/// ~/.docker/config.json; empty when neither variable is set.
inline std::filesystem::path config_path(const std::function<const char*(const char*)>& getenv =
                                             [](const char* n) { return std::getenv(n); }) {
    if (const char* d = getenv("DOCKER_CONFIG"); d && *d) return std::filesystem::path(d) / "config.json";
    if (const char* h = getenv("HOME"); h && *h) return std::filesystem::path(h) / ".docker" / "config.json";
    return {};
}

/// credentials_for() over a file; a missing file means no credentials.
inline std::optional<registry_credentials> load_credentials(std::string_view registry,
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

/// The X-Registry-Auth value: base64url of the JSON AuthConfig the engine
/// expects. No credentials: "{}" encoded (Docker requires the header on push).
inline std::string encode_registry_auth(const std::optional<registry_credentials>& c) {
    std::string json = "{";
    if (c && !c->empty()) {
        auto field = [&](std::string_view k, std::string_view v) {
            if (v.empty()) return;
            if (json.size() > 1) json += ',';
            json += detail::json_quote(k) + ':' + detail::json_quote(v);
        };
        if (!c->identity_token.empty()) {
            field("identitytoken", c->identity_token);
        } else {
            field("username", c->username);
            field("password", c->password);
        }
        field("serveraddress", c->server_address);
    }
    json += '}';
    return detail::base64_encode(json, /*url_safe=*/true);
}

}  // namespace docker_auth
}  // namespace rtb
