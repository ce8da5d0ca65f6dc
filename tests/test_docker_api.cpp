// The Engine API as pure functions: versions and negotiation, /version,
// request targets (POST /build above all), registry credentials and
// X-Registry-Auth, stream errors, and the engine streams
// recorded here as docker_engine decodes them.
#define BOOST_TEST_MODULE docker_api
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <fstream>
#include <random>
#include <sstream>

#include "rtb/stream/engine_stream.hpp"
#include "rtb/stream/event_text.hpp"
#include "rtb/transport/docker_api.hpp"
#include "rtb/transport/docker_auth.hpp"
#include "support/checks.hpp"

using namespace rtb;
using rtb::test::error_of;
using rtb::test::message_of;
using rtb::test::contains;
using namespace rtb::docker_api;

namespace {


std::string fixture(const std::string& name) {
    std::ifstream in(std::string(RTB_FIXTURES_DIR) + "/" + name, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "missing fixture " << name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// An event as text, to compare decodings.
std::string show(const build_event& e) {
    std::string out;
    append_event_json(out, e);
    return out;
}

std::vector<std::string> shown(const std::vector<build_event>& ev) {
    std::vector<std::string> out;
    for (const auto& e : ev) out.push_back(show(e));
    return out;
}

struct collect {
    std::vector<build_event> events;
    void on_event(const build_event& e) { events.push_back(e); }
};
struct discard {
    void on_event(const build_event&) {}
};

std::vector<build_event> decode(std::string_view stream, std::size_t max_chunk, unsigned seed = 1) {
    collect sink;
    engine_stream_decoder d(sink);
    std::mt19937 rng(seed);
    while (!stream.empty()) {
        const std::size_t n = std::min<std::size_t>(stream.size(), 1 + rng() % max_chunk);
        d.feed(stream.substr(0, n));
        stream.remove_prefix(n);
    }
    d.finish();
    return std::move(sink.events);
}

const char* docker_version_json =
    R"({"Platform":{"Name":""},"Components":[{"Name":"Engine","Version":"20.10.24+dfsg1","Details":{"ApiVersion":"1.41"}}],)"
    R"("Version":"20.10.24+dfsg1","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux"})";
const char* podman_version_json =
    R"({"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1",)"
    R"("Details":{"APIVersion":"4.3.1","MinAPIVersion":"4.0.0"}},{"Name":"Conmon","Version":"conmon 2.1.6"}],)"
    R"("Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24"})";

}  // namespace

// ------------------------------------------------------------ versions

BOOST_AUTO_TEST_CASE(api_versions_parse_and_order_numerically) {
    BOOST_TEST(api_version::parse("1.41").value().str() == "1.41");
    BOOST_TEST((api_version::parse("1.9").value() < api_version::parse("1.10").value()));
    for (const char* bad : {"", "1", "1.", ".1", "a.b", "1.41.2", "-1.2", "1.41 ", "1.-1", "99999999999.1"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!api_version::parse(bad).has_value()); }
}

BOOST_AUTO_TEST_CASE(negotiation_uses_the_lower_of_the_servers_and_ours) {
    BOOST_TEST(negotiate("1.43", newest_api, "e").str() == "1.41");
    BOOST_TEST(negotiate("1.40", newest_api, "e").str() == "1.40");
    BOOST_TEST(negotiate("1.41", api_version{1, 40}, "e").str() == "1.40");
}

BOOST_AUTO_TEST_CASE(an_api_older_than_docker_18_09_is_unsupported_and_named) {
    const auto e = error_of([] { negotiate("1.38", newest_api, "unix socket /s"); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(std::string(e.what()) ==
               "the engine on unix socket /s speaks Engine API 1.38; rtb needs at least 1.39 (Docker 18.09)");
    BOOST_TEST(error_of([] { negotiate("banana", newest_api, "e"); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(product_versions_take_the_leading_numbers) {
    BOOST_TEST(product_version::parse("20.10.24+dfsg1").value().str() == "20.10.24");
    BOOST_TEST(product_version::parse("18.09.0-ce").value().str() == "18.9.0");
    BOOST_TEST(product_version::parse("4.3.1").value().str() == "4.3.1");
    BOOST_TEST(product_version::parse("4.9").value().str() == "4.9.0");
    BOOST_TEST(product_version::parse("28.2.2").value().str() == "28.2.2");
    for (const char* bad : {"", "dev", "4", "v4.3.1", ".4.3"}) BOOST_TEST(!product_version::parse(bad).has_value());
}

BOOST_AUTO_TEST_CASE(version_answers_tell_docker_from_podman) {
    const auto d = parse_version(docker_version_json, "e");
    BOOST_TEST(!d.is_podman);
    BOOST_TEST(d.product == "Docker Engine");
    BOOST_TEST(d.version == "20.10.24+dfsg1");
    BOOST_TEST(d.api_version == "1.41");
    const auto p = parse_version(podman_version_json, "e");
    BOOST_TEST(p.is_podman);
    BOOST_TEST(p.product == "Podman Engine");
    BOOST_TEST(p.version == "4.3.1");
    BOOST_TEST(p.api_version == "1.41");
}

BOOST_AUTO_TEST_CASE(malformed_version_answers_are_parse_errors) {
    for (const char* bad : {"", "[]", "{", R"({"Version":1,"ApiVersion":"1.41"})", R"({"ApiVersion":"1.41"})",
                            R"({"Version":"20.10"})", "\x00\x01garbage"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(error_of([&] { parse_version(bad, "e"); }).value() == errc::parse_error); }
}

BOOST_AUTO_TEST_CASE(docker_needs_18_09_and_podman_4_3) {
    version_answer v{"Docker Engine", "18.06.1-ce", "1.38", "1.12", false};
    auto e = error_of([&] { check_version(v, "unix socket /s"); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(std::string(e.what()) ==
               "Docker Engine 18.06.1-ce on unix socket /s is too old: rtb needs Docker >= 18.9 (BuildKit)");
    v.version = "18.09.0";
    check_version(v, "e");
    v = {"Podman Engine", "4.2.0", "1.41", "1.24", true};
    e = error_of([&] { check_version(v, "e"); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(std::string(e.what()).find("Podman >= 4.3") != std::string::npos);
    v.version = "4.3.1";
    check_version(v, "e");
    v.version = "nonsense";
    BOOST_TEST(error_of([&] { check_version(v, "e"); }).value() == errc::parse_error);
}

// ------------------------------------------------------------ targets

BOOST_AUTO_TEST_CASE(image_paths_use_the_familiar_name) {
    const api_version v{1, 41};
    BOOST_TEST(inspect_target(v, image_ref::parse("local/busybox:1")) == "/v1.41/images/local/busybox:1/json");
    BOOST_TEST(inspect_target(v, image_ref::parse("ubuntu")) == "/v1.41/images/ubuntu/json");
    BOOST_TEST(inspect_target(v, image_ref::parse("127.0.0.1:5000/a/b:t")) == "/v1.41/images/127.0.0.1:5000/a/b:t/json");
    BOOST_TEST(libpod_exists_target(image_ref::parse("local/busybox:1")) == "/v4.0.0/libpod/images/local/busybox:1/exists");
    BOOST_TEST(remove_target(v, image_ref::parse("a:1"), false, true) == "/v1.41/images/a:1?force=0&noprune=0");
    BOOST_TEST(remove_target(v, image_ref::parse("a:1"), true, false) == "/v1.41/images/a:1?force=1&noprune=1");
}

BOOST_AUTO_TEST_CASE(pulls_send_repository_and_tag_or_digest) {
    const api_version v{1, 40};
    BOOST_TEST(pull_target(v, image_ref::parse("127.0.0.1:5000/rt/app:v1")) ==
               "/v1.40/images/create?fromImage=127.0.0.1%3A5000%2Frt%2Fapp&tag=v1");
    BOOST_TEST(pull_target(v, image_ref::parse("ubuntu")) == "/v1.40/images/create?fromImage=ubuntu&tag=latest");
    const std::string digest = "sha256:" + std::string(64, 'a');
    BOOST_TEST(pull_target(v, image_ref::parse("localhost:5000/x@" + digest)) ==
               "/v1.40/images/create?fromImage=localhost%3A5000%2Fx&tag=sha256%3A" + std::string(64, 'a'));
    BOOST_TEST(pull_target(v, image_ref::parse("x:1"), "linux/arm64") ==
               "/v1.40/images/create?fromImage=x&tag=1&platform=linux%2Farm64");
}

BOOST_AUTO_TEST_CASE(push_and_tag_split_repository_and_tag) {
    const api_version v{1, 41};
    BOOST_TEST(push_target(v, image_ref::parse("127.0.0.1:5000/rt/app:v1")) ==
               "/v1.41/images/127.0.0.1:5000/rt/app/push?tag=v1");
    BOOST_TEST(tag_target(v, image_ref::parse("local/busybox:1"), image_ref::parse("127.0.0.1:5000/x:t2")) ==
               "/v1.41/images/local/busybox:1/tag?repo=127.0.0.1%3A5000%2Fx&tag=t2");
    const std::string digest = "@sha256:" + std::string(64, 'b');
    BOOST_TEST(error_of([&] { push_target(v, image_ref::parse("x" + digest)); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([&] { tag_target(v, image_ref::parse("x:1"), image_ref::parse("y" + digest)); }).value() ==
               errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(label_filters_are_a_json_filter_map) {
    const api_version v{1, 41};
    BOOST_TEST(list_images_target(v, {}) == "/v1.41/images/json");
    BOOST_TEST(list_images_target(v, {"rtb.tool", "rtb.plan=lock"}) ==
               "/v1.41/images/json?filters=%7B%22label%22%3A%5B%22rtb.tool%22%2C%22rtb.plan%3Dlock%22%5D%7D");
}

BOOST_AUTO_TEST_CASE(label_filters_match_presence_and_exact_values) {
    const std::map<std::string, std::string> labels = {{"rtb.plan", "lock"}, {"empty", ""}, {"k", "a=b"}};
    BOOST_TEST(labels_match(labels, {}));
    BOOST_TEST(labels_match(labels, {"rtb.plan"}));
    BOOST_TEST(labels_match(labels, {"rtb.plan=lock", "empty=", "k=a=b"}));
    BOOST_TEST(!labels_match(labels, {"rtb.plan=scratch"}));
    BOOST_TEST(!labels_match(labels, {"rtb.plan=lock", "missing"}));
    BOOST_TEST(!labels_match(labels, {"rtb.plan=lock ", "k=a"}));
    BOOST_TEST(!labels_match({}, {"rtb.plan"}));
}

BOOST_AUTO_TEST_CASE(a_minimal_build_request_sends_the_defaults) {
    build_request r;
    BOOST_TEST(build_target({1, 41}, r) == "/v1.41/build?dockerfile=Dockerfile&networkmode=none&rm=1&forcerm=1");
}

BOOST_AUTO_TEST_CASE(every_build_request_field_has_its_query_parameter) {
    build_request r;
    r.tags = {"ghcr.io/openhands/runtime:oh_v1_abc", "local/app:2"};
    r.dockerfile = "docker/Dockerfile.rtb";
    r.build_args = {{"B", "x y"}, {"A", "\"quoted\" & {json}"}};
    r.labels = {{"rtb.version", "0.1.0"}, {"rtb.plan", "lock"}};
    r.platform = "linux/amd64";
    r.target = "runtime";
    r.network_mode = "host";
    r.cache_from = {"local/cache:1"};
    r.pull = true;
    r.remove_intermediate = false;
    r.force_remove_intermediate = false;
    BOOST_TEST(build_target({1, 41}, r) ==
               "/v1.41/build?t=ghcr.io%2Fopenhands%2Fruntime%3Aoh_v1_abc&t=local%2Fapp%3A2"
               "&dockerfile=docker%2FDockerfile.rtb"
               "&buildargs=%7B%22A%22%3A%22%5C%22quoted%5C%22%20%26%20%7Bjson%7D%22%2C%22B%22%3A%22x%20y%22%7D"
               "&labels=%7B%22rtb.plan%22%3A%22lock%22%2C%22rtb.version%22%3A%220.1.0%22%7D"
               "&platform=linux%2Famd64&target=runtime&networkmode=host"
               "&cachefrom=%5B%22local%2Fcache%3A1%22%5D&pull=1&rm=0&forcerm=0");
}

BOOST_AUTO_TEST_CASE(labels_the_dockerfile_sets_are_not_sent_again) {
    // dockerd's classic builder and Podman make a LABEL step of each
    // `labels` entry: labels the Dockerfile already sets stay out of the query
    build_request r;
    r.labels = {{"rtb.version", "0.1.0"}, {"rtb.plan", "lock"}};
    BOOST_TEST(build_target({1, 41}, r).find("labels=") != std::string::npos);
    r.labels_in_dockerfile = true;
    BOOST_TEST(build_target({1, 41}, r) == "/v1.41/build?dockerfile=Dockerfile&networkmode=none&rm=1&forcerm=1");
}

BOOST_AUTO_TEST_CASE(build_args_with_control_bytes_and_unicode_stay_valid_json) {
    build_request r;
    r.build_args = {{"K", std::string("a\nb\x01\xc3\xa9\xff")}};
    const auto t = build_target({1, 41}, r);
    // {"K":"a\nb\u0001é\ufffd"}
    BOOST_TEST(t.find("buildargs=%7B%22K%22%3A%22a%5Cnb%5Cu0001%C3%A9%5Cufffd%22%7D") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(build_requests_the_api_cannot_express_are_refused) {
    for (const char* df : {"", "/etc/passwd", "../Dockerfile", "a/../../Dockerfile", "..", "a/.."}) {
        build_request r;
        r.dockerfile = df;
        BOOST_TEST_CONTEXT(df) { BOOST_TEST(error_of([&] { build_target({1, 41}, r); }).value() == errc::invalid_argument); }
    }
    build_request r;
    r.cache_to = {"type=local,dest=/tmp/c"};
    BOOST_TEST(std::string(error_of([&] { build_target({1, 41}, r); }).what()).find("docker_cli") != std::string::npos);
    r = {};
    r.tags = {"Bad Tag"};
    BOOST_TEST(error_of([&] { build_target({1, 41}, r); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(stream_errors_are_classified) {
    BOOST_TEST(classify_stream_error("manifest for 127.0.0.1:5000/x:1 not found: manifest unknown") == errc::not_found);
    BOOST_TEST(classify_stream_error("initializing source docker://x: reading manifest t1 in x: manifest unknown") ==
               errc::not_found);
    BOOST_TEST(classify_stream_error("unauthorized: authentication required") == errc::unauthorized);
    BOOST_TEST(classify_stream_error("denied: requested access to the resource is denied") == errc::unauthorized);
    BOOST_TEST(classify_stream_error("toomanyrequests: slow down") == errc::rate_limited);
    BOOST_TEST(classify_stream_error("write: no space left on device") == errc::server_error);
}

BOOST_AUTO_TEST_CASE(exit_codes_come_from_docker_and_podman_messages) {
    BOOST_TEST(exit_code_from_message("The command '/bin/sh -c exit 3' returned a non-zero code: 3").value() == 3);
    BOOST_TEST(exit_code_from_message("building at STEP \"RUN x\": while running runtime: exit status 42\n").value() ==
               42);
    BOOST_TEST(!exit_code_from_message("exit status ").has_value());
    BOOST_TEST(!exit_code_from_message("no code here").has_value());
}

// ------------------------------------------------------------ credentials

BOOST_AUTO_TEST_CASE(registry_keys_normalize_like_the_docker_cli) {
    BOOST_TEST(docker_auth::normalize_registry("https://index.docker.io/v1/") == "docker.io");
    BOOST_TEST(docker_auth::normalize_registry("registry-1.docker.io") == "docker.io");
    BOOST_TEST(docker_auth::normalize_registry("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000");
    BOOST_TEST(docker_auth::normalize_registry("GHCR.io") == "ghcr.io");
}

BOOST_AUTO_TEST_CASE(credentials_come_from_auths) {
    const std::string config = R"({"auths":{
        "https://index.docker.io/v1/":{"auth":"aHViOnMzY3JldDpwYXJ0"},
        "127.0.0.1:5000":{"username":"u","password":"p"},
        "ghcr.io":{"identitytoken":"tok"},
        "empty.example":{}},
        "credsStore":"desktop"})";
    auto c = docker_auth::credentials_for("docker.io", config, "cfg").value();
    BOOST_TEST(c.username == "hub");
    BOOST_TEST(c.password == "s3cret:part");  // split at the first ':'
    BOOST_TEST(c.server_address == "https://index.docker.io/v1/");
    c = docker_auth::credentials_for("127.0.0.1:5000", config, "cfg").value();
    BOOST_TEST(c.username == "u");
    BOOST_TEST(c.password == "p");
    BOOST_TEST(docker_auth::credentials_for("ghcr.io", config, "cfg").value().identity_token == "tok");
    BOOST_TEST(!docker_auth::credentials_for("empty.example", config, "cfg").has_value());
    BOOST_TEST(!docker_auth::credentials_for("quay.io", config, "cfg").has_value());
    BOOST_TEST(!docker_auth::credentials_for("quay.io", "{}", "cfg").has_value());
}

BOOST_AUTO_TEST_CASE(a_malformed_config_names_the_file_and_never_the_secret) {
    auto e = error_of([] { docker_auth::credentials_for("x", "{\"auths\":", "/home/u/.docker/config.json"); });
    BOOST_TEST(e.value() == errc::parse_error);
    BOOST_TEST(std::string(e.what()).find("/home/u/.docker/config.json") != std::string::npos);
    // "c2VjcmV0LW5vLWNvbG9u" is base64 of "secret-no-colon"
    e = error_of([] { docker_auth::credentials_for("x", R"({"auths":{"x":{"auth":"c2VjcmV0LW5vLWNvbG9u"}}})", "cfg"); });
    BOOST_TEST(e.value() == errc::parse_error);
    BOOST_TEST(std::string(e.what()).find("secret") == std::string::npos);
    BOOST_TEST(std::string(e.what()).find("c2VjcmV0") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(x_registry_auth_is_url_safe_base64_of_the_auth_config) {
    BOOST_TEST(docker_auth::encode_registry_auth(std::nullopt) == "e30=");  // {}
    registry_credentials c;
    c.username = "u";
    c.password = "p?>>";  // bytes whose standard base64 has '+' or '/'
    c.server_address = "127.0.0.1:5000";
    const auto header = docker_auth::encode_registry_auth(c);
    BOOST_TEST(header.find_first_of("+/") == std::string::npos);
    BOOST_TEST(detail::base64_decode(header).value() ==
               R"({"username":"u","password":"p?>>","serveraddress":"127.0.0.1:5000"})");
    c.identity_token = "tok";
    BOOST_TEST(detail::base64_decode(docker_auth::encode_registry_auth(c)).value() ==
               R"({"identitytoken":"tok","serveraddress":"127.0.0.1:5000"})");
}

BOOST_AUTO_TEST_CASE(the_config_path_follows_docker_config_then_home) {
    auto env = [](const char* d, const char* h) {
        return [=](const char* n) -> const char* { return std::string_view(n) == "DOCKER_CONFIG" ? d : h; };
    };
    BOOST_TEST(docker_auth::config_path(env("/cfg", "/home/u")) == "/cfg/config.json");
    BOOST_TEST(docker_auth::config_path(env(nullptr, "/home/u")) == "/home/u/.docker/config.json");
    BOOST_TEST(docker_auth::config_path(env(nullptr, nullptr)).empty());
}

// ------------------------------------------------------------ recorded streams

BOOST_AUTO_TEST_CASE(decoding_does_not_depend_on_how_the_stream_is_chunked) {
    for (const char* name : {"pull_stream.ndjson", "push_stream.ndjson", "build_stream.ndjson",
                             "podman_build_stream.ndjson", "build_fail_stream.ndjson"}) {
        const auto text = fixture(name);
        const auto whole = decode(text, text.size());
        BOOST_TEST_CONTEXT(name) {
            BOOST_TEST(!whole.empty());
            for (unsigned seed : {1u, 2u, 3u}) {
                const auto pieces = decode(text, 7, seed);
                BOOST_TEST(pieces.size() == whole.size());
                BOOST_TEST((shown(pieces) == shown(whole)));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(pull_streams_give_layer_progress) {
    const auto ev = decode(fixture("pull_stream.ndjson"), 4096);
    bool downloading = false;
    for (const auto& e : ev)
        if (const auto* p = std::get_if<events::progress>(&e); p && p->status == "Downloading") {
            downloading = true;
            BOOST_TEST(p->total > 0u);
            BOOST_TEST(p->current <= p->total);
        }
    BOOST_TEST(downloading);
}

BOOST_AUTO_TEST_CASE(push_streams_end_with_the_digest) {
    const auto ev = decode(fixture("push_stream.ndjson"), 4096);
    const auto* p = std::get_if<events::pushed>(&ev.back());
    BOOST_REQUIRE(p);
    BOOST_TEST(p->digest.starts_with("sha256:"));
    BOOST_TEST(p->size > 0u);
    // Podman reports the push result as a status line only
    collect sink;
    engine_stream_decoder d(sink);
    const std::string digest = "sha256:" + std::string(64, 'a');
    d.feed(R"({"status":"t1: digest: )" + digest + R"( size: 343"})" "\n");
    d.finish();
    const auto& out = sink.events;
    BOOST_REQUIRE(out.size() == 2u);  // the status line, then what it says
    BOOST_TEST(std::get<events::pushed>(out[1]).tag == "t1");
    BOOST_TEST(std::get<events::pushed>(out[1]).digest == digest);
    BOOST_TEST(std::get<events::pushed>(out[1]).size == 343u);
}

BOOST_AUTO_TEST_CASE(build_streams_give_steps_log_lines_and_the_image_id) {
    const auto ev = decode(fixture("build_stream.ndjson"), 4096);
    int steps = 0;
    std::string id;
    for (const auto& e : ev) {
        if (const auto* s = std::get_if<events::step>(&e)) {
            ++steps;
            BOOST_TEST(s->index == steps);
            BOOST_TEST(s->total == 6);
        }
        if (const auto* b = std::get_if<events::image_built>(&e)) id = b->id;
    }
    BOOST_TEST(steps == 6);
    BOOST_TEST(id.starts_with("sha256:"));
    const auto pe = decode(fixture("podman_build_stream.ndjson"), 4096);
    BOOST_TEST(std::count_if(pe.begin(), pe.end(), [](auto& e) { return std::holds_alternative<events::step>(e); }) > 0);
}

BOOST_AUTO_TEST_CASE(failures_carry_the_exit_code_when_the_engine_gives_one) {
    auto ev = decode(fixture("build_fail_stream.ndjson"), 4096);
    BOOST_TEST(std::get<events::failure>(ev.back()).exit_code.value() == 3);
    ev = decode(fixture("podman_build_fail_stream.ndjson"), 4096);
    const auto& f = std::get<events::failure>(ev.back());
    BOOST_TEST(f.exit_code.value() == 3);  // Podman puts it in the message only
    BOOST_TEST(exit_code_from_message(f.message).value() == 3);
}

BOOST_AUTO_TEST_CASE(garbage_in_a_stream_is_a_parse_error) {
    discard sink;
    engine_stream_decoder d(sink);
    static constexpr char garbage[] = "\x00\xff garbage\n";
    BOOST_TEST(error_of([&] { d.feed(std::string_view(garbage, sizeof garbage - 1)); }).value() == errc::parse_error);
    engine_stream_decoder d2(sink);
    BOOST_TEST(error_of([&] { d2.feed("[1,2]\n"); }).value() == errc::parse_error);
    engine_stream_decoder d3(sink);
    d3.feed("{\"stream\":\"cut");
    BOOST_TEST(error_of([&] { d3.finish(); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(an_endless_line_is_refused_before_it_eats_memory) {
    discard sink;
    engine_stream_decoder d(sink, {.max_line = std::size_t{4} << 20});
    const std::string block(1 << 20, 'x');
    BOOST_TEST(error_of([&] {
                   for (int i = 0; i < 8; ++i) d.feed(block);
               }).value() == errc::parse_error);
}
