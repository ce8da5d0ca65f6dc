// What a failed TLS handshake means, in the terms of the files the user
// gave: libcurl reports OpenSSL's words ("unable to get local issuer
// certificate", "sslv3 alert bad certificate"); rtb says which file was
// wrong and how (not signed by that CA, expired, missing), so a user
// setting up DOCKER_CERT_PATH knows what to fix.
#pragma once

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace rtb::detail::tls {

/// The TLS files in use for one endpoint, as the error names them.
struct files {
    std::filesystem::path ca_file;    ///< empty: the system's CAs
    std::filesystem::path cert_file;  ///< empty: no client certificate
    std::filesystem::path key_file;
    std::filesystem::path cert_dir;   ///< where they were looked for (DOCKER_CERT_PATH), when known
};

/// When the PEM certificate in `file` stops being valid, as "2020-01-02
/// 00:00:00 UTC", when it has already; std::nullopt when it is still valid
/// or cannot be read (the handshake's own words then stand).
inline std::optional<std::string> expired_on(const std::filesystem::path& file) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!f) return std::nullopt;
    std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!cert) return std::nullopt;
    const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
    if (!not_after || X509_cmp_current_time(not_after) > 0) return std::nullopt;
    std::tm tm{};
    if (ASN1_TIME_to_tm(not_after, &tm) != 1) return std::string("a date that has passed");
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return std::string(text);
}

/// The message for a TLS failure with `where` (the endpoint as the user
/// named it), from libcurl's `detail`; std::nullopt when `detail` is not a
/// certificate problem rtb can explain (the caller's generic message stands).
inline std::optional<std::string> explain(std::string_view detail, const files& f, std::string_view where) {
    auto has = [&](std::string_view s) { return detail.find(s) != std::string_view::npos; };
    // The server's certificate, as we checked it.
    if (has("certificate has expired"))
        return fmt::format("{}'s certificate has expired (checked against {}): the server needs a new one; {}", where,
                           f.ca_file.empty() ? std::string("the system's CAs") : f.ca_file.string(), detail);
    if (has("unable to get local issuer certificate") || has("self-signed certificate") ||
        has("self signed certificate") || has("unable to verify the first certificate") ||
        has("certificate signature failure"))
        return f.ca_file.empty()
                   ? fmt::format("{}'s certificate is not signed by a CA this machine trusts, and no ca.pem was "
                                 "found{}: give the CA that signed it as ca.pem there; {}",
                                 where,
                                 f.cert_dir.empty() ? std::string()
                                                    : fmt::format(" in {} (DOCKER_CERT_PATH)", f.cert_dir.string()),
                                 detail)
                   : fmt::format("{}'s certificate is not signed by the CA in {}: that file holds another CA; {}",
                                 where, f.ca_file.string(), detail);
    if (has("no alternative certificate subject name matches") || has("subject name does not match") ||
        has("does not match target host name"))
        return fmt::format("{}'s certificate is not made out for that address (its subjectAltName lacks it); {}",
                           where, detail);
    // Our client certificate, as the server judged it.
    const bool client_refused = has("alert bad certificate") || has("alert certificate expired") ||
                                has("alert unknown ca") || has("alert certificate unknown") ||
                                has("alert certificate revoked") || has("alert unsupported certificate");
    const bool client_missing = has("alert certificate required") ||
                                (f.cert_file.empty() && (client_refused || has("alert handshake failure")));
    if (client_missing)
        return fmt::format("{} requires a client certificate and none was sent: {}; {}", where,
                           f.cert_dir.empty() ? std::string("no cert.pem and key.pem were given")
                                              : fmt::format("{} and {} were not found",
                                                            (f.cert_dir / "cert.pem").string(),
                                                            (f.cert_dir / "key.pem").string()),
                           detail);
    if (client_refused) {
        if (const auto when = expired_on(f.cert_file))
            return fmt::format("{} refused the client certificate {}: it expired on {}; {}", where,
                               f.cert_file.string(), *when, detail);
        return fmt::format("{} refused the client certificate {}: it is not signed by a CA {} trusts; {}", where,
                           f.cert_file.string(), where, detail);
    }
    return std::nullopt;
}

}  // namespace rtb::detail::tls
