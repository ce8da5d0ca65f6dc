// registry_client against the fault-injection server: every fault class a
// network has, and the outcome rtb owes for each, asserted on the attempts
// the server counted, the retries the client reported and the requests it
// sent; never on wall time. Also the auth flows' wire details and hostile
// challenges.
#define BOOST_TEST_MODULE registry_faults
#include <boost/test/unit_test.hpp>

#include <thread>

#include "rtb/transport/registry.hpp"
#include "support/fault_server.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace std::chrono_literals;

namespace {

const std::string digest_a = "sha256:" + std::string(64, 'a');

fault manifest_ok(std::string_view digest = digest_a, std::string_view type = media_types::oci_manifest) {
    auto f = faults::respond(200, fmt::format("Docker-Content-Digest: {}\r\n", digest), std::string(1234, 'x'),
                             std::string(type));
    return f;
}

/// A client for the fault server with fast, deterministic retries; it records
/// each retry it is told about.
struct harness {
    fault_server server;
    temp_tree dir;
    std::vector<std::pair<int, error>> retries;
    std::vector<std::chrono::milliseconds> delays;

    registry_client::options options(int attempts = 4) {
        registry_client::options o;
        o.docker_config = dir / "no-config.json";  // no credentials unless a test gives some
        exponential_backoff::options b;
        b.base = 1ms;
        b.cap = 5ms;
        b.max_attempts = attempts;
        b.budget = 10'000ms;
        b.seed = 7;
        o.retry = exponential_backoff(b);
        o.http.stall_timeout = 300ms;
        o.http.timeout = 5'000ms;
        o.on_retry = [this](int attempt, const error& e, std::chrono::milliseconds d) {
            retries.emplace_back(attempt, e);
            delays.push_back(d);
        };
        return o;
    }
    image_ref ref(std::string_view repo_tag = "app:1") const {
        return image_ref::parse(fmt::format("{}/{}", server.host(), repo_tag));
    }
};

}  // namespace

// ------------------------------------------------------------- the request

BOOST_AUTO_TEST_CASE(a_manifest_head_asks_for_every_manifest_kind_and_reads_digest_type_and_size) {
    harness h;
    h.server.route("/v2/", {}, manifest_ok(digest_a, media_types::oci_index));
    registry_client c(h.options());
    const auto m = c.resolve(h.ref("team/app:1"));
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == digest_a);
    BOOST_TEST(m->media_type == std::string(media_types::oci_index));
    BOOST_TEST(m->is_index());
    BOOST_TEST(m->size == 1234u);
    const auto head = h.server.heads().at(0);
    BOOST_TEST(head.starts_with("HEAD /v2/team/app/manifests/1 HTTP/1.1\r\n"));
    const auto accept = header_of(head, "Accept");
    for (auto t : {media_types::oci_index, media_types::oci_manifest, media_types::docker_manifest_list,
                   media_types::docker_manifest})
        BOOST_TEST(contains(accept, t), t);
    BOOST_TEST(header_of(head, "Authorization").empty());
    BOOST_TEST(c.stats().requests == 1);
}

BOOST_AUTO_TEST_CASE(a_digest_reference_is_looked_up_by_digest) {
    harness h;
    h.server.route("/v2/", {}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref("app@" + digest_a)));
    BOOST_TEST(target_of(h.server.heads().at(0)) == "/v2/app/manifests/" + digest_a);
}

BOOST_AUTO_TEST_CASE(a_registry_answering_for_another_digest_is_a_parse_error) {
    harness h;
    h.server.route("/v2/", {}, manifest_ok("sha256:" + std::string(64, 'b')));
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref("app@" + digest_a)); });
    BOOST_TEST((e.value() == errc::parse_error));
    BOOST_TEST(h.server.hits("/v2/") == 1);
}

BOOST_AUTO_TEST_CASE(not_found_is_a_plain_no_and_is_asked_once) {
    harness h;
    h.server.route("/v2/", {}, faults::respond(404));
    registry_client c(h.options());
    BOOST_TEST(!c.resolve(h.ref()).has_value());
    BOOST_TEST(h.server.hits("/v2/") == 1);
    BOOST_TEST(h.retries.empty());
}

BOOST_AUTO_TEST_CASE(a_head_answer_without_a_digest_is_completed_by_hashing_the_manifest) {
    harness h;
    const std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
    h.server.route("/v2/", {}, faults::respond(200, {}, body, std::string(media_types::oci_manifest)));
    registry_client c(h.options());
    const auto m = c.resolve(h.ref());
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == "sha256:" + hash_bytes(hash_algorithm::sha256, body).hex());
    const auto heads = h.server.heads();
    BOOST_REQUIRE(heads.size() == 2u);
    BOOST_TEST(heads[1].starts_with("GET /v2/app/manifests/1 "));
}

BOOST_AUTO_TEST_CASE(a_digest_header_that_is_not_a_digest_is_refused) {
    harness h;
    h.server.route("/v2/", {}, faults::respond(200, "Docker-Content-Digest: sha256:../../etc\r\n"));
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::parse_error));
    BOOST_TEST(contains(e.what(), "Docker-Content-Digest"));
}

// ------------------------------------------------------ faults and retries

BOOST_AUTO_TEST_CASE(rate_limited_with_retry_after_seconds_waits_that_long_then_succeeds) {
    harness h;
    h.server.route("/v2/", {faults::rate_limited(1)}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.server.hits("/v2/") == 2);
    BOOST_REQUIRE(h.retries.size() == 1u);
    BOOST_TEST((h.retries[0].second.value() == errc::rate_limited));
    BOOST_TEST(h.delays[0].count() == 1000);  // the server's Retry-After, not the 1-5 ms backoff
    BOOST_TEST(c.stats().attempts == 2);
}

BOOST_AUTO_TEST_CASE(rate_limited_with_retry_after_as_an_http_date_waits_until_then) {
    harness h;
    h.server.route("/v2/", {faults::rate_limited_until(std::chrono::system_clock::now() + 2s)}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.server.hits("/v2/") == 2);
    BOOST_REQUIRE(h.delays.size() == 1u);
    // The wait is what the date said (parsing the date against a given
    // clock is test_http's), not the backoff: no wall-clock bound here.
    BOOST_REQUIRE(h.retries[0].second.retry_after().has_value());
    BOOST_TEST(h.delays[0].count() == h.retries[0].second.retry_after()->count());
}

BOOST_AUTO_TEST_CASE(a_retry_after_beyond_the_budget_gives_up_at_once) {
    harness h;
    h.server.route("/v2/", {faults::rate_limited(3600)}, manifest_ok());
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::rate_limited));
    BOOST_TEST(e.retry_after().value() == std::chrono::milliseconds(3600s));
    BOOST_TEST(h.server.hits("/v2/") == 1);
    BOOST_TEST(h.retries.empty());
}

BOOST_AUTO_TEST_CASE(bad_gateway_unavailable_and_gateway_timeout_are_retried) {
    for (int status : {502, 503, 504}) {
        harness h;
        h.server.route("/v2/", {faults::server_error(status), faults::server_error(status)}, manifest_ok());
        registry_client c(h.options());
        BOOST_TEST(c.exists(h.ref()), status);
        BOOST_TEST(h.server.hits("/v2/") == 3, status);
        BOOST_REQUIRE_EQUAL(h.retries.size(), 2u);
        BOOST_TEST(h.retries[0].second.http_status().value() == status);
    }
}

BOOST_AUTO_TEST_CASE(unavailable_with_retry_after_honours_it) {
    harness h;
    h.server.route("/v2/", {faults::server_error(503, "Retry-After: 1\r\n")}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_REQUIRE(h.delays.size() == 1u);
    BOOST_TEST(h.delays[0].count() == 1000);
}

BOOST_AUTO_TEST_CASE(an_internal_server_error_is_not_retried) {
    harness h;
    h.server.route("/v2/", {}, faults::server_error(500));
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::server_error));
    BOOST_TEST(e.http_status().value() == 500);
    BOOST_TEST(contains(e.what(), h.server.host()));
    BOOST_TEST(h.server.hits("/v2/") == 1);
    BOOST_TEST(h.retries.empty());
}

BOOST_AUTO_TEST_CASE(retries_stop_after_max_attempts_with_the_last_error) {
    harness h;
    h.server.route("/v2/", {}, faults::server_error(503));
    registry_client c(h.options(3));
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::server_error));
    BOOST_TEST(h.server.hits("/v2/") == 3);
    BOOST_TEST(h.retries.size() == 2u);
    BOOST_TEST(c.stats().attempts == 3);
}

BOOST_AUTO_TEST_CASE(forbidden_and_not_found_and_unauthorized_are_never_retried) {
    for (int status : {401, 403}) {
        harness h;
        h.server.route("/v2/", {}, faults::respond(status));
        registry_client c(h.options());
        const auto e = error_of([&] { c.resolve(h.ref()); });
        BOOST_TEST((e.value() == errc::unauthorized), status);
        BOOST_TEST(h.server.hits("/v2/") == 1, status);
        BOOST_TEST(h.retries.empty());
    }
}

BOOST_AUTO_TEST_CASE(a_connection_reset_is_retried) {
    harness h;
    h.server.route("/v2/", {faults::reset()}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.server.hits("/v2/") >= 2);
    BOOST_REQUIRE(h.retries.size() == 1u);
    BOOST_TEST((h.retries[0].second.value() == errc::connection_failed));
}

BOOST_AUTO_TEST_CASE(a_hang_up_without_an_answer_is_retried) {
    harness h;
    h.server.route("/v2/", {faults::hang_up(), faults::hang_up()}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.server.hits("/v2/") >= 3);
    BOOST_TEST(h.retries.size() >= 1u);
    for (const auto& r : h.retries) BOOST_TEST((r.second.value() == errc::connection_failed));
}

BOOST_AUTO_TEST_CASE(a_stalled_answer_is_a_timeout_and_is_retried) {
    harness h;
    h.server.route("/v2/", {faults::stall()}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.server.hits("/v2/") == 2);
    BOOST_REQUIRE(h.retries.size() == 1u);
    BOOST_TEST((h.retries[0].second.value() == errc::timeout));
    BOOST_TEST(contains(h.retries[0].second.what(), "stalled"));
}

BOOST_AUTO_TEST_CASE(a_registry_that_always_stalls_ends_in_a_timeout_naming_it) {
    harness h;
    h.server.route("/v2/", {}, faults::stall());
    registry_client c(h.options(2));
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST(contains(e.what(), "127.0.0.1"));
    BOOST_TEST(contains(e.what(), "/v2/app/manifests/1"));
    BOOST_TEST(h.server.hits("/v2/") == 2);
}

BOOST_AUTO_TEST_CASE(garbage_instead_of_http_is_a_parse_error_and_not_retried) {
    harness h;
    h.server.route("/v2/", {}, faults::malformed());
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::parse_error), e.what());
    BOOST_TEST(h.server.hits("/v2/") == 1);
    BOOST_TEST(h.retries.empty());
}

BOOST_AUTO_TEST_CASE(a_slow_trickle_that_keeps_moving_is_not_a_stall) {
    harness h;
    // The answer arrives 1 byte every 2 ms, taking longer in all than the
    // stall limit (300 ms), with never more than a few ms of silence: the
    // limit is on silence, not on the whole answer. (150x margin between
    // the gaps and the limit: a loaded machine or a sanitizer cannot close it.)
    h.server.route("/v2/", {}, faults::trickle(manifest_ok(), 1, 2ms));
    auto o = h.options();
    o.http.timeout = 60'000ms;
    registry_client c(o);
    const auto started = std::chrono::steady_clock::now();
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.retries.empty());
    BOOST_TEST((std::chrono::steady_clock::now() - started > 300ms), "the answer took longer than the stall limit");
}

BOOST_AUTO_TEST_CASE(a_trickle_slower_than_the_request_limit_times_out) {
    harness h;
    // ~2.5 s for the head at 2 bytes per 20 ms; each line well within the stall limit
    h.server.route("/v2/", {}, faults::trickle(manifest_ok(), 2, 20ms));
    auto o = h.options(2);
    o.http.timeout = 500ms;
    o.http.stall_timeout = 5000ms;
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST(contains(e.what(), "did not finish within 500 ms"), e.what());
    BOOST_TEST(h.server.hits("/v2/") == 2);
}

BOOST_AUTO_TEST_CASE(a_stop_request_ends_a_wait_for_retry_after_as_cancelled) {
    harness h;
    h.server.route("/v2/", {}, faults::rate_limited(600));
    auto o = h.options();
    std::stop_source stop;
    std::jthread stopper;
    o.on_retry = [&](int, const error&, std::chrono::milliseconds) {
        stopper = std::jthread([&] { stop.request_stop(); });
    };
    auto b = exponential_backoff::options{};
    b.budget = std::chrono::hours(1);
    o.retry = exponential_backoff(b);
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(h.ref(), stop.get_token()); });
    BOOST_TEST((e.value() == errc::cancelled));
    BOOST_TEST(h.server.hits("/v2/") == 1);
}

BOOST_AUTO_TEST_CASE(a_stop_request_aborts_a_stalled_request) {
    harness h;
    h.server.route("/v2/", {}, faults::stall());
    auto o = h.options();
    o.http.stall_timeout = 0ms;
    o.http.timeout = 0ms;  // nothing but the stop request can end it
    registry_client c(o);
    std::stop_source stop;
    std::jthread stopper([&] {
        while (h.server.hits("/v2/") == 0) std::this_thread::sleep_for(1ms);
        stop.request_stop();
    });
    const auto e = error_of([&] { c.resolve(h.ref(), stop.get_token()); });
    BOOST_TEST((e.value() == errc::cancelled));
    BOOST_TEST(h.retries.empty());
}

// -------------------------------------------------------------- bearer flow

namespace {
std::string bearer_challenge(const fault_server& s, std::string_view extra = {}) {
    return fmt::format("WWW-Authenticate: Bearer realm=\"http://{}/token\",service=\"fake-registry\"{}\r\n", s.host(),
                       extra);
}
fault token_answer(std::string_view token = "tok-123", int expires_in = 300) {
    return faults::respond(200, {}, fmt::format(R"({{"token":"{}","expires_in":{}}})", token, expires_in));
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_bearer_challenge_is_answered_with_a_token_for_the_repository_scope) {
    harness h;
    h.server.route("/token", {}, token_answer());
    h.server.route("/v2/", {faults::respond(401, bearer_challenge(h.server, ",scope=\"repository:app:pull\""))},
                   manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    const auto heads = h.server.heads();
    BOOST_REQUIRE(heads.size() == 3u);
    BOOST_TEST(target_of(heads[1]) == "/token?service=fake-registry&scope=repository%3Aapp%3Apull");
    BOOST_TEST(header_of(heads[1], "Authorization").empty());  // anonymous: no credentials anywhere
    BOOST_TEST(header_of(heads[2], "Authorization") == "Bearer tok-123");
    BOOST_TEST(c.stats().token_requests == 1);
}

BOOST_AUTO_TEST_CASE(tokens_are_cached_and_later_lookups_send_them_at_once) {
    harness h;
    h.server.route("/token", {}, token_answer());
    h.server.route("/v2/", {faults::respond(401, bearer_challenge(h.server))}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(c.exists(h.ref("app:2")));
    BOOST_TEST(c.exists(h.ref("app:3")));
    BOOST_TEST(h.server.hits("/token") == 1);
    BOOST_TEST(h.server.hits("/v2/") == 4);  // one 401, then one HEAD per lookup
    // another repository is another scope: one more token, no 401 round trip
    BOOST_TEST(c.exists(h.ref("other:1")));
    BOOST_TEST(h.server.hits("/token") == 2);
    BOOST_TEST(h.server.hits("/v2/") == 5);
    const auto heads = h.server.heads();
    BOOST_TEST(contains(target_of(heads[heads.size() - 2]), "scope=repository%3Aother%3Apull"));
}

BOOST_AUTO_TEST_CASE(a_refused_cached_token_is_replaced_once) {
    harness h;
    h.server.route("/token", {token_answer("old"), token_answer("new")}, token_answer("newer"));
    h.server.route("/v2/",
                   {faults::respond(401, bearer_challenge(h.server)), manifest_ok(),
                    faults::respond(401, bearer_challenge(h.server))},
                   manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(c.exists(h.ref()));
    const auto heads = h.server.heads();
    BOOST_TEST(header_of(heads.back(), "Authorization") == "Bearer new");
    BOOST_TEST(h.server.hits("/token") == 2);
    BOOST_TEST(h.retries.empty());
}

BOOST_AUTO_TEST_CASE(a_token_service_refusing_us_is_unauthorized_and_not_retried) {
    harness h;
    h.server.route("/token", {}, faults::respond(401, {}, R"({"details":"no"})"));
    h.server.route("/v2/", {}, faults::respond(401, bearer_challenge(h.server)));
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(contains(e.what(), "anonymous access"));
    BOOST_TEST(contains(e.what(), "docker login"));
    BOOST_TEST(h.server.hits("/token") == 1);
    BOOST_TEST(h.retries.empty());
}

BOOST_AUTO_TEST_CASE(a_registry_still_refusing_the_token_is_unauthorized) {
    harness h;
    h.server.route("/token", {}, token_answer());
    h.server.route("/v2/", {}, faults::respond(401, bearer_challenge(h.server)));
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(h.server.hits("/v2/") == 2);
    BOOST_TEST(!contains(e.what(), "tok-123"));
}

BOOST_AUTO_TEST_CASE(a_truncated_token_answer_is_retried) {
    harness h;
    h.server.route("/token", {faults::truncated(200, R"({"token":"t)", 40)}, token_answer());
    h.server.route("/v2/", {faults::respond(401, bearer_challenge(h.server))}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_REQUIRE(h.retries.size() == 1u);
    BOOST_TEST((h.retries[0].second.value() == errc::connection_failed));
    BOOST_TEST(h.server.hits("/token") == 2);
}

BOOST_AUTO_TEST_CASE(a_malformed_token_answer_is_a_parse_error_and_not_retried) {
    for (const auto& body : {std::string("<html>nope</html>"), std::string(R"({"expires_in":300})"),
                                   std::string(R"({"token":"a b\r\nX-Evil: 1"})")}) {
        harness h;
        h.server.route("/token", {}, faults::respond(200, {}, body));
        h.server.route("/v2/", {}, faults::respond(401, bearer_challenge(h.server)));
        registry_client c(h.options());
        const auto e = error_of([&] { c.resolve(h.ref()); });
        BOOST_TEST((e.value() == errc::parse_error), body);
        BOOST_TEST(h.server.hits("/token") == 1, body);
        BOOST_TEST(h.retries.empty());
    }
}

BOOST_AUTO_TEST_CASE(a_token_service_unavailable_is_retried) {
    harness h;
    h.server.route("/token", {faults::server_error(503)}, token_answer());
    h.server.route("/v2/", {faults::respond(401, bearer_challenge(h.server))}, manifest_ok());
    registry_client c(h.options());
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(h.server.hits("/token") == 2);
    BOOST_TEST(h.retries.size() == 1u);
}

BOOST_AUTO_TEST_CASE(credentials_go_to_the_token_service_as_basic_auth_and_never_into_errors) {
    harness h;
    h.server.route("/token", {}, faults::respond(401));
    h.server.route("/v2/", {}, faults::respond(401, bearer_challenge(h.server)));
    auto o = h.options();
    o.credentials = registry_credentials{"alice", "s3cr3t-Pa55", "", ""};
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    const auto heads = h.server.heads();
    BOOST_REQUIRE(heads.size() == 2u);
    BOOST_TEST(header_of(heads[1], "Authorization") == "Basic " + detail::base64_encode("alice:s3cr3t-Pa55"));
    BOOST_TEST(contains(target_of(heads[1]), "account=alice"));
    BOOST_TEST(!contains(e.what(), "s3cr3t"));
    BOOST_TEST(contains(e.what(), "the credentials given to the registry client"));
}

BOOST_AUTO_TEST_CASE(an_identity_token_is_exchanged_with_an_oauth_post) {
    harness h;
    h.server.route("/token", {}, faults::respond(200, {}, R"({"access_token":"acc-1","expires_in":120})"));
    h.server.route("/v2/", {faults::respond(401, bearer_challenge(h.server))}, manifest_ok());
    auto o = h.options();
    o.credentials = registry_credentials{"", "", "refresh-XYZ", ""};
    registry_client c(o);
    BOOST_TEST(c.exists(h.ref()));
    const auto heads = h.server.heads();
    BOOST_TEST(heads[1].starts_with("POST /token HTTP/1.1"));
    BOOST_TEST(header_of(heads[1], "Content-Type") == "application/x-www-form-urlencoded");
    BOOST_TEST(header_of(heads[2], "Authorization") == "Bearer acc-1");
}

// --------------------------------------------------------------- basic flow

BOOST_AUTO_TEST_CASE(a_basic_challenge_is_answered_with_the_credentials) {
    harness h;
    h.server.route("/v2/", {faults::respond(401, "WWW-Authenticate: Basic realm=\"fake\"\r\n")}, manifest_ok());
    auto o = h.options();
    o.credentials = registry_credentials{"bob", "hunter2", "", ""};
    registry_client c(o);
    BOOST_TEST(c.exists(h.ref()));
    BOOST_TEST(c.exists(h.ref("app:2")));
    const auto heads = h.server.heads();
    BOOST_REQUIRE(heads.size() == 3u);
    BOOST_TEST(header_of(heads[1], "Authorization") == "Basic " + detail::base64_encode("bob:hunter2"));
    BOOST_TEST(header_of(heads[2], "Authorization") == "Basic " + detail::base64_encode("bob:hunter2"));
}

BOOST_AUTO_TEST_CASE(a_basic_challenge_without_credentials_says_how_to_log_in) {
    harness h;
    h.server.route("/v2/", {}, faults::respond(401, "WWW-Authenticate: Basic realm=\"fake\"\r\n"));
    registry_client c(h.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(contains(e.what(), "docker login " + h.server.host()));
    BOOST_TEST(h.server.hits("/v2/") == 1);
}

BOOST_AUTO_TEST_CASE(wrong_basic_credentials_are_unauthorized_without_retry_or_leak) {
    harness h;
    h.server.route("/v2/", {}, faults::respond(401, "WWW-Authenticate: Basic realm=\"fake\"\r\n"));
    auto o = h.options();
    o.credentials = registry_credentials{"bob", "wrong-pass-77", "", ""};
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(!contains(e.what(), "wrong-pass-77"));
    BOOST_TEST(!contains(e.what(), detail::base64_encode("bob:wrong-pass-77")));
    BOOST_TEST(h.server.hits("/v2/") == 2);
    BOOST_TEST(h.retries.empty());
}

// ----------------------------------------------------- hostile challenges

BOOST_AUTO_TEST_CASE(credentials_are_never_sent_to_a_plain_http_realm_off_this_machine) {
    harness h;
    h.server.route("/v2/", {},
                   faults::respond(401, "WWW-Authenticate: Bearer realm=\"http://auth.example.com/token\"\r\n"));
    auto o = h.options();
    o.credentials = registry_credentials{"bob", "hunter2", "", ""};
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(contains(e.what(), "over plain HTTP"));
    BOOST_TEST(h.server.requests() == 1);
}

BOOST_AUTO_TEST_CASE(realms_that_are_not_http_urls_are_refused) {
    for (const auto& realm : {std::string("file:///etc/passwd"), std::string("http://user:pw@127.0.0.1/x"), std::string("gopher://127.0.0.1/"),
                                    std::string("http://127.0.0.1:99999/")}) {
        harness h;
        h.server.route("/v2/", {}, faults::respond(401, "WWW-Authenticate: Bearer realm=\"" + realm + "\"\r\n"));
        registry_client c(h.options());
        const auto e = error_of([&] { c.resolve(h.ref()); });
        BOOST_TEST((e.value() == errc::parse_error), realm);
        BOOST_TEST(h.server.requests() == 1, realm);
    }
}

BOOST_AUTO_TEST_CASE(unparseable_challenges_are_unauthorized_not_a_crash) {
    for (const auto& header : {std::string("WWW-Authenticate: Bearer realm=\"unterminated\r\n"),
                                     "WWW-Authenticate: " + std::string(10000, 'A') + "\r\n",
                                     std::string("WWW-Authenticate: ,,,=,=\r\n"),
                                     std::string("WWW-Authenticate: Negotiate\r\n")}) {
        harness h;
        h.server.route("/v2/", {}, faults::respond(401, header));
        registry_client c(h.options());
        const auto e = error_of([&] { c.resolve(h.ref()); });
        BOOST_TEST((e.value() == errc::unauthorized), header.substr(0, 60));
        BOOST_TEST(h.server.requests() == 1);
    }
}

// ----------------------------------------------------------------- hygiene

BOOST_AUTO_TEST_CASE(no_file_descriptor_outlives_a_client_that_met_every_fault) {
    const auto before = open_fds();
    {
        harness h;
        h.server.route("/token", {faults::reset(), faults::truncated(200, "{", 10)}, token_answer());
        h.server.route("/v2/",
                       {faults::reset(), faults::hang_up(), faults::stall(), faults::server_error(503),
                        faults::respond(401, bearer_challenge(h.server))},
                       manifest_ok());
        registry_client c(h.options(10));
        BOOST_TEST(c.exists(h.ref()));
        BOOST_TEST(c.exists(h.ref("app:2")));
    }
    BOOST_TEST(open_fds() == before);
}
