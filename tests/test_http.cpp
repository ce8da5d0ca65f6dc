// rtb::http's pure parts: DOCKER_HOST and the TLS environment, Retry-After,
// HTTP status -> rtb::error, server messages, and the codecs under them.
#define BOOST_TEST_MODULE http
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <map>

#include "rtb/transport/detail/codec.hpp"
#include "rtb/transport/detail/tls_diagnosis.hpp"
#include "rtb/transport/http.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using namespace std::chrono_literals;

namespace {

template <class F>
errc code_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e.value();
    }
    BOOST_FAIL("no rtb::error was thrown");
    return {};
}

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e.what();
    }
    BOOST_FAIL("no rtb::error was thrown");
    return {};
}

http::env_lookup env(std::map<std::string, std::string> vars) {
    auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
    return [shared](const char* name) -> const char* {
        const auto it = shared->find(name);
        return it == shared->end() ? nullptr : it->second.c_str();
    };
}

std::chrono::system_clock::time_point at(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
    return std::chrono::sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d)) +
           std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss);
}

}  // namespace

// ------------------------------------------------------------ DOCKER_HOST

BOOST_AUTO_TEST_CASE(an_empty_docker_host_is_the_clis_default_socket) {
    for (const char* v : {"", "  ", "unix://"}) {
        const auto e = http::parse_docker_host(v);
        BOOST_TEST((e.type == http::endpoint::kind::unix_socket));
        BOOST_TEST(e.socket_path == "/var/run/docker.sock");
    }
}

BOOST_AUTO_TEST_CASE(unix_hosts_keep_their_path) {
    const auto e = http::parse_docker_host("unix:///tmp/rtb-engines/docker/docker.sock");
    BOOST_TEST((e.type == http::endpoint::kind::unix_socket));
    BOOST_TEST(e.socket_path == "/tmp/rtb-engines/docker/docker.sock");
    BOOST_TEST(e.base_url() == "http://localhost");
    BOOST_TEST(e.describe() == "unix socket /tmp/rtb-engines/docker/docker.sock");
}

BOOST_AUTO_TEST_CASE(tcp_hosts_default_to_localhost_and_port_2375) {
    auto e = http::parse_docker_host("tcp://10.1.2.3:2376");
    BOOST_TEST((e.type == http::endpoint::kind::tcp));
    BOOST_TEST(e.host == "10.1.2.3");
    BOOST_TEST(e.port == 2376);
    BOOST_TEST(e.base_url() == "http://10.1.2.3:2376");
    e = http::parse_docker_host("tcp://docker.example");
    BOOST_TEST(e.host == "docker.example");
    BOOST_TEST(e.port == 2375);
    e = http::parse_docker_host("tcp://:2377/");
    BOOST_TEST(e.host == "localhost");
    BOOST_TEST(e.port == 2377);
    e = http::parse_docker_host("tcp://[::1]:2375");
    BOOST_TEST(e.host == "[::1]");
    BOOST_TEST(e.base_url() == "http://[::1]:2375");
}

BOOST_AUTO_TEST_CASE(tls_applies_to_tcp_and_switches_to_https) {
    http::tls_options tls;
    tls.enabled = true;
    const auto e = http::parse_docker_host("tcp://h:2376", tls);
    BOOST_TEST(e.base_url() == "https://h:2376");
    BOOST_TEST(e.describe() == "tcp://h:2376 (TLS)");
}

BOOST_AUTO_TEST_CASE(malformed_docker_hosts_are_refused_with_the_value_quoted) {
    const std::vector<std::string> bad = {
        "/var/run/docker.sock",  // no scheme
        "tcp://host:0",
        "tcp://host:65536",
        "tcp://host:99999999999999999999",
        "tcp://host:abc",
        "tcp://host:",
        "tcp://host:2375/v1.41",
        "tcp://user@host:2375",
        "tcp://host:2375?x=1",
        "tcp://::1:2375",
        "tcp://[::1",
        "tcp://[]:2375",
        "tcp://ho st:2375",
        "http://host:2375",
        "unix:///tmp/a\nb",
        "unix:///" + std::string(200, 'x'),
        std::string("tcp://h\0st", 10),
    };
    for (const auto& v : bad) {
        BOOST_TEST_CONTEXT("DOCKER_HOST=" << v) {
            const auto m = message_of([&] { http::parse_docker_host(v); });
            BOOST_TEST(m.starts_with("invalid DOCKER_HOST \""));
            BOOST_TEST(code_of([&] { http::parse_docker_host(v); }) == errc::invalid_argument);
        }
    }
}

BOOST_AUTO_TEST_CASE(ssh_hosts_point_to_the_cli_transport) {
    const auto m = message_of([] { http::parse_docker_host("ssh://me@host"); });
    BOOST_TEST(m.find("docker_cli") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_environment_is_read_as_the_docker_cli_reads_it) {
    auto e = http::endpoint_from_env(env({}));
    BOOST_TEST(e.socket_path == "/var/run/docker.sock");
    e = http::endpoint_from_env(env({{"DOCKER_HOST", "tcp://127.0.0.1:2375"}}));
    BOOST_TEST(e.port == 2375);
    BOOST_TEST(!e.tls.enabled);
}

BOOST_AUTO_TEST_CASE(docker_tls_verify_with_any_value_verifies_with_the_cert_path_files) {
    rtb::test::temp_tree t;
    t.file("certs/ca.pem", "x");
    t.file("certs/cert.pem", "x");
    t.file("certs/key.pem", "x");
    for (const char* value : {"1", "0", "yes"}) {  // the CLI tests for non-empty, "0" included
        const auto e = http::endpoint_from_env(env({{"DOCKER_HOST", "tcp://h:2376"},
                                                    {"DOCKER_TLS_VERIFY", value},
                                                    {"DOCKER_CERT_PATH", (t / "certs").string()}}));
        BOOST_TEST(e.tls.enabled);
        BOOST_TEST(e.tls.verify);
        BOOST_TEST(e.tls.ca_file == t / "certs/ca.pem");
        BOOST_TEST(e.tls.cert_file == t / "certs/cert.pem");
        BOOST_TEST(e.tls.key_file == t / "certs/key.pem");
    }
}

BOOST_AUTO_TEST_CASE(docker_tls_alone_encrypts_without_verifying_and_cert_path_defaults_to_home) {
    rtb::test::temp_tree t;
    t.file(".docker/ca.pem", "x");
    const auto e = http::endpoint_from_env(
        env({{"DOCKER_HOST", "tcp://h:2376"}, {"DOCKER_TLS", "1"}, {"HOME", t.root().string()}}));
    BOOST_TEST(e.tls.enabled);
    BOOST_TEST(!e.tls.verify);
    BOOST_TEST(e.tls.ca_file.empty());    // no CA without verification
    BOOST_TEST(e.tls.cert_file.empty());  // no cert.pem/key.pem pair there
}

// ------------------------------------------------------------ Retry-After

BOOST_AUTO_TEST_CASE(a_bad_docker_host_is_quoted_without_its_password) {
    BOOST_CHECK_EXCEPTION(http::parse_docker_host("tcp://bob:hunter2-pw@127.0.0.1:2375"), rtb::error,
                          [](const rtb::error& e) {
                              const std::string_view m = e.what();
                              return m.find("hunter2-pw") == m.npos && m.find("tcp://bob:***@127.0.0.1:2375") != m.npos;
                          });
    BOOST_CHECK_EXCEPTION(http::parse_docker_host("tcp://tok-9f8e7d6c5b4a@127.0.0.1:2375"), rtb::error,
                          [](const rtb::error& e) {
                              const std::string_view m = e.what();
                              return m.find("tok-9f8e7d6c5b4a") == m.npos && m.find("tcp://***@127.0.0.1:2375") != m.npos;
                          });
    BOOST_TEST(http::detail::mask_userinfo("https://u:p@h/x@y") == "https://u:***@h/x@y");
    BOOST_TEST(http::detail::mask_userinfo("https://h/u:p@x") == "https://h/u:p@x");
    // A bare userinfo is often a token (tcp://TOKEN@host): masked whole.
    BOOST_TEST(http::detail::mask_userinfo("tcp://user@h:1") == "tcp://***@h:1");
    BOOST_TEST(http::detail::mask_userinfo("tcp://s3cr3t-t0ken@127.0.0.1:2375") == "tcp://***@127.0.0.1:2375");
    BOOST_TEST(http::detail::mask_userinfo("tcp://@h:1") == "tcp://***@h:1");
    BOOST_TEST(http::detail::mask_userinfo("s3cr3t@h") == "***@h");
}

BOOST_AUTO_TEST_CASE(retry_after_in_seconds) {
    BOOST_TEST(http::parse_retry_after("120").value() == 120s);
    BOOST_TEST(http::parse_retry_after(" 7 ").value() == 7s);
    BOOST_TEST(http::parse_retry_after("0").value() == 0s);
}

BOOST_AUTO_TEST_CASE(retry_after_is_capped_at_a_day) {
    BOOST_TEST(http::parse_retry_after("86401").value() == std::chrono::milliseconds(std::chrono::hours(24)));
    BOOST_TEST(http::parse_retry_after("999999999999999999999999999999").value() ==
               std::chrono::milliseconds(std::chrono::hours(24)));
    const auto now = at(2026, 11, 29, 0, 0, 0);
    BOOST_TEST(http::parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now).value() ==
               std::chrono::milliseconds(std::chrono::hours(24)));
    // Found by fuzzing: a date centuries ahead overflowed nanoseconds.
    BOOST_TEST(http::parse_retry_after("Wed, 21 Oct 6982 07:28:00 GMT", now).value() ==
               std::chrono::milliseconds(std::chrono::hours(24)));
}

BOOST_AUTO_TEST_CASE(retry_after_as_an_http_date_in_all_three_forms) {
    const auto now = at(1994, 11, 6, 8, 49, 0);
    BOOST_TEST(http::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now).value() == 37s);
    BOOST_TEST(http::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now).value() == 37s);
    BOOST_TEST(http::parse_retry_after("Sun Nov  6 08:49:37 1994", now).value() == 37s);
}

BOOST_AUTO_TEST_CASE(a_retry_after_date_in_the_past_means_now) {
    const auto now = at(2026, 11, 29, 12, 0, 0);
    BOOST_TEST(http::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now).value() == 0s);
}

BOOST_AUTO_TEST_CASE(malformed_retry_after_values_are_ignored) {
    for (const char* v : {"", "-1", "1.5", "5s", "soon", "Sun, 32 Nov 1994 08:49:37 GMT",
                          "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 06 Nov 1994 08:49:37", "Sun Nov 6 08:49:37 1994", "Sunday, 06-Nov-94 08:49 GMT",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "\xff\xfe"}) {
        BOOST_TEST_CONTEXT("Retry-After: " << v) { BOOST_TEST(!http::parse_retry_after(v).has_value()); }
    }
    BOOST_TEST(!http::parse_retry_after(std::string(100000, '9') + "x").has_value());
}

// ------------------------------------------------------------ status -> error

BOOST_AUTO_TEST_CASE(statuses_map_to_error_codes_with_the_status_attached) {
    const std::map<int, errc> expected = {
        {400, errc::invalid_argument}, {401, errc::unauthorized}, {403, errc::unauthorized},
        {404, errc::not_found},        {409, errc::invalid_argument}, {429, errc::rate_limited},
        {500, errc::server_error},     {502, errc::server_error},     {503, errc::server_error},
    };
    for (const auto& [status, code] : expected) {
        const auto e = http::error_for_status(status, "pulling x on unix socket /s", "boom");
        BOOST_TEST_CONTEXT("HTTP " << status) {
            BOOST_TEST(e.value() == code);
            BOOST_TEST(e.http_status().value() == status);
            BOOST_TEST(std::string(e.what()) == "pulling x on unix socket /s: HTTP " + std::to_string(status) + ": boom");
        }
    }
}

BOOST_AUTO_TEST_CASE(only_gateway_statuses_and_429_are_retryable) {
    BOOST_TEST(http::error_for_status(429, "x", "").retryable());
    BOOST_TEST(http::error_for_status(503, "x", "").retryable());
    BOOST_TEST(!http::error_for_status(500, "x", "").retryable());
    BOOST_TEST(!http::error_for_status(401, "x", "").retryable());
    BOOST_TEST(!http::error_for_status(404, "x", "").retryable());
}

BOOST_AUTO_TEST_CASE(rate_limits_carry_retry_after) {
    const auto now = at(1994, 11, 6, 8, 49, 0);
    BOOST_TEST(http::error_for_status(429, "x", "", "30", now).retry_after().value() == 30s);
    BOOST_TEST(http::error_for_status(429, "x", "", "Sun, 06 Nov 1994 08:50:00 GMT", now).retry_after().value() ==
               60s);
    BOOST_TEST(!http::error_for_status(429, "x", "", "garbage", now).retry_after().has_value());
    BOOST_TEST(!http::error_for_status(429, "x", "", std::nullopt, now).retry_after().has_value());
    // 503 too (RFC 9110 section 10.2.3: how long the service expects to be unavailable)
    BOOST_TEST(http::error_for_status(503, "x", "", "Sun, 06 Nov 1994 08:49:30 GMT", now).retry_after().value() ==
               30s);
    BOOST_TEST(!http::error_for_status(500, "x", "", "30", now).retry_after().has_value());
    BOOST_TEST(!http::error_for_status(502, "x", "", "30", now).retry_after().has_value());
}

BOOST_AUTO_TEST_CASE(server_messages_come_from_docker_and_registry_json_or_the_text) {
    BOOST_TEST(http::server_message(R"({"message":"No such image: a:b"})") == "No such image: a:b");
    BOOST_TEST(http::server_message(R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"},)"
                                    R"({"message":"second"}]})") == "authentication required; second");
    BOOST_TEST(http::server_message("plain\ntext\n") == "plain text");
    BOOST_TEST(http::server_message("{not json") == "{not json");
    BOOST_TEST(http::server_message(std::string("a\x01\x7f", 3)) == "a\\x01\\x7f");
    const auto long_body = http::server_message(std::string(10000, 'x'));
    BOOST_TEST(long_body.size() == 303u);
    BOOST_TEST(long_body.ends_with("..."));
}

// ------------------------------------------------------------ codecs

BOOST_AUTO_TEST_CASE(base64_matches_rfc_4648_vectors) {
    const std::vector<std::pair<std::string, std::string>> v = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, coded] : v) {
        BOOST_TEST(detail::base64_encode(plain) == coded);
        BOOST_TEST(detail::base64_decode(coded).value() == plain);
    }
}

BOOST_AUTO_TEST_CASE(url_safe_base64_uses_dash_and_underscore) {
    const std::string bytes("\xfb\xff\xfe", 3);
    BOOST_TEST(detail::base64_encode(bytes) == "+//+");
    BOOST_TEST(detail::base64_encode(bytes, true) == "-__-");
    BOOST_TEST(detail::base64_decode("-__-").value() == bytes);
}

BOOST_AUTO_TEST_CASE(malformed_base64_is_refused) {
    for (const char* v : {"Zm9v!", "Z", "Zm9vY", "Zm 9v", "\xff"}) BOOST_TEST(!detail::base64_decode(v).has_value());
}

BOOST_AUTO_TEST_CASE(url_encoding_keeps_only_unreserved_characters) {
    BOOST_TEST(detail::url_encode("a-b_c.d~e") == "a-b_c.d~e");
    BOOST_TEST(detail::url_encode("{\"a\":\"b c\"}") == "%7B%22a%22%3A%22b%20c%22%7D");
    BOOST_TEST(detail::url_encode("\xc3\xa9&=+/") == "%C3%A9%26%3D%2B%2F");
    BOOST_TEST(detail::url_encode_path("127.0.0.1:5000/app@sha256:ab") == "127.0.0.1:5000/app@sha256:ab");
    BOOST_TEST(detail::url_encode_path("a b/c?d") == "a%20b/c%3Fd");
}

// ------------------------------------------- TLS failures, said in terms of the files

namespace {
bool has(const std::optional<std::string>& m, std::string_view part) { return m && m->find(part) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_CASE(a_server_certificate_from_another_ca_names_the_ca_file) {
    const detail::tls::files f{"/certs/ca.pem", "/certs/cert.pem", "/certs/key.pem", "/certs"};
    const auto m = detail::tls::explain("SSL certificate problem: unable to get local issuer certificate", f,
                                        "tcp://127.0.0.1:2376 (TLS)");
    BOOST_TEST(has(m, "not signed by the CA in /certs/ca.pem"), m.value_or("none"));
    BOOST_TEST(has(m, "tcp://127.0.0.1:2376 (TLS)"));
}

BOOST_AUTO_TEST_CASE(no_ca_file_says_where_ca_pem_was_looked_for) {
    const detail::tls::files f{"", "", "", "/home/u/.docker"};
    const auto m = detail::tls::explain("SSL certificate problem: self-signed certificate in certificate chain", f, "e");
    BOOST_TEST(has(m, "no ca.pem was found in /home/u/.docker (DOCKER_CERT_PATH)"), m.value_or("none"));
}

BOOST_AUTO_TEST_CASE(an_expired_server_certificate_says_expired) {
    const auto m = detail::tls::explain("SSL certificate problem: certificate has expired", {"/c/ca.pem", "", "", ""}, "e");
    BOOST_TEST(has(m, "e's certificate has expired"), m.value_or("none"));
}

BOOST_AUTO_TEST_CASE(a_missing_client_certificate_names_the_files_that_were_not_found) {
    const detail::tls::files f{"/c/ca.pem", "", "", "/c"};
    for (const auto* d : {"OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0",
                          "OpenSSL SSL_read: error:0A000412:SSL routines::sslv3 alert bad certificate, errno 0"}) {
        const auto m = detail::tls::explain(d, f, "e");
        BOOST_TEST(has(m, "requires a client certificate and none was sent"), m.value_or("none"));
        BOOST_TEST(has(m, "/c/cert.pem and /c/key.pem were not found"), m.value_or("none"));
    }
}

BOOST_AUTO_TEST_CASE(a_refused_client_certificate_that_is_not_expired_is_from_another_ca) {
    // The file cannot be read here: expiry is unknown, so the other reason is given.
    const detail::tls::files f{"/c/ca.pem", "/nonexistent/cert.pem", "/nonexistent/key.pem", ""};
    const auto m = detail::tls::explain("sslv3 alert bad certificate", f, "e");
    BOOST_TEST(has(m, "refused the client certificate /nonexistent/cert.pem: it is not signed by a CA e trusts"),
               m.value_or("none"));
}

BOOST_AUTO_TEST_CASE(other_failures_are_left_to_the_generic_message) {
    BOOST_TEST(!detail::tls::explain("Connection reset by peer", {"/c/ca.pem", "/c/cert.pem", "/c/key.pem", ""}, "e"));
    BOOST_TEST(!detail::tls::explain("", {}, "e"));
}
