// Real registries for tests: Debian's docker-registry (distribution 2.8)
// started by the test itself on 127.0.0.1 with an auth section of the test's
// choosing (htpasswd, token), in a temporary folder removed afterwards; the
// process is stopped (TERM, then KILL) and reaped on every path. Plus a
// token issuer the registry trusts (an RSA key and a self-signed certificate
// made with OpenSSL, RS256 JWTs with an x5c header) and a minimal pusher
// that uploads blobs and manifests through the registry API.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <spawn.h>
#include <sys/wait.h>

#include "rtb/detail/subprocess.hpp"
#include "rtb/hash/hasher.hpp"
#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/http.hpp"
#include "support/fake_server.hpp"
#include "support/temp_tree.hpp"

namespace rtb::test {

/// A free TCP port on 127.0.0.1 (bound and released).
inline int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("free_port: cannot bind 127.0.0.1");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

/// docker-registry serving `auth_yaml` (the config's auth section, or empty)
/// on 127.0.0.1:port(), storage in its own temporary folder.
class registry_process {
public:
    explicit registry_process(const std::string& auth_yaml) {
        // The port is free when picked; another process may take it before
        // the registry binds it: then try another.
        for (int attempt = 1;; ++attempt) {
            port_ = free_port();
            try {
                start(auth_yaml);
                return;
            } catch (const std::runtime_error&) {
                if (attempt == 3) throw;
            }
        }
    }
    registry_process(const registry_process&) = delete;
    registry_process& operator=(const registry_process&) = delete;
    ~registry_process() { stop(); }

    int port() const noexcept { return port_; }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string read_log() const {
        std::ifstream in(dir_ / "registry.log");
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    void start(const std::string& auth_yaml) {
        const auto cfg = dir_.file("config.yml", fmt::format(R"(version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{}
{}
)",
                                                            (dir_ / "data").string(), port_, auth_yaml));
        const auto log = (dir_ / "registry.log").string();
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        posix_spawnattr_t at;
        posix_spawnattr_init(&at);
        posix_spawnattr_setpgroup(&at, 0);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
        std::string prog = "docker-registry", serve = "serve", c = cfg.string();
        char* argv[] = {prog.data(), serve.data(), c.data(), nullptr};
        const int rc = ::posix_spawnp(&pid_, prog.c_str(), &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        if (rc != 0) throw std::runtime_error("cannot start docker-registry (install docker-registry): " +
                                              std::string(std::strerror(rc)));
        // Ready once /v2/ answers anything (401 with auth).
        http::client_options o;
        o.timeout = std::chrono::seconds(2);
        http::client probe(http::endpoint::tcp("127.0.0.1", port_), o);
        for (int i = 0; i < 300; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("docker-registry exited during start-up: " + read_log());
            }
            try {
                if (probe.send({"GET", "/v2/"}).status > 0) {
                    // ours, not another process that had the port: still running after its bind
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                        pid_ = -1;
                        throw std::runtime_error("docker-registry exited during start-up: " + read_log());
                    }
                    return;
                }
            } catch (const error&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        stop();
        throw std::runtime_error("docker-registry did not answer within 15 s: " + read_log());
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        for (int i = 0; i < 100; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    temp_tree dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

/// An htpasswd file line with a bcrypt hash (what docker-registry accepts),
/// made by Debian's htpasswd (apache2-utils).
inline std::string htpasswd_line(const std::string& user, const std::string& password) {
    auto r = detail::run_program({"htpasswd", "-nbB", "-C", "5", user, password});
    if (r.exit_code != 0) throw std::runtime_error("htpasswd failed: " + r.err);
    while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
    return r.out;
}

/// A token service the registry trusts: issues RS256 JWTs for the
/// repository scopes asked for, to the one user it knows (Basic auth);
/// anonymous and wrong credentials get 401.
class token_issuer {
public:
    static constexpr const char* issuer = "rtb-test-issuer";
    static constexpr const char* service = "rtb-test-registry";

    token_issuer(std::string user, std::string password) : user_(std::move(user)), password_(std::move(password)) {
        key_.reset(EVP_RSA_gen(2048));
        if (!key_) throw std::runtime_error("EVP_RSA_gen failed");
        std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
        X509_set_version(x.get(), 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
        X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
        X509_set_pubkey(x.get(), key_.get());
        X509_NAME* name = X509_get_subject_name(x.get());
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("rtb test token issuer"), -1, -1, 0);
        X509_set_issuer_name(x.get(), name);
        if (!X509_sign(x.get(), key_.get(), EVP_sha256())) throw std::runtime_error("X509_sign failed");
        cert_path_ = dir_ / "token.crt";
        {
            std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new_file(cert_path_.c_str(), "w"), BIO_free);
            if (!b || !PEM_write_bio_X509(b.get(), x.get())) throw std::runtime_error("cannot write the certificate");
        }
        const int len = i2d_X509(x.get(), nullptr);
        std::string der(static_cast<std::size_t>(len), '\0');
        auto* p = reinterpret_cast<unsigned char*>(der.data());
        i2d_X509(x.get(), &p);
        x5c_ = detail::base64_encode(der);

        server_.emplace([this](connection& c, const std::string& head) { return serve(c, head); });
    }

    int port() const { return server_->port(); }
    /// The registry's auth section for this issuer.
    std::string auth_yaml() const {
        return fmt::format(R"(auth:
  token:
    realm: http://127.0.0.1:{}/token
    service: {}
    issuer: {}
    rootcertbundle: {})",
                           port(), service, issuer, cert_path_.string());
    }
    /// A token for `scope` ("repository:a/b:pull,push"), as the service would give.
    std::string token_for(const std::string& scope) const { return sign(scope); }
    int requests() const { return requests_; }

private:
    static std::string b64url(std::string_view s) {
        auto out = detail::base64_encode(s, true);
        while (!out.empty() && out.back() == '=') out.pop_back();
        return out;
    }

    std::string sign(const std::string& scope) const {
        // scope: repository:NAME:ACTIONS (NAME may hold ':' only with a port, not here)
        std::string access = "[]";
        if (scope.starts_with("repository:")) {
            const auto last = scope.rfind(':');
            const auto name = scope.substr(11, last - 11);
            std::string actions;
            std::size_t start = last + 1;
            while (start <= scope.size()) {
                auto comma = scope.find(',', start);
                if (comma == std::string::npos) comma = scope.size();
                if (!actions.empty()) actions += ',';
                actions += '"' + scope.substr(start, comma - start) + '"';
                start = comma + 1;
            }
            access = fmt::format(R"([{{"type":"repository","name":"{}","actions":[{}]}}])", name, actions);
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        unsigned char rnd[8];
        RAND_bytes(rnd, sizeof rnd);
        const auto header = fmt::format(R"({{"alg":"RS256","typ":"JWT","x5c":["{}"]}})", x5c_);
        const auto claims = fmt::format(
            R"({{"iss":"{}","sub":"{}","aud":"{}","exp":{},"nbf":{},"iat":{},"jti":"{}","access":{}}})", issuer, user_,
            service, now + 300, now - 10, now, detail::base64_encode(std::string_view(reinterpret_cast<char*>(rnd), 8), true),
            access);
        const auto input = b64url(header) + "." + b64url(claims);
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        std::size_t sig_len = 0;
        if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
            EVP_DigestSign(ctx.get(), nullptr, &sig_len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) != 1)
            throw std::runtime_error("signing failed");
        std::string sig(sig_len, '\0');
        if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
            throw std::runtime_error("signing failed");
        sig.resize(sig_len);
        return input + "." + b64url(sig);
    }

    static std::string url_decode(std::string_view s) {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '%' && i + 2 < s.size()) {
                out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
                i += 2;
            } else {
                out += s[i] == '+' ? ' ' : s[i];
            }
        }
        return out;
    }

    bool serve(connection& c, const std::string& head) {
        ++requests_;
        const auto target = target_of(head);
        const auto q = target.find('?');
        std::string scope;
        if (q != std::string::npos) {
            std::string_view query = std::string_view(target).substr(q + 1);
            while (!query.empty()) {
                const auto amp = query.find('&');
                const auto kv = query.substr(0, amp);
                if (kv.starts_with("scope=")) scope = url_decode(kv.substr(6));
                if (amp == std::string_view::npos) break;
                query.remove_prefix(amp + 1);
            }
        }
        const auto auth = header_of(head, "Authorization");
        const auto expected = "Basic " + detail::base64_encode(user_ + ":" + password_);
        if (auth != expected)
            return c.write(answer(401, R"({"details":"authentication required"})",
                                  "WWW-Authenticate: Basic realm=\"rtb-test-token\"\r\n"));
        return c.write(answer(200, fmt::format(R"({{"token":"{}","expires_in":300}})", sign(scope))));
    }

    temp_tree dir_;
    std::string user_, password_;
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_{nullptr, EVP_PKEY_free};
    std::filesystem::path cert_path_;
    std::string x5c_;
    std::atomic<int> requests_{0};
    std::optional<fake_server> server_;  // last: stopped first
};

/// Pushes blobs and manifests through the registry API (for fixtures; the
/// code under test never pushes). `authorization` is sent with every request.
class pusher {
public:
    pusher(std::string host_port, std::string authorization = {}, http::tls_options tls = {})
        : client_(endpoint_of(host_port, std::move(tls))), auth_(std::move(authorization)) {}

    /// Uploads a blob (monolithic: POST, then PUT with the digest); returns its digest.
    std::string blob(const std::string& repo, const std::string& bytes) {
        const auto digest = "sha256:" + hash_bytes(hash_algorithm::sha256, bytes).hex();
        auto r = send({"POST", "/v2/" + repo + "/blobs/uploads/"});
        expect(r, 202, "starting a blob upload");
        auto location = std::string(r.header("Location").value_or(""));
        if (const auto scheme = location.find("://"); scheme != std::string::npos)
            location = location.substr(location.find('/', scheme + 3));
        http::request put{"PUT", location + (location.find('?') == std::string::npos ? "?" : "&") +
                                     "digest=" + detail::url_encode(digest)};
        put.headers.push_back({"Content-Type", "application/octet-stream"});
        put.body = bytes;
        expect(send(put), 201, "finishing a blob upload");
        return digest;
    }

    /// PUTs a manifest under `reference` (a tag or digest); returns its digest.
    std::string manifest(const std::string& repo, const std::string& reference, const std::string& media_type,
                         const std::string& body) {
        http::request put{"PUT", "/v2/" + repo + "/manifests/" + reference};
        put.headers.push_back({"Content-Type", media_type});
        put.body = body;
        expect(send(put), 201, "putting a manifest");
        return "sha256:" + hash_bytes(hash_algorithm::sha256, body).hex();
    }

    struct pushed_image {
        std::string digest, body;
    };

    /// A small single-platform OCI image (a config and one layer of `layer`).
    pushed_image image(const std::string& repo, const std::string& tag, const std::string& arch = "amd64",
                       const std::string& layer = "layer bytes") {
        const auto config = fmt::format(R"({{"architecture":"{}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}})",
                                        arch);
        const auto config_digest = blob(repo, config);
        const auto layer_digest = blob(repo, layer);
        const auto body = fmt::format(
            R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
            R"("config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},)"
            R"("layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}})",
            config_digest, config.size(), layer_digest, layer.size());
        return {manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", body), body};
    }

    /// A multi-platform OCI index over amd64 and arm64 images, tagged `tag`.
    pushed_image index(const std::string& repo, const std::string& tag) {
        std::string entries;
        for (const std::string arch : {"amd64", "arm64"}) {
            const auto m = image(repo, tag + "-" + arch, arch, "layer for " + arch);
            if (!entries.empty()) entries += ',';
            entries += fmt::format(
                R"({{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},)"
                R"("platform":{{"architecture":"{}","os":"linux"}}}})",
                m.digest, m.body.size(), arch);
        }
        const auto body =
            fmt::format(R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}})",
                        entries);
        return {manifest(repo, tag, "application/vnd.oci.image.index.v1+json", body), body};
    }

private:
    static http::endpoint endpoint_of(const std::string& host_port, http::tls_options tls = {}) {
        const auto colon = host_port.rfind(':');
        return http::endpoint::tcp(host_port.substr(0, colon), std::stoi(host_port.substr(colon + 1)), std::move(tls));
    }
    http::response send(http::request r) {
        if (!auth_.empty()) r.headers.push_back({"Authorization", auth_});
        return client_.send(r);
    }
    static void expect(const http::response& r, int status, std::string_view what) {
        if (r.status != status)
            throw std::runtime_error(fmt::format("pusher: {}: HTTP {}: {}", what, r.status, r.body));
    }

    http::client client_;
    std::string auth_;
};

}  // namespace rtb::test
