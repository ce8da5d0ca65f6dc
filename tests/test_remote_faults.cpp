// remote_api against the fault-injection server: the Runtime API's wire
// format (X-API-Key, the multipart form, the queries), every final status,
// 429 with Retry-After, 5xx, stalls, unknown builds, a stop request (the
// build is cancelled service-side) and the overall deadline. Asserted on
// outcomes, attempts and what was sent; never on wall time.
#define BOOST_TEST_MODULE remote_faults
#include <boost/test/unit_test.hpp>

#include <string>

#include "rtb/context/base64_decoder.hpp"
#include "rtb/serve/context_check.hpp"
#include "rtb/transport/remote_api.hpp"
#include "support/fault_server.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace std::chrono_literals;

namespace {

struct quiet_logger {
    std::vector<std::string> lines;
    void log(log_level, std::string_view m) { lines.emplace_back(m); }
    void on_event(const build_event& e) {
        if (const auto* l = std::get_if<events::log_line>(&e)) lines.push_back(l->text);
    }
};

fault json(std::string body) { return faults::respond(200, {}, std::move(body)); }
fault status(std::string_view s, std::string extra = {}) {
    return json(fmt::format(R"({{"status":"{}"{}}})", s, extra));
}

struct harness {
    fault_server server;
    quiet_logger logger;

    // Routes match by prefix, in the order added: /build_status must be
    // routed before /build.
    harness() { server.route("/registry_prefix", {}, json(R"({"registry_prefix":"reg.test/p"})")); }

    remote_api client(int attempts = 3) {
        remote_api::options o;
        o.url = fmt::format("http://127.0.0.1:{}", server.port());
        o.api_key = "secret-key-0123456789";
        o.poll_interval = 1ms;
        o.request_timeout = 500ms;
        o.stall_timeout = 500ms;
        exponential_backoff::options b;
        b.base = 1ms;
        b.cap = 5ms;
        b.max_attempts = attempts;
        b.seed = 7;
        o.retry = exponential_backoff(b);
        return remote_api(o);
    }
    static build_request request() {
        build_context c;
        c.add_bytes("Dockerfile", "FROM scratch\n");
        c.add_bytes("app/data", std::string(200000, 'd'));
        build_request r;
        r.context = c.snapshot();
        r.tags = {"ghcr.io/openhands/runtime:t1", "ghcr.io/openhands/runtime:t2"};
        return r;
    }
    build_result build(remote_api& api, std::stop_token stop = {}, build_request r = request()) {
        return api.build(r, logger, stop);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_build_is_submitted_as_the_form_and_polled_until_success) {
    harness h;
    const std::string id = "sha256:" + std::string(64, 'c');
    h.server.route("/build_status", {status("QUEUED"), status("WORKING")},
                   status("SUCCESS", R"(,"image":"reg.test/p/runtime:t1","image_id":")" + id + "\""));
    h.server.route("/build", {}, json(R"({"build_id":"b-7"})"));
    auto api = h.client();
    const auto r = h.build(api);
    BOOST_TEST(r.image_id == id);  // the service's id (rtb serve says it), never the image's name
    BOOST_TEST(r.tags == (std::vector<std::string>{"reg.test/p/runtime:t1", "reg.test/p/runtime:t2"}),
               boost::test_tools::per_element());
    BOOST_TEST(h.server.hits("/build_status") == 3);
    BOOST_TEST(h.server.hits("/build") == 1);

    const auto heads = h.server.heads();
    const auto bodies = h.server.bodies();
    std::size_t post = heads.size();
    for (std::size_t i = 0; i < heads.size(); ++i) {
        BOOST_TEST(contains(heads[i], "X-API-Key: secret-key-0123456789"), "every request carries the key");
        if (heads[i].starts_with("POST /build ")) post = i;
        if (heads[i].starts_with("GET /build_status")) BOOST_TEST(contains(heads[i], "build_id=b-7"));
    }
    BOOST_TEST_REQUIRE(post < heads.size());
    BOOST_TEST(contains(heads[post], "multipart/form-data; boundary="));
    const std::string& body = bodies[post];
    BOOST_TEST(contains(body, "name=\"target_image\"\r\n\r\nreg.test/p/runtime:t1\r\n"));
    BOOST_TEST(contains(body, "name=\"tags\"\r\n\r\nreg.test/p/runtime:t2\r\n"));
    BOOST_TEST(!contains(body, "name=\"label"));  // no labels, no label fields
    const auto file = body.find("filename=\"context.tar.gz\"");
    BOOST_TEST_REQUIRE(file != std::string::npos);
    const auto start = body.find("\r\n\r\n", file) + 4;
    const auto end = body.rfind("\r\n--");
    base64_decoder d;
    std::string gz;
    d.feed(std::string_view(body).substr(start, end - start), gz);
    d.finish(gz);
    BOOST_TEST((gz.size() > 2 && static_cast<unsigned char>(gz[0]) == 0x1f));
    memory_source in(gz);
    const auto summary = serve::check_context(in, [](std::string_view) {});
    BOOST_TEST(summary.content_bytes == 200013u);
    BOOST_TEST(contains(h.logger.lines.back(), "SUCCESS"));
}

BOOST_AUTO_TEST_CASE(labels_the_dockerfile_sets_are_sent_as_fields_that_say_so) {
    // rtb serve counts builds by rtb.plan, and must not pass the labels to
    // its engine again (a LABEL step each): the form says the Dockerfile sets them
    for (const bool in_dockerfile : {false, true}) {
        harness h;
        h.server.route("/build_status", {}, status("SUCCESS", R"(,"image":"reg.test/p/runtime:t1")"));
        h.server.route("/build", {}, json(R"({"build_id":"b-8"})"));
        auto api = h.client();
        auto r = harness::request();
        r.labels = {{"rtb.plan", "lock"}};
        r.labels_in_dockerfile = in_dockerfile;
        h.build(api, {}, r);
        std::string body;
        const auto heads = h.server.heads();
        for (std::size_t i = 0; i < heads.size(); ++i)
            if (heads[i].starts_with("POST /build ")) body = h.server.bodies()[i];
        BOOST_TEST(contains(body, "name=\"label\"\r\n\r\nrtb.plan=lock\r\n"));
        BOOST_TEST(contains(body, "name=\"labels_in_dockerfile\"\r\n\r\n1\r\n") == in_dockerfile);
    }
}

BOOST_AUTO_TEST_CASE(a_429_on_a_poll_is_retried_after_retry_after) {
    harness h;
    h.server.route("/build_status", {faults::rate_limited(1)}, status("SUCCESS", R"(,"image":"i:1")"));
    h.server.route("/build", {}, json(R"({"build_id":"b-1"})"));
    auto api = h.client();
    BOOST_TEST(h.build(api).image_id.empty());  // OpenHands' service gives no id: none is made up
    BOOST_TEST(h.server.hits("/build_status") == 2);
}

BOOST_AUTO_TEST_CASE(a_503_on_submit_is_retried_with_the_body_streamed_again) {
    harness h;
    h.server.route("/build_status", {}, status("SUCCESS", R"(,"image":"i:1")"));
    h.server.route("/build", {faults::server_error(503), faults::rate_limited(0)}, json(R"({"build_id":"b-2"})"));
    auto api = h.client(4);
    BOOST_TEST(h.build(api).tags.front() == "reg.test/p/runtime:t1");
    BOOST_TEST(h.server.hits("/build") == 3);
    const auto bodies = h.server.bodies();
    const auto heads = h.server.heads();
    std::vector<std::size_t> sizes;
    for (std::size_t i = 0; i < heads.size(); ++i)
        if (heads[i].starts_with("POST /build ")) sizes.push_back(bodies[i].size());
    BOOST_TEST_REQUIRE(sizes.size() == 3u);
    BOOST_TEST((sizes[0] > 500 && sizes[0] == sizes[1] && sizes[1] == sizes[2]),
               "each attempt sent the whole form: " << sizes[0] << " " << sizes[1] << " " << sizes[2]);
}

BOOST_AUTO_TEST_CASE(a_stalled_status_call_ends_in_a_timeout_after_the_retries) {
    harness h;
    h.server.route("/build_status", {}, faults::stall());
    h.server.route("/build", {}, json(R"({"build_id":"b-3"})"));
    auto api = h.client(2);
    const auto e = error_of([&] { h.build(api); });
    BOOST_TEST((e.value() == errc::timeout), e.what());
    BOOST_TEST(contains(e.what(), "status of remote build b-3"), e.what());
    BOOST_TEST(h.server.hits("/build_status") == 2);
}

BOOST_AUTO_TEST_CASE(a_refused_key_says_unauthorized_and_is_not_retried) {
    harness h;
    fault_server other;
    other.route("/registry_prefix", {}, faults::respond(401, {}, R"({"message":"unauthorized"})"));
    remote_api::options o;
    o.url = fmt::format("http://127.0.0.1:{}", other.port());
    o.api_key = "wrong-key-0123456789";
    remote_api api(o);
    const auto e = error_of([&] { api.info(); });
    BOOST_TEST((e.value() == errc::unauthorized), e.what());
    BOOST_TEST(contains(e.what(), "unauthorized"));
    BOOST_TEST(!contains(e.what(), "wrong-key"), "the key is never shown");
    BOOST_TEST(other.hits("/registry_prefix") == 1);
}

BOOST_AUTO_TEST_CASE(a_failed_build_carries_the_services_error_text) {
    harness h;
    h.server.route("/build_status", {status("WORKING")},
                   status("FAILURE", R"(,"error":"RUN make: returned a non-zero code: 3")"));
    h.server.route("/build", {}, json(R"({"build_id":"b-4"})"));
    auto api = h.client();
    const auto e = error_of([&] { h.build(api); });
    BOOST_TEST((e.value() == errc::build_failed), e.what());
    BOOST_TEST(contains(e.what(), "remote build b-4 FAILURE: RUN make: returned a non-zero code: 3"), e.what());
    BOOST_TEST_REQUIRE(e.build().has_value());
    BOOST_TEST(e.build()->exit_code.value_or(0) == 3);
}

BOOST_AUTO_TEST_CASE(every_final_state_maps_to_its_error) {
    const std::pair<std::string_view, errc> cases[] = {{"INTERNAL_ERROR", errc::server_error},
                                                       {"TIMEOUT", errc::build_failed},
                                                       {"CANCELLED", errc::cancelled},
                                                       {"EXPIRED", errc::timeout}};
    for (const auto& [state, code] : cases) {
        harness h;
        h.server.route("/build_status", {}, status(state, R"(,"error":"the service says why")"));
        h.server.route("/build", {}, json(R"({"build_id":"b-5"})"));
        auto api = h.client();
        const auto e = error_of([&] { h.build(api); });
        BOOST_TEST((e.value() == code), state << ": " << e.what());
        BOOST_TEST(contains(e.what(), "the service says why"), e.what());
    }
}

BOOST_AUTO_TEST_CASE(a_build_the_service_forgot_is_a_clean_error) {
    harness h;
    h.server.route("/build_status", {status("WORKING")}, faults::respond(404, {}, R"({"message":"no build"})"));
    h.server.route("/build", {}, json(R"({"build_id":"b-6"})"));
    auto api = h.client();
    const auto e = error_of([&] { h.build(api); });
    BOOST_TEST((e.value() == errc::not_found), e.what());
    BOOST_TEST(contains(e.what(), "remote build b-6 is unknown to the service"), e.what());
}

BOOST_AUTO_TEST_CASE(malformed_answers_are_parse_errors) {
    harness h;
    h.server.route("/build", {}, json(R"({"id":"b-6"})"));
    auto api = h.client();
    const auto e = error_of([&] { h.build(api); });
    BOOST_TEST((e.value() == errc::parse_error), e.what());
    BOOST_TEST(contains(e.what(), "'build_id' is missing"), e.what());
}

BOOST_AUTO_TEST_CASE(a_stop_request_cancels_the_build_on_the_service) {
    harness h;
    std::stop_source stop;
    h.server.route("/build_status", {}, [&](const std::string&) {
        stop.request_stop();
        return status("WORKING");
    });
    h.server.route("/build", {}, json(R"({"build_id":"b-8"})"));
    h.server.route("/cancel_build", {}, json(R"({"build_id":"b-8","status":"CANCELLED"})"));
    auto api = h.client();
    const auto e = error_of([&] { h.build(api, stop.get_token()); });
    BOOST_TEST((e.value() == errc::cancelled), e.what());
    BOOST_TEST(h.server.hits("/cancel_build") == 1);
    bool named = false;
    for (const auto& head : h.server.heads()) named = named || contains(head, "POST /cancel_build?build_id=b-8 ");
    BOOST_TEST(named);
}

BOOST_AUTO_TEST_CASE(the_overall_deadline_ends_polling_and_cancels) {
    harness h;
    h.server.route("/build_status", {}, status("WORKING"));
    h.server.route("/build", {}, json(R"({"build_id":"b-9"})"));
    h.server.route("/cancel_build", {}, json(R"({"build_id":"b-9","status":"CANCELLED"})"));
    remote_api::options o = h.client().settings();
    o.build_timeout = 30ms;
    remote_api api(o);
    const auto e = error_of([&] { h.build(api); });
    BOOST_TEST((e.value() == errc::timeout), e.what());
    BOOST_TEST(contains(e.what(), "did not finish within"), e.what());
    BOOST_TEST(h.server.hits("/cancel_build") == 1);
}

BOOST_AUTO_TEST_CASE(image_exists_asks_for_the_prefixed_name_and_reads_the_details) {
    harness h;
    h.server.route("/image_exists", {json(R"({"exists":false,"image":null})")},
                   json(R"({"exists":true,"image":{"upload_time":"2026-11-29T10:00:00Z","image_size_bytes":4096}})"));
    auto api = h.client();
    BOOST_TEST(!api.image_exists(image_ref::parse("ghcr.io/openhands/runtime:t"), lookup::local));
    const auto info = api.image_info("ghcr.io/openhands/runtime:t");
    BOOST_TEST(info.exists);
    BOOST_TEST(info.upload_time.value_or("") == "2026-11-29T10:00:00Z");
    BOOST_TEST(info.image_size_bytes.value_or(0) == 4096u);
    bool asked = false;
    for (const auto& head : h.server.heads()) asked = asked || contains(head, "image=reg.test%2Fp%2Fruntime%3At ");
    BOOST_TEST(asked);
    BOOST_TEST(h.server.hits("/registry_prefix") == 1, "the prefix is asked once");
}

BOOST_AUTO_TEST_CASE(tag_succeeds_only_when_the_service_already_has_the_name) {
    harness h;
    h.server.route("/image_exists", {json(R"({"exists":true})")}, json(R"({"exists":false})"));
    auto api = h.client();
    api.tag(image_ref::parse("a/b:1"), image_ref::parse("a/b:2"));
    const auto e = error_of([&] { api.tag(image_ref::parse("a/b:1"), image_ref::parse("a/b:3")); });
    BOOST_TEST((e.value() == errc::unsupported_version), e.what());
}
