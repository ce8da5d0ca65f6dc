// rtb::registry_client: asks an OCI distribution registry (Docker Hub, GHCR,
// a private or a loopback registry) whether an image exists, and for its
// digest and media type, with one manifest HEAD: no layer is downloaded.
// Anonymous, Basic and Bearer-token auth from the docker CLI's credentials
// (config.json `auths`, credential helpers); retried under a RetryPolicy;
// cancellable through std::stop_token. Usable alone, or as docker_engine's
// hook for lookup::local_then_registry (make_registry_lookup).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/concepts.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/hasher.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/transport/detail/auth_challenge.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/docker_auth.hpp"
#include "rtb/transport/http.hpp"
#include "rtb/transport/registry_lookup.hpp"

namespace rtb {

/// The manifest media types rtb asks for (and so accepts).
namespace media_types {
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view docker_manifest_list = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
}  // namespace media_types

/// What a registry says about a manifest, without sending it.
struct manifest_descriptor {
    std::string digest;       ///< "sha256:...": what `name@digest` pulls
    std::string media_type;   ///< one of media_types (a registry may answer another)
    std::uint64_t size = 0;   ///< the manifest's size in bytes (0 when not said)

    /// A multi-platform image: an OCI index or a Docker manifest list.
    bool is_index() const noexcept {
        return media_type == media_types::oci_index || media_type == media_types::docker_manifest_list;
    }
};

/// The HTTP endpoint of registry `registry` (as image_ref::registry() names
/// it): docker.io is registry-1.docker.io over HTTPS; localhost, 127.0.0.0/8,
/// [::1] and the registries listed in `insecure` ("host" or "host:port") are
/// spoken to in plain HTTP; every other registry over HTTPS (port 443 unless
/// given). `own_ca`: a CA was set up for this registry alone (docker's
/// certs.d/<host:port>/ca.crt, in `tls`): then HTTPS always, loopback too, as
/// dockerd does: whoever set up a CA for it serves TLS. Throws
/// invalid_argument for a registry that is not host[:port].
inline http::endpoint registry_endpoint(std::string_view registry, const std::vector<std::string>& insecure = {},
                                        const http::tls_options& tls = {}, bool own_ca = false) {
    std::string r = docker_auth::normalize_registry(registry);
    if (r == "docker.io") r = "registry-1.docker.io";
    auto parts = detail::parse_url("https://" + r + "/");
    if (!parts)
        throw error(errc::invalid_argument,
                    fmt::format("registry {} is not host[:port]", detail::ref::quote(registry)));
    std::string host_only = parts->host;
    bool plain = detail::is_loopback_host(host_only);
    for (const auto& i : insecure) {
        const auto n = docker_auth::normalize_registry(i);
        if (n == r || n == host_only) plain = true;
    }
    if (plain && !own_ca) {
        const bool explicit_port = r.size() > host_only.size();  // r is host[:port], lowercased
        return http::endpoint::tcp(host_only, explicit_port ? parts->port : 80);
    }
    http::tls_options t = tls;
    t.enabled = true;
    t.verify = true;
    return http::endpoint::tcp(host_only, parts->port, t);
}

/// A registry client; see the file comment. One instance may be shared by
/// threads (its calls are serialised); it keeps its connections, the
/// credentials it looked up, and Bearer tokens until they expire.
/// `R` decides retries; it is copied for each lookup, so a budget is per
/// lookup. Only retryable errors are retried (error::retryable(): lost
/// connections, timeouts, 429, 502/503/504, with Retry-After honoured);
/// 401/403/404 never are.
template <RetryPolicy R = exponential_backoff>
class basic_registry_client {
public:
    using retry_observer = std::function<void(int attempt, const error&, std::chrono::milliseconds delay)>;

    struct options {
        /// The docker CLI config with `auths`, `credsStore`, `credHelpers`;
        /// default docker_auth::config_path() ($DOCKER_CONFIG or ~/.docker).
        std::optional<std::filesystem::path> docker_config;
        /// Credentials for every registry, instead of the config's.
        std::optional<registry_credentials> credentials;
        /// Registries ("host" or "host:port") allowed over plain HTTP, as the
        /// docker daemon's insecure-registries. Loopback ones always are.
        std::vector<std::string> insecure_registries;
        /// A CA bundle for HTTPS registries and token services; empty: the
        /// system's, plus certs_dir/<registry>/ca.crt when it exists.
        std::filesystem::path ca_file;
        std::filesystem::path certs_dir = "/etc/docker/certs.d";
        /// Per request: connect 10 s, 30 s in all, and no byte for 15 s is a stall.
        http::client_options http = default_http();
        /// How long a credential helper may take.
        std::chrono::milliseconds helper_timeout{30'000};
        /// The retry policy, copied for each lookup.
        R retry = R{};
        /// Told before each retry (attempt, its error, the wait): for logs.
        retry_observer on_retry;
    };

    /// What a client did so far (for logs and tests).
    struct counters {
        int lookups = 0;         ///< resolve() calls
        int attempts = 0;        ///< tries, retries included
        int requests = 0;        ///< HTTP requests to registries
        int token_requests = 0;  ///< HTTP requests to token services
    };

    static http::client_options default_http() {
        http::client_options h;
        h.connect_timeout = std::chrono::seconds(10);
        h.timeout = std::chrono::seconds(30);
        h.stall_timeout = std::chrono::seconds(15);
        h.max_body = std::size_t{4} << 20;  // manifests and token answers are small (OCI: 4 MiB)
        return h;
    }

    basic_registry_client() : basic_registry_client(options{}) {}
    explicit basic_registry_client(options o) : opts_(std::move(o)) {}

    /// The manifest `ref` names (its digest when it has one, else its tag or
    /// "latest"), or std::nullopt when the registry has no such manifest or
    /// repository (404). Throws unauthorized (credentials missing or refused;
    /// never retried), rate_limited / server_error / connection_failed /
    /// timeout once the retry policy gives up, parse_error for answers that
    /// are not a registry's, cancelled on a stop request.
    std::optional<manifest_descriptor> resolve(const image_ref& ref, std::stop_token stop = {}) {
        ++stats_.lookups;
        R policy = opts_.retry;
        return rtb::retry(
            policy, stop,
            [&](int) {
                ++stats_.attempts;
                std::lock_guard lock(mutex_);
                return resolve_once(ref, stop);
            },
            [&](int attempt, const error& e, std::chrono::milliseconds delay) {
                if (opts_.on_retry) opts_.on_retry(attempt, e, delay);
            });
    }

    /// Whether the registry has `ref`: resolve() without the details.
    bool exists(const image_ref& ref, std::stop_token stop = {}) { return resolve(ref, std::move(stop)).has_value(); }

    counters stats() const noexcept {
        return {stats_.lookups.load(), stats_.attempts.load(), stats_.requests.load(), stats_.token_requests.load()};
    }

private:
    struct token {
        std::string value;
        std::chrono::steady_clock::time_point expires;
    };

    /// "registry docker.io (https://registry-1.docker.io:443)", for messages.
    static std::string describe(std::string_view registry, const http::endpoint& ep) {
        return fmt::format("registry {} ({})", registry, ep.base_url());
    }

    http::endpoint endpoint_for(std::string_view registry) const {
        http::tls_options tls;
        tls.ca_file = opts_.ca_file;
        bool own_ca = false;
        if (tls.ca_file.empty() && !opts_.certs_dir.empty()) {
            std::error_code ec;
            const auto ca = opts_.certs_dir / docker_auth::normalize_registry(registry) / "ca.crt";
            if (std::filesystem::is_regular_file(ca, ec)) {
                tls.ca_file = ca;
                own_ca = true;
            }
        }
        return registry_endpoint(registry, opts_.insecure_registries, tls, own_ca);
    }

    http::client& client_for(const http::endpoint& ep) {
        const auto key = ep.base_url() + "|" + ep.tls.ca_file.string();
        auto it = clients_.find(key);
        if (it == clients_.end()) it = clients_.emplace(key, http::client(ep, opts_.http)).first;
        return it->second;
    }

    /// The credentials for `registry` (looked up once per client).
    const docker_auth::credential_lookup& credentials_for(const std::string& registry, std::stop_token stop) {
        const auto key = docker_auth::normalize_registry(registry);
        if (auto it = creds_.find(key); it != creds_.end()) return it->second;
        docker_auth::credential_lookup found;
        if (opts_.credentials) {
            found.credentials = opts_.credentials;
            found.source = "the credentials given to the registry client";
        } else {
            const auto file = opts_.docker_config ? *opts_.docker_config : docker_auth::config_path();
            found = docker_auth::resolve_credentials(registry, file, opts_.helper_timeout, stop);
            if (found.source.empty()) found.source = "the docker config (none found: no HOME or DOCKER_CONFIG)";
        }
        if (found.credentials && found.credentials->empty()) found.credentials.reset();
        return creds_.emplace(key, std::move(found)).first->second;
    }

    static std::string token_key(const detail::auth_challenge& c, std::string_view scope) {
        return fmt::format("{}\n{}\n{}", c.param("realm"), c.param("service"), scope);
    }

    /// An Authorization header from what this client already knows about the
    /// registry (its last challenge, a live token), so a lookup after the
    /// first needs no 401 round trip.
    std::optional<std::string> known_authorization(const std::string& registry, const std::string& scope,
                                                   std::stop_token stop) {
        const auto it = challenges_.find(registry);
        if (it == challenges_.end()) return std::nullopt;
        if (it->second.scheme == "bearer") {
            if (const auto t = tokens_.find(token_key(it->second, scope));
                t != tokens_.end() && std::chrono::steady_clock::now() < t->second.expires)
                return "Bearer " + t->second.value;
            return authorize(registry, it->second, scope, stop);
        }
        if (it->second.scheme == "basic") return authorize(registry, it->second, scope, stop);
        return std::nullopt;
    }

    /// Answers a challenge: Basic with the registry's credentials, or Bearer
    /// with a token from the realm. Throws unauthorized when it cannot.
    std::string authorize(const std::string& registry, const detail::auth_challenge& c, const std::string& scope,
                          std::stop_token stop) {
        const auto& creds = credentials_for(registry, stop);
        if (c.scheme == "basic") {
            if (!creds.credentials || creds.credentials->username.empty())
                throw error(errc::unauthorized,
                            fmt::format("registry {} asks for a user name and password (Basic auth); none found for "
                                        "it in {} (docker login {})",
                                        registry, creds.source, registry));
            return "Basic " + detail::base64_encode(creds.credentials->username + ":" + creds.credentials->password);
        }
        if (c.scheme != "bearer")
            throw error(errc::unauthorized, fmt::format("registry {} asks for {} auth, which rtb does not support "
                                                        "(it speaks Basic and Bearer)",
                                                        registry, detail::ref::quote(c.scheme.substr(0, 40))));
        return "Bearer " + fetch_token(registry, c, scope, creds, stop);
    }

    /// The Bearer token flow (distribution's token auth spec): GET realm with
    /// service and scope (and Basic credentials when we have them), or the
    /// OAuth2 refresh-token POST for an identity token. Cached until it expires.
    std::string fetch_token(const std::string& registry, const detail::auth_challenge& c, const std::string& scope,
                            const docker_auth::credential_lookup& creds, std::stop_token stop) {
        const auto realm_text = c.param("realm");
        const auto realm = detail::parse_url(realm_text);
        if (!realm)
            throw error(errc::parse_error,
                        fmt::format("registry {} named token service {}, which is not an http(s) URL without user "
                                    "information",
                                    registry, detail::ref::quote(realm_text.substr(0, 200))));
        // Credentials travel to the realm: never in clear text off this machine
        // unless the registry was declared insecure.
        if (!realm->https && !detail::is_loopback_host(realm->host)) {
            bool allowed = false;
            const auto hostport = realm->host + ":" + std::to_string(realm->port);
            for (const auto& i : opts_.insecure_registries) {
                const auto n = docker_auth::normalize_registry(i);
                if (n == realm->host || n == hostport) allowed = true;
            }
            if (!allowed)
                throw error(errc::unauthorized,
                            fmt::format("registry {} sent us to token service {} over plain HTTP; rtb only sends "
                                        "credentials there over HTTPS (or list {} in insecure_registries)",
                                        registry, detail::ref::quote(realm_text.substr(0, 200)), realm->host));
        }
        http::tls_options tls;
        tls.enabled = realm->https;
        tls.ca_file = opts_.ca_file;
        auto& cl = client_for(http::endpoint::tcp(realm->host, realm->port, tls));
        const std::string realm_where = fmt::format("token service {}://{}:{}", realm->https ? "https" : "http",
                                                    realm->host, realm->port);
        const auto service = c.param("service");

        const auto& cred = creds.credentials;
        http::request req;
        std::string query;
        auto add = [](std::string& q, std::string_view k, std::string_view v) {
            if (!q.empty()) q += '&';
            q += detail::url_encode(k);
            q += '=';
            q += detail::url_encode(v);
        };
        if (cred && !cred->identity_token.empty()) {
            req.method = "POST";
            req.target = realm->path;
            req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
            add(req.body, "grant_type", "refresh_token");
            if (!service.empty()) add(req.body, "service", service);
            add(req.body, "scope", scope);
            add(req.body, "client_id", "rtb");
            add(req.body, "refresh_token", cred->identity_token);
        } else {
            if (!service.empty()) add(query, "service", service);
            add(query, "scope", scope);
            if (cred && !cred->username.empty()) {
                add(query, "account", cred->username);
                req.headers.push_back(
                    {"Authorization", "Basic " + detail::base64_encode(cred->username + ":" + cred->password)});
            }
            req.target = realm->path + (realm->path.find('?') == std::string::npos ? "?" : "&") + query;
        }
        ++stats_.token_requests;
        const auto resp = cl.send(req, stop);
        if (resp.status == 401 || resp.status == 403) {
            throw error(errc::unauthorized,
                        fmt::format("{} refused {} for {} of registry {}: HTTP {}{}", realm_where,
                                    cred ? fmt::format("the credentials from {}", creds.source)
                                         : std::string("anonymous access"),
                                    scope, registry, resp.status,
                                    cred ? "" : fmt::format(" (no credentials for {} in {}; docker login {})", registry,
                                                            creds.source, registry)))
                .with_http_status(resp.status);
        }
        http::throw_for_status(resp, fmt::format("asking {} for a token for {} of registry {}", realm_where, scope,
                                                 registry));
        if (resp.status != 200)
            throw error(errc::parse_error, fmt::format("{} answered HTTP {} to a token request for registry {}",
                                                       realm_where, resp.status, registry));
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        std::string_view value;
        const auto bad = [&](std::string_view why) {
            return error(errc::parse_error, fmt::format("{} answered a token request for registry {} with {}",
                                                        realm_where, registry, why));
        };
        if (parser.parse(resp.body).get(doc) != simdjson::SUCCESS || !doc.is_object())
            throw bad("something that is not a JSON object");
        if ((doc["token"].get_string().get(value) != simdjson::SUCCESS || value.empty()) &&
            (doc["access_token"].get_string().get(value) != simdjson::SUCCESS || value.empty()))
            throw bad("no token (neither \"token\" nor \"access_token\")");
        if (value.size() > 64 * 1024) throw bad("a token longer than 64 KiB");
        for (unsigned char ch : value)
            if (ch <= 0x20 || ch >= 0x7f) throw bad("a token holding spaces, control or non-ASCII bytes");
        // expires_in: 60 s when absent or shorter (the spec's minimum); at most a day.
        std::int64_t expires_in = 60;
        if (std::int64_t v = 0; doc["expires_in"].get_int64().get(v) == simdjson::SUCCESS) expires_in = v;
        expires_in = std::clamp<std::int64_t>(expires_in, 60, 86'400);
        const auto now = std::chrono::steady_clock::now();
        // Renew a little early: a token that expires in flight costs a 401 round trip.
        const auto lifetime = std::chrono::seconds(expires_in - std::max<std::int64_t>(5, expires_in / 10));
        remember_secret(value);
        tokens_[token_key(c, scope)] = token{std::string(value), now + lifetime};
        return std::string(value);
    }

    /// The challenge to answer from a 401: Bearer before Basic, else the first.
    static std::optional<detail::auth_challenge> pick_challenge(const http::response& r) {
        std::vector<detail::auth_challenge> all;
        for (const auto& h : r.headers) {
            if (h.name.size() != 16) continue;
            if (detail::challenge_parse::lower(h.name) != "www-authenticate") continue;
            for (auto& c : detail::parse_challenges(h.value)) all.push_back(std::move(c));
        }
        for (const auto* want : {"bearer", "basic"})
            for (const auto& c : all)
                if (c.scheme == want && (c.scheme != "bearer" || !c.param("realm").empty())) return c;
        if (!all.empty()) return all.front();
        return std::nullopt;
    }

    std::optional<manifest_descriptor> resolve_once(const image_ref& ref, std::stop_token stop) {
        const auto& registry = ref.registry();
        const auto ep = endpoint_for(registry);
        auto& cl = client_for(ep);
        const auto where = describe(registry, ep);
        const std::string reference = ref.digest() ? *ref.digest() : std::string(ref.tag_or_latest());
        const std::string scope = fmt::format("repository:{}:pull", ref.repository());
        const std::string what = fmt::format("looking up {} in {}", ref.str(), where);

        http::request req{"HEAD", fmt::format("/v2/{}/manifests/{}", ref.repository(), reference)};
        req.headers.push_back({"Accept", fmt::format("{}, {}, {}, {}", media_types::oci_index, media_types::oci_manifest,
                                                     media_types::docker_manifest_list, media_types::docker_manifest)});
        const auto set_auth = [&](const std::optional<std::string>& value) {
            std::erase_if(req.headers, [](const http::header_field& h) { return h.name == "Authorization"; });
            if (value) req.headers.push_back({"Authorization", *value});
        };
        set_auth(known_authorization(registry, scope, stop));
        ++stats_.requests;
        auto resp = cl.send(req, stop);
        if (resp.status == 401) {
            const auto challenge = pick_challenge(resp);
            if (!challenge)
                throw error(errc::unauthorized,
                            fmt::format("{}: HTTP 401 without a WWW-Authenticate challenge rtb understands", what))
                    .with_http_status(401);
            if (challenge->scheme == "bearer") tokens_.erase(token_key(*challenge, scope));
            challenges_[registry] = *challenge;
            set_auth(authorize(registry, *challenge, scope, stop));
            ++stats_.requests;
            resp = cl.send(req, stop);
            if (resp.status == 401 || resp.status == 403) {
                const auto& creds = credentials_for(registry, stop);
                throw error(errc::unauthorized,
                            fmt::format("{}: HTTP {} with {}: the credentials are wrong, lack pull access, or the "
                                        "repository does not exist",
                                        what, resp.status,
                                        creds.credentials ? fmt::format("the credentials from {}", creds.source)
                                                          : std::string("anonymous access")))
                    .with_http_status(resp.status);
            }
        }
        if (resp.status == 404) return std::nullopt;
        if (resp.status >= 400)
            throw http::error_for_status(resp.status, what, http::server_message(resp.body), resp.header("Retry-After"));
        if (resp.status != 200)
            throw error(errc::parse_error, fmt::format("{}: unexpected HTTP {} to a manifest HEAD", what, resp.status))
                .with_http_status(resp.status);

        manifest_descriptor m;
        if (const auto ct = resp.header("Content-Type")) {
            auto v = *ct;
            if (const auto semi = v.find(';'); semi != std::string_view::npos) v = v.substr(0, semi);
            while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
            m.media_type = std::string(v.substr(0, 200));
        }
        if (const auto len = resp.header("Content-Length")) {
            std::uint64_t n = 0;
            bool ok = !len->empty() && len->size() <= 19;
            for (char ch : *len) {
                if (ch < '0' || ch > '9') ok = false;
                else n = n * 10 + static_cast<std::uint64_t>(ch - '0');
            }
            if (ok) m.size = n;
        }
        if (const auto d = resp.header("Docker-Content-Digest")) {
            if (const auto why = detail::ref::check_digest(*d))
                throw error(errc::parse_error, fmt::format("{}: the registry's Docker-Content-Digest {} is not a "
                                                           "digest: {}",
                                                           what, detail::ref::quote(d->substr(0, 200)), *why));
            m.digest = std::string(*d);
        } else if (ref.digest()) {
            m.digest = *ref.digest();
        } else {
            // Some registries leave the digest out of HEAD answers: fetch the
            // manifest (small) and hash it, as `docker pull` would.
            http::request get = req;
            get.method = "GET";
            ++stats_.requests;
            const auto body = cl.send(get, stop);
            if (body.status == 404) return std::nullopt;
            http::throw_for_status(body, what);
            m.digest = "sha256:" + hash_bytes(hash_algorithm::sha256, body.body).hex();
            m.size = body.body.size();
        }
        if (ref.digest() && m.digest != *ref.digest())
            throw error(errc::parse_error, fmt::format("{}: the registry answered for digest {} instead", what, m.digest));
        return m;
    }

    options opts_;
    std::mutex mutex_;
    std::map<std::string, http::client> clients_;
    std::map<std::string, docker_auth::credential_lookup> creds_;
    std::map<std::string, detail::auth_challenge> challenges_;
    std::map<std::string, token> tokens_;
    struct {
        std::atomic<int> lookups{0}, attempts{0}, requests{0}, token_requests{0};
    } stats_;
};

/// The common registry client: exponential backoff with full jitter.
using registry_client = basic_registry_client<exponential_backoff>;

#ifdef RTB_SEPARATE_COMPILATION
// Compiled once, by <rtb/src.hpp>.
extern template class basic_registry_client<exponential_backoff>;
#endif

/// docker_engine's hook for lookup::local_then_registry, asking `client`.
template <RetryPolicy R>
registry_lookup make_registry_lookup(std::shared_ptr<basic_registry_client<R>> client) {
    return [client = std::move(client)](const image_ref& ref, std::stop_token stop) {
        return client->exists(ref, std::move(stop));
    };
}

/// The hook with a registry client of its own.
inline registry_lookup make_registry_lookup(registry_client::options o) {
    return make_registry_lookup(std::make_shared<registry_client>(std::move(o)));
}
inline registry_lookup make_registry_lookup() { return make_registry_lookup(registry_client::options{}); }

}  // namespace rtb
