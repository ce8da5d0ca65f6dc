// Doctor check of a registry: reachable (GET /v2/), and when it asks for a
// login, whether the docker config's credentials for it are accepted (Basic
// directly, Bearer through its token service). Credentials are sent, never
// shown. probe_registry() asks; check_registry() is a pure function of what
// it found. The probe also keeps the registry's Date header for the clock check.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/doctor/check.hpp"
#include "rtb/doctor/options.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/transport/detail/auth_challenge.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/docker_auth.hpp"
#include "rtb/transport/http.hpp"
#include "rtb/transport/registry.hpp"

namespace rtb::doctor {

/// What asking a registry found.
struct registry_probe {
    std::string registry;                        ///< host[:port], normalized
    std::string where;                           ///< "http://127.0.0.1:5000"
    std::optional<error> problem;                ///< GET /v2/ could not be asked (connection, TLS, name)
    int anonymous_status = 0;                    ///< GET /v2/ without credentials
    std::string challenge;                       ///< on 401: "basic", "bearer", another scheme, or ""
    std::string credential_source;               ///< where credentials were looked for
    bool has_credentials = false;
    std::optional<error> credential_problem;     ///< reading the credentials failed
    std::optional<int> authenticated_status;     ///< with credentials: /v2/'s answer (or the token service's refusal)
    std::optional<error> authenticated_problem;  ///< asking with credentials failed
    std::optional<std::chrono::sys_seconds> server_date;      ///< the first answer's Date
    std::chrono::system_clock::time_point local_time{};       ///< the local clock when it came
};

/// "registry HOST": reachable, open or logged in. 401 with credentials:
/// failed (refused); 401 without: warning (no credentials); unreachable: failed.
inline check_result check_registry(const registry_probe& p) {
    const std::string name = fmt::format("registry {}", p.registry);
    const std::string login = fmt::format("docker login {}", p.registry);
    if (p.problem) {
        const auto& e = *p.problem;
        if (e.value() == errc::invalid_argument)
            return check_result::failed(name, e.what(), "name the registry as host[:port], e.g. ghcr.io or 127.0.0.1:5000");
        return check_result::failed(name, fmt::format("cannot reach it: {}", e.what()),
                                    "start the registry, or check its host and port and the network (proxy, "
                                    "firewall, DNS) between here and it");
    }
    const auto s = p.anonymous_status;
    if (s >= 200 && s < 300)
        return check_result::ok(name, fmt::format("reachable at {}; open (no login needed{})", p.where,
                                                  p.has_credentials ? fmt::format("; the credentials in {} are not used",
                                                                                  p.credential_source)
                                                                    : ""));
    if (s == 401) {
        const std::string scheme = p.challenge.empty() ? std::string("a login") : fmt::format("{} auth", p.challenge);
        if (p.credential_problem)
            return check_result::failed(name,
                                        fmt::format("it asks for {}, and its credentials cannot be read: {}", scheme,
                                                    p.credential_problem->what()),
                                        fmt::format("fix the docker config (or the credential helper it names), then {}",
                                                    login));
        if (!p.has_credentials)
            return check_result::warning(name,
                                         fmt::format("reachable at {}; it asks for {} and there are no credentials for "
                                                     "it in {}",
                                                     p.where, scheme,
                                                     p.credential_source.empty() ? "the docker config"
                                                                                 : p.credential_source),
                                         fmt::format("{} (the config rtb reads: DOCKER_CONFIG, else ~/.docker) if its "
                                                     "images are private or rtb pushes there",
                                                     login));
        if (p.authenticated_problem)
            return check_result::failed(name,
                                        fmt::format("reachable at {}, but checking the credentials from {} failed: {}",
                                                    p.where, p.credential_source, p.authenticated_problem->what()),
                                        fmt::format("check the registry's auth setup; then {}", login));
        const int a = p.authenticated_status.value_or(0);
        if (a >= 200 && a < 300)
            return check_result::ok(name, fmt::format("reachable at {}; the credentials from {} are accepted", p.where,
                                                      p.credential_source));
        if (a == 401 || a == 403)
            return check_result::failed(name,
                                        fmt::format("credentials for {} are refused (HTTP {}; from {})", p.registry, a,
                                                    p.credential_source),
                                        fmt::format("{} with the right user and password (or fix auths[\"{}\"] in {})",
                                                    login, p.registry, p.credential_source));
        return check_result::failed(name,
                                    fmt::format("reachable at {}, but it answered HTTP {} to the credentials from {}",
                                                p.where, a, p.credential_source),
                                    "check the registry's logs and auth setup");
    }
    if (s == 429)
        return check_result::warning(name, fmt::format("reachable at {}, but rate limited (HTTP 429)", p.where),
                                     fmt::format("wait, or {} (logged-in users get higher limits)", login));
    if (s == 404)
        return check_result::failed(name,
                                    fmt::format("{} answered GET /v2/ with HTTP 404: not an OCI registry", p.where),
                                    "check that host[:port] names a registry (its API answers at /v2/)");
    if (s >= 500)
        return check_result::failed(name, fmt::format("{} answered GET /v2/ with HTTP {}", p.where, s),
                                    "the registry is unwell: check its logs and storage");
    return check_result::warning(name, fmt::format("{} answered GET /v2/ with HTTP {}", p.where, s),
                                 "check that host[:port] names a registry");
}

namespace detail_doctor {

/// Bearer: a token from the realm with the credentials; returns the token
/// service's status when it refused, else /v2/'s answer with the token.
inline int bearer_login(http::client& registry_client, const detail::auth_challenge& c,
                        const registry_credentials& cred, const doctor_options& o, const http::client_options& ho,
                        std::stop_token stop) {
    const auto realm_text = c.param("realm");
    const auto realm = detail::parse_url(realm_text);
    if (!realm)
        throw error(errc::parse_error, "the registry named a token service that is not an http(s) URL");
    if (!realm->https && !detail::is_loopback_host(realm->host)) {
        bool allowed = false;
        for (const auto& i : o.insecure_registries) {
            const auto n = docker_auth::normalize_registry(i);
            if (n == realm->host || n == realm->host + ":" + std::to_string(realm->port)) allowed = true;
        }
        if (!allowed)
            throw error(errc::unauthorized,
                        fmt::format("the registry's token service {} is plain HTTP; rtb sends credentials there only "
                                    "over HTTPS (or list {} as an insecure registry)",
                                    realm->host, realm->host));
    }
    http::tls_options tls;
    tls.enabled = realm->https;
    http::client token_client(http::endpoint::tcp(realm->host, realm->port, tls), ho);
    http::request req;
    std::string query;
    auto add = [](std::string& q, std::string_view k, std::string_view v) {
        if (!q.empty()) q += '&';
        q += detail::url_encode(k);
        q += '=';
        q += detail::url_encode(v);
    };
    const auto service = c.param("service");
    if (!cred.identity_token.empty()) {
        req.method = "POST";
        req.target = realm->path;
        req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
        add(req.body, "grant_type", "refresh_token");
        if (!service.empty()) add(req.body, "service", service);
        add(req.body, "client_id", "rtb");
        add(req.body, "refresh_token", cred.identity_token);
    } else {
        if (!service.empty()) add(query, "service", service);
        add(query, "account", cred.username);
        req.headers.push_back({"Authorization", "Basic " + detail::base64_encode(cred.username + ":" + cred.password)});
        req.target = realm->path + (realm->path.find('?') == std::string::npos ? "?" : "&") + query;
    }
    const auto r = token_client.send(req, stop);
    if (r.status == 401 || r.status == 403) return r.status;
    http::throw_for_status(r, "asking the registry's token service for a token");
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view token;
    if (parser.parse(r.body).get(doc) != simdjson::SUCCESS ||
        ((doc["token"].get_string().get(token) != simdjson::SUCCESS || token.empty()) &&
         (doc["access_token"].get_string().get(token) != simdjson::SUCCESS || token.empty())))
        throw error(errc::parse_error, "the registry's token service answered without a token");
    remember_secret(token);
    http::request check{"GET", "/v2/"};
    check.headers.push_back({"Authorization", "Bearer " + std::string(token)});
    return registry_client.send(check, stop).status;
}

}  // namespace detail_doctor

/// Asks `registry` GET /v2/, then (on a 401) again with the docker config's
/// credentials. Never throws for what it finds: problems go into the probe.
inline registry_probe probe_registry(std::string_view registry, const doctor_options& o, std::stop_token stop = {}) {
    registry_probe p;
    p.registry = docker_auth::normalize_registry(registry);
    try {
        http::tls_options tls;
        {
            std::error_code ec;
            const auto ca = std::filesystem::path("/etc/docker/certs.d") / p.registry / "ca.crt";
            if (std::filesystem::is_regular_file(ca, ec)) tls.ca_file = ca;
        }
        const auto ep = registry_endpoint(registry, o.insecure_registries, tls);
        p.where = ep.base_url();
        http::client_options ho;
        ho.connect_timeout = std::min<std::chrono::milliseconds>(o.timeout, std::chrono::seconds(10));
        ho.timeout = o.timeout;
        ho.max_body = std::size_t{1} << 20;
        http::client cl(ep, ho);
        const auto r = cl.send({"GET", "/v2/"}, stop);
        p.local_time = std::chrono::system_clock::now();
        if (const auto d = r.header("Date")) p.server_date = detail::parse_http_date(*d);
        p.anonymous_status = r.status;
        if (r.status != 401) return p;

        std::optional<detail::auth_challenge> challenge;
        for (const auto& h : r.headers) {
            if (detail::challenge_parse::lower(h.name) != "www-authenticate") continue;
            for (auto& c : detail::parse_challenges(h.value))
                if (!challenge || (c.scheme == "bearer" && challenge->scheme != "bearer")) challenge = std::move(c);
        }
        if (challenge) p.challenge = challenge->scheme;

        const auto file = o.docker_config ? *o.docker_config : docker_auth::config_path();
        std::optional<registry_credentials> cred;
        try {
            auto found = docker_auth::resolve_credentials(p.registry, file, o.timeout, stop);
            p.credential_source = found.source.empty() ? std::string("the docker config (no HOME or DOCKER_CONFIG)")
                                                       : found.source;
            if (found.credentials && !found.credentials->empty()) cred = std::move(found.credentials);
        } catch (const error& e) {
            p.credential_source = file.string();
            p.credential_problem = e;
            return p;
        }
        p.has_credentials = cred.has_value();
        if (!cred) return p;
        remember_secrets(*cred);
        try {
            if (challenge && challenge->scheme == "bearer") {
                p.authenticated_status = detail_doctor::bearer_login(cl, *challenge, *cred, o, ho, stop);
            } else if (!challenge || challenge->scheme == "basic") {
                if (cred->username.empty())
                    throw error(errc::unauthorized,
                                "the registry wants a user name and password (Basic auth); the config holds only an "
                                "identity token for it");
                http::request again{"GET", "/v2/"};
                again.headers.push_back(
                    {"Authorization", "Basic " + detail::base64_encode(cred->username + ":" + cred->password)});
                p.authenticated_status = cl.send(again, stop).status;
            } else {
                throw error(errc::unauthorized,
                            fmt::format("the registry asks for {} auth; rtb speaks Basic and Bearer",
                                        detail::ref::quote(challenge->scheme.substr(0, 40))));
            }
        } catch (const error& e) {
            if (e.value() == errc::cancelled) throw;
            p.authenticated_problem = e;
        }
    } catch (const error& e) {
        if (e.value() == errc::cancelled) throw;
        p.problem = e;
    }
    return p;
}

}  // namespace rtb::doctor
