// Registry credentials the way the docker CLI keeps them: the `auths` of
// ~/.docker/config.json (or $DOCKER_CONFIG/config.json), credential helpers
// (`credsStore` / `credHelpers`: docker-credential-<name> get), and the
// X-Registry-Auth header an engine expects for pulls and pushes.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/detail/config.hpp"

namespace rtb {

/// Credentials for one registry. Never logged, never put in an error message.
struct registry_credentials {
    std::string username;
    std::string password;
    std::string identity_token;  ///< an OAuth refresh token (docker login with a token)
    std::string server_address;  ///< the registry as the config names it

    bool empty() const noexcept { return username.empty() && password.empty() && identity_token.empty(); }
};

/// Remembers the secrets in `c` process-wide (known_secrets), in the forms a
/// server could echo them in: as they are and as Basic auth's base64.
RTB_DECL void remember_secrets(const registry_credentials& c);

namespace docker_auth {

/// The key a registry is filed under in `auths`, from any form a config
/// uses: "https://index.docker.io/v1/", "http://host:5000", "host:5000/v2/".
/// Docker Hub's names all become "docker.io".
RTB_DECL std::string normalize_registry(std::string_view s);

/// The credentials for `registry` (as in image_ref::registry()) in the text
/// of a config.json; std::nullopt when it has none. Reads `auth`
/// (base64 "user:password") or `username`/`password`, and `identitytoken`.
/// Throws parse_error naming `source` (the file) for malformed JSON or a
/// malformed `auth`, never quoting a secret.
RTB_DECL std::optional<registry_credentials> credentials_for(std::string_view registry, std::string_view config_json,
                                                             std::string_view source);

/// The credential helper the config names for `registry`: its `credHelpers`
/// entry, else its `credsStore`; std::nullopt when neither is set (the
/// `auths` entries hold the credentials then). As the docker CLI does, a
/// helper answers for the registry alone: its "not found" is no credentials,
/// not a fall back to `auths`. Throws parse_error naming `source` for
/// malformed JSON or a helper name that is not [A-Za-z0-9._-]+ (it becomes
/// part of a program name: no paths).
RTB_DECL std::optional<std::string> helper_for(std::string_view registry, std::string_view config_json,
                                               std::string_view source);

/// The server URL a credential helper is asked about: Docker Hub's
/// historical "https://index.docker.io/v1/", else the registry's host[:port].
RTB_DECL std::string helper_server_url(std::string_view registry);

/// Credentials from a helper's `get` answer ({"ServerURL","Username","Secret"});
/// a Username of "<token>" makes Secret an identity token. Throws
/// parse_error naming the helper, never quoting the answer (it holds secrets).
RTB_DECL registry_credentials parse_helper_answer(std::string_view answer, std::string_view helper);

/// Runs `docker-credential-<helper> get` (found in PATH; an argument vector,
/// no shell) with the server URL on stdin, within `timeout` (then killed;
/// always reaped). Returns std::nullopt when the helper has no credentials
/// for it ("credentials not found"). Throws not_found when the helper is not
/// installed, timeout, cancelled, unauthorized for any other failure (with
/// the helper's own short message), parse_error for a malformed answer.
RTB_DECL std::optional<registry_credentials> run_helper(std::string_view helper, std::string_view server_url,
                                                        std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                                        std::stop_token stop = {});

/// Where credentials came from, as errors may name it (never the secret).
struct credential_lookup {
    std::optional<registry_credentials> credentials;
    std::string source;  ///< "/root/.docker/config.json" or "credential helper docker-credential-pass"
};

/// The docker CLI's config file: $DOCKER_CONFIG/config.json, else
/// ~/.docker/config.json; empty when neither variable is set.
RTB_DECL std::filesystem::path config_path(const std::function<const char*(const char*)>& getenv =
                                               [](const char* n) { return std::getenv(n); });

/// credentials_for() over a file; a missing file means no credentials.
RTB_DECL std::optional<registry_credentials> load_credentials(std::string_view registry,
                                                              const std::filesystem::path& file);

/// The credentials the docker CLI would use for `registry` with config file
/// `file`: a credential helper when the file names one for it, else its
/// `auths`. A missing file means none.
RTB_DECL credential_lookup resolve_credentials(std::string_view registry, const std::filesystem::path& file,
                                               std::chrono::milliseconds helper_timeout = std::chrono::seconds(30),
                                               std::stop_token stop = {});

/// The X-Registry-Auth value: base64url of the JSON AuthConfig the engine
/// expects. No credentials: "{}" encoded (Docker requires the header on push).
RTB_DECL std::string encode_registry_auth(const std::optional<registry_credentials>& c);

/// The X-Registry-Config value of a build: base64url of a JSON object
/// mapping each registry's server address (helper_server_url()) to its
/// AuthConfig, so the engine can pull a FROM image from a registry that
/// needs credentials (an image another host pushed). Registries without
/// credentials are left out; std::nullopt when none has any.
RTB_DECL std::optional<std::string> encode_registry_config(
    const std::vector<std::pair<std::string, registry_credentials>>& by_registry);

}  // namespace docker_auth
}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/transport/impl/docker_auth.ipp"
#endif
