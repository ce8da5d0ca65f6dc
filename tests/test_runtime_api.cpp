#define BOOST_TEST_MODULE runtime_api
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <random>
#include <string>

#include "rtb/stream/runtime_api.hpp"
#include "support/print.hpp"

using namespace rtb;

namespace {

template <class F>
std::string parse_error_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        BOOST_TEST((e.value() == errc::parse_error), e.what());
        return e.what();
    }
    return "no error";
}
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---- POST /build ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(build_id_is_read_and_other_fields_ignored) {
    BOOST_TEST(parse_build_id(R"({"build_id": "b-123", "queued_at": 1700000000, "extra": {"a": [1]}})") == "b-123");
    BOOST_TEST(parse_build_id("  {\"build_id\":\"x\"}  \n") == "x");
}

BOOST_AUTO_TEST_CASE(build_id_must_be_a_usable_string) {
    BOOST_TEST(contains(parse_error_of([] { parse_build_id("{}"); }), "'build_id' is missing"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_id(R"({"build_id": 5})"); }), "field 'build_id'"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_id(R"({"build_id": ""})"); }), "not a usable id"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_id(R"({"build_id": "a b"})"); }), "not a usable id"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_id(R"({"build_id": "a\nb"})"); }), "not a usable id"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_id("{\"build_id\": \"" + std::string(300, 'a') + "\"}"); }),
                        "not a usable id"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_id(R"({"build_id":"a","build_id":"b"})"); }), "appears twice"));
}

BOOST_AUTO_TEST_CASE(errors_name_the_endpoint_and_show_the_answer) {
    const auto m = parse_error_of([] { parse_build_id("<html>502 Bad Gateway</html>"); });
    BOOST_TEST(contains(m, "remote build service: malformed answer to POST /build"), m);
    BOOST_TEST(contains(m, "'<html>502 Bad Gateway</html>'"), m);
}

// ---- GET /build_status -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_known_status_is_read) {
    const std::pair<const char*, remote_build_state> cases[] = {
        {"PENDING", remote_build_state::pending},     {"QUEUED", remote_build_state::queued},
        {"WORKING", remote_build_state::working},     {"RUNNING", remote_build_state::working},
        {"FAILURE", remote_build_state::failure},     {"INTERNAL_ERROR", remote_build_state::internal_error},
        {"TIMEOUT", remote_build_state::timeout},     {"CANCELLED", remote_build_state::cancelled},
        {"EXPIRED", remote_build_state::expired}};
    for (const auto& [name, state] : cases) {
        const auto s = parse_build_status(std::string(R"({"status":")") + name + R"(","image":null,"error":null})");
        BOOST_TEST((s.state == state), name);
        BOOST_TEST(s.finished() == (state != remote_build_state::pending && state != remote_build_state::queued &&
                                    state != remote_build_state::working),
                   name);
    }
}

BOOST_AUTO_TEST_CASE(success_carries_the_image) {
    const auto s = parse_build_status(R"({"status":"SUCCESS","image":"ghcr.io/openhands/runtime:oh_v0.1_abc","error":""})");
    BOOST_TEST((s.state == remote_build_state::success));
    BOOST_TEST(s.image == "ghcr.io/openhands/runtime:oh_v0.1_abc");
    BOOST_TEST(s.finished());
}

BOOST_AUTO_TEST_CASE(success_without_an_image_is_an_error) {
    BOOST_TEST(contains(parse_error_of([] { parse_build_status(R"({"status":"SUCCESS"})"); }), "unusable image"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_status(R"({"status":"SUCCESS","image":"a b"})"); }),
                        "unusable image"));
}

BOOST_AUTO_TEST_CASE(unknown_statuses_are_errors_not_reasons_to_poll_forever) {
    for (const char* body : {R"({"status":"DONE"})", R"({"status":"success"})", R"({"status":"STATUS_UNKNOWN"})",
                             R"({"status":""})"}) {
        BOOST_TEST(contains(parse_error_of([&] { parse_build_status(body); }), "unknown build status"), body);
    }
    BOOST_TEST(contains(parse_error_of([] { parse_build_status(R"({"status":null})"); }), "field 'status'"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_status(R"({"image":"x"})"); }), "'status' is missing"));
    BOOST_TEST(contains(parse_error_of([] { parse_build_status(R"({"status":3})"); }), "field 'status'"));
}

BOOST_AUTO_TEST_CASE(failed_builds_become_the_right_errors) {
    auto status = [](const char* body) { return parse_build_status(body); };
    const auto failure = remote_build_error(status(R"({"status":"FAILURE","error":"step 3: exit code: 2"})"), "b1");
    BOOST_TEST((failure.value() == errc::build_failed));
    BOOST_TEST(std::string(failure.what()) == "remote build b1 FAILURE: step 3: exit code: 2");
    BOOST_TEST(failure.build()->exit_code == std::optional<int>(2));
    BOOST_TEST(!failure.retryable());
    BOOST_TEST((remote_build_error(status(R"({"status":"TIMEOUT"})"), "b").value() == errc::build_failed));
    const auto expired = remote_build_error(status(R"({"status":"EXPIRED"})"), "b");
    BOOST_TEST((expired.value() == errc::timeout));
    BOOST_TEST(expired.retryable());
    BOOST_TEST(std::string(expired.what()) == "remote build b EXPIRED: the build ended with status EXPIRED");
    BOOST_TEST((remote_build_error(status(R"({"status":"INTERNAL_ERROR"})"), "b").value() == errc::server_error));
    BOOST_TEST((remote_build_error(status(R"({"status":"CANCELLED"})"), "b").value() == errc::cancelled));
    BOOST_TEST((remote_build_error(status(R"({"status":"WORKING"})"), "b").value() == errc::invalid_argument));
}

// ---- GET /image_exists -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(image_exists_with_details) {
    const auto i = parse_image_exists(
        R"({"exists": true, "image": {"upload_time": "2026-11-28T10:00:00Z", "image_size_bytes": 3221225472, "tags": ["a"]}})");
    BOOST_TEST(i.exists);
    BOOST_TEST(i.upload_time == std::optional<std::string>("2026-11-28T10:00:00Z"));
    BOOST_TEST(i.image_size_bytes == std::optional<std::uint64_t>(3221225472u));
}

BOOST_AUTO_TEST_CASE(image_exists_in_its_sparser_forms) {
    const auto no = parse_image_exists(R"({"exists": false})");
    BOOST_TEST(!no.exists);
    BOOST_TEST(!no.upload_time.has_value());
    BOOST_TEST(!parse_image_exists(R"({"exists": false, "image": null})").image_size_bytes.has_value());
    const auto epoch = parse_image_exists(R"({"exists": true, "image": {"upload_time": 1764324000.5, "image_size_bytes": null}})");
    BOOST_TEST(epoch.upload_time == std::optional<std::string>("1764324000.5"));
    BOOST_TEST(!epoch.image_size_bytes.has_value());
}

BOOST_AUTO_TEST_CASE(image_exists_rejects_wrong_types) {
    for (const char* body : {R"({"exists": "yes"})", R"({"exists": 1})", R"({})", R"({"exists": true, "image": 5})",
                             R"({"exists": true, "image": {"image_size_bytes": -1}})",
                             R"({"exists": true, "image": {"image_size_bytes": 1.5}})",
                             R"({"exists": true, "image": {"image_size_bytes": 99999999999999999999999}})",
                             R"({"exists": true, "image": {"upload_time": [1]}})"}) {
        parse_error_of([&] { parse_image_exists(body); });
    }
}

// ---- GET /registry_prefix -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(registry_prefix_is_read_and_checked) {
    BOOST_TEST(parse_registry_prefix(R"({"registry_prefix": "us-docker.pkg.dev/proj/runtime"})") ==
               "us-docker.pkg.dev/proj/runtime");
    BOOST_TEST(contains(parse_error_of([] { parse_registry_prefix(R"({"prefix": "x"})"); }), "'registry_prefix' is missing"));
    BOOST_TEST(contains(parse_error_of([] { parse_registry_prefix(R"({"registry_prefix": "a b"})"); }), "not a registry name"));
    BOOST_TEST(contains(parse_error_of([] { parse_registry_prefix(R"({"registry_prefix": ""})"); }), "not a registry name"));
}

// ---- hostile answers ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(hostile_answers_are_clean_parse_errors) {
    const std::string cases[] = {
        "",
        " ",
        "null",
        "[]",
        "\"build_id\"",
        "{",
        R"({"build_id":"a")",
        R"({"build_id":"a"} {"build_id":"b"})",
        R"({"build_id":"a"}})",
        R"({"build_id":"a\uZZZZ"})",
        "{\"build_id\":\"\xff\xfe\"}",
        std::string("{\"build_id\":\"a\0b\"}", 18),
        std::string(2000, '[') + std::string(2000, ']'),
        "{\"build_id\":" + std::string(5000, '[') + std::string(5000, ']') + "}",
    };
    for (const auto& body : cases) {
        for (auto parse : {+[](std::string_view b) { (void)parse_build_id(b); },
                           +[](std::string_view b) { (void)parse_build_status(b); },
                           +[](std::string_view b) { (void)parse_image_exists(b); },
                           +[](std::string_view b) { (void)parse_registry_prefix(b); }}) {
            const auto m = parse_error_of([&] { parse(body); });
            BOOST_TEST(contains(m, "malformed answer"), m);
        }
    }
}

BOOST_AUTO_TEST_CASE(deep_nesting_in_an_ignored_field_is_skipped_without_recursion) {
    const auto body = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + ",\"build_id\":\"x\"}";
    BOOST_TEST(parse_build_id(body) == "x");
}

BOOST_AUTO_TEST_CASE(oversized_answers_are_refused_before_parsing) {
    const std::string big = "{\"build_id\":\"x\",\"pad\":\"" + std::string(max_runtime_api_answer, 'a') + "\"}";
    BOOST_TEST(contains(parse_error_of([&] { parse_build_id(big); }), "more than the 1048576 byte limit"));
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash_and_never_pass) {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string body(static_cast<std::size_t>(rng() % 64), '\0');
        for (auto& c : body) c = static_cast<char>(rng() % 256);
        if (i % 2) body = "{\"status\":\"" + body + "\"}";
        try {
            const auto s = parse_build_status(body);
            BOOST_TEST(false, "accepted random bytes: " << s.image);
        } catch (const error& e) {
            BOOST_TEST((e.value() == errc::parse_error));
        }
    }
}
