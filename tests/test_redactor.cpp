#define BOOST_TEST_MODULE redactor
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <iterator>
#include <random>
#include <string>

#include "rtb/policy/redactor.hpp"
#include "support/reference_redactor.hpp"

using namespace rtb;

BOOST_AUTO_TEST_CASE(registered_secrets_are_masked_everywhere_they_appear) {
    redactor r;
    r.add_secret("s3cr3t-key");
    BOOST_TEST(r("key s3cr3t-key and again s3cr3t-key.") == "key *** and again ***.");
    BOOST_TEST(r("s3cr3t-keys3cr3t-key") == "***");  // touching matches merge
    BOOST_TEST(r("nothing here") == "nothing here");
}

BOOST_AUTO_TEST_CASE(text_without_secrets_is_returned_without_a_copy) {
    redactor r;
    r.add_secret("abcdef");
    std::string scratch;
    const std::string_view text = "compiling module 1: ok [7%]";
    BOOST_TEST(r.apply(text, scratch).data() == text.data());
}

BOOST_AUTO_TEST_CASE(overlapping_and_nested_secrets_are_masked_whole) {
    redactor r;
    r.add_secret("pass");
    r.add_secret("password123");
    r.add_secret("");  // ignored
    r.add_secret("pass");  // once only
    BOOST_TEST(r.secret_count() == 2u);
    BOOST_TEST(r("x password123 y pass z") == "x *** y *** z");
    redactor o({.patterns = false, .mask = "<hidden>"});
    o.add_secret("abcab");
    o.add_secret("cabx");
    BOOST_TEST(o("abcabx!") == "<hidden>!");
}

BOOST_AUTO_TEST_CASE(url_passwords_are_masked) {
    redactor r;
    BOOST_TEST(r("cloning https://user:hunter2@github.com/org/repo.git") ==
               "cloning https://user:***@github.com/org/repo.git");
    BOOST_TEST(r("pip index postgres://admin:pa55@db:5432/x done") == "pip index postgres://admin:***@db:5432/x done");
    BOOST_TEST(r("no password https://user@host/path") == "no password https://user@host/path");
    BOOST_TEST(r("plain https://example.com:8443/x") == "plain https://example.com:8443/x");
}

BOOST_AUTO_TEST_CASE(values_of_keys_that_name_secrets_are_masked) {
    redactor r;
    BOOST_TEST(r("ENV GITHUB_TOKEN=ghx1234 OTHER=ok") == "ENV GITHUB_TOKEN=*** OTHER=ok");
    BOOST_TEST(r("export OPENAI_API_KEY='abc def'") == "export OPENAI_API_KEY='***'");
    BOOST_TEST(r(R"({"password": "hunter2", "user": "bob"})") == R"({"password": "***", "user": "bob"})");
    BOOST_TEST(r("db_password : hunter2") == "db_password : ***");
    BOOST_TEST(r("aws_secret_access_key=AbC/dEf+GhI") == "aws_secret_access_key=***");
    BOOST_TEST(r("--build-arg NPM_TOKEN=xyz --build-arg MODE=dev") == "--build-arg NPM_TOKEN=*** --build-arg MODE=dev");
    BOOST_TEST(r("login --password hunter2 --user bob") == "login --password *** --user bob");
    BOOST_TEST(r("credentials=a;b=c") == "credentials=***;b=c");
}

BOOST_AUTO_TEST_CASE(authorization_headers_and_bearer_tokens_are_masked) {
    redactor r;
    BOOST_TEST(r("Authorization: Bearer eyJhbGciOi.xyz") == "Authorization: ***");
    BOOST_TEST(r("authorization: Basic dXNlcjpwYXNz") == "authorization: ***");
    BOOST_TEST(r("X-API-Key: k-123") == "X-API-Key: ***");
    BOOST_TEST(r("curl -H 'Authorization: token abc123' url") == "curl -H 'Authorization: ***' url");
    BOOST_TEST(r("sent Bearer abc.def-ghi to server") == "sent Bearer *** to server");
}

BOOST_AUTO_TEST_CASE(well_known_token_shapes_are_masked) {
    redactor r;
    BOOST_TEST(r("use ghp_0123456789abcdefghijABCDEFGHIJ012345 now") == "use *** now");
    BOOST_TEST(r("github_pat_11ABCDEFG0123456789_abcdefghijklmnop") == "***");
    BOOST_TEST(r("glpat-abcdefghij0123456789") == "***");
    BOOST_TEST(r("xoxb-1234567890-abcdef") == "***");
    BOOST_TEST(r("id AKIAIOSFODNN7EXAMPLE.") == "id ***.");
    BOOST_TEST(r("key sk-proj-abcdefghijklmnopqrstuvwxyz") == "key ***");
    // too short, or part of a longer word: left alone
    BOOST_TEST(r("ghp_short sk-learn task-1234567890123456789012") == "ghp_short sk-learn task-1234567890123456789012");
}

BOOST_AUTO_TEST_CASE(ordinary_build_output_is_left_alone) {
    redactor r;
    for (const char* line : {"Step 3/6 : RUN make -j4", "compiling module 12: ok [84%]", " ---> Running in 4ddfefecf9e3",
                             "#7 0.062 compiling module 0: ok [0%]", "Successfully tagged 127.0.0.1:5000/runtime:fixture",
                             "sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913",
                             "Downloading https://files.pythonhosted.org/packages/x.whl (1.2 MB)", "key=value a:b"}) {
        BOOST_TEST(r(line) == line);
    }
}

BOOST_AUTO_TEST_CASE(patterns_can_be_turned_off_exact_secrets_still_apply) {
    redactor r({.patterns = false, .mask = "***"});
    r.add_secret("hunter2");
    BOOST_TEST(r("PASSWORD=abc hunter2") == "PASSWORD=abc ***");
}

BOOST_AUTO_TEST_CASE(secrets_rtb_handled_are_masked_by_every_redactor_even_ones_made_before) {
    redactor early;  // made before the secret was known
    BOOST_TEST(early("echo: zq-handled-7731") == "echo: zq-handled-7731");
    remember_secret("zq-handled-7731");
    BOOST_TEST(early("echo: zq-handled-7731!") == "echo: ***!");
    redactor later;
    BOOST_TEST(later("a zq-handled-7731 b") == "a *** b");
    // Too short to mask without garbling all output: not kept.
    remember_secret("abc");
    BOOST_TEST(later("abc") == "abc");
}

BOOST_AUTO_TEST_CASE(a_quoted_file_name_that_names_a_secret_does_not_mask_the_message) {
    const redactor r;
    // Found when the CLI began redacting its errors.
    BOOST_TEST(r("cannot open '/ctx/secret': Permission denied") == "cannot open '/ctx/secret': Permission denied");
    BOOST_TEST(r(R"({"password": "hunter2"})") == R"({"password": "***"})");
    BOOST_TEST(r("'token': 'abc123'") == "'token': '***'");
}

BOOST_AUTO_TEST_CASE(the_one_pass_search_masks_what_searching_each_pattern_in_turn_masks) {
    // Random text made of the patterns' pieces, next to each other, inside
    // each other, repeated: every mask must be the reference's.
    static const char* const pieces[] = {
        "password", "PASSWORD", "token", "api_key", "Authorization", "proxy-authorization", "secret", "=", ":",
        "://", "user:pw@", "@", "/", "--", "---", "-", "_", "Bearer ", "Bearer", "ghp_", "gho_", "github_pat_",
        "glpat-", "xoxb-", "xoxs-", "AKIA", "sk-", "A", "B", "g", "x", "s", "abcdefghij", "0123456789ABCDEF",
        " ", "  ", "\"", "'", ",", ";", "\t", "\n", "https", "key", "value", "caf\xc3\xa9"};
    std::mt19937 rng(20261207);
    redactor fast;
    test::reference_redactor reference;
    fast.add_secret("hunter2");
    reference.add_secret("hunter2");
    for (int i = 0; i < 20000; ++i) {
        std::string text;
        for (int n = static_cast<int>(rng() % 24); n > 0; --n) text += pieces[rng() % std::size(pieces)];
        if (rng() % 10 == 0) text += "hunter2";
        BOOST_TEST_CONTEXT(text) { BOOST_TEST(fast(text) == reference(text)); }
    }
}
