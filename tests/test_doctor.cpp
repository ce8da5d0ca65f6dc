// rtb doctor's checks as specifications: each pure check over plain data
// (what a probe found), the cache directory on a temporary tree, disk
// thresholds, the exit status and both renderings. No engine is contacted:
// the only endpoints are unix socket paths in a temporary folder.
#define BOOST_TEST_MODULE doctor
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <simdjson.h>

#include "rtb/doctor/doctor.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using namespace rtb::doctor;
using namespace std::chrono_literals;

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

check_result find(const std::vector<check_result>& checks, std::string_view name) {
    for (const auto& c : checks)
        if (c.name == name) return c;
    BOOST_FAIL("no check named " << name);
    return {};
}

engine_probe docker_answer() {
    engine_probe p;
    p.where = "unix socket /x";
    server_info i;
    i.product = "Docker Engine";
    i.version = "20.10.24";
    i.api_version = "1.41";
    p.info = i;
    return p;
}

const auto t0 = std::chrono::sys_days(std::chrono::year(2026) / 1 / 1) + 12h;

}  // namespace

// ------------------------------------------------------------- aggregation

BOOST_AUTO_TEST_CASE(ok_warnings_and_skips_are_ready_and_exit_zero) {
    const std::vector<check_result> checks{check_result::ok("a", "fine"), check_result::warning("b", "meh", "do x"),
                                           check_result::skipped("c", "n/a")};
    BOOST_TEST(ready(checks));
    BOOST_TEST(exit_status(checks) == 0);
}

BOOST_AUTO_TEST_CASE(any_failed_check_is_not_ready_and_exits_one) {
    const std::vector<check_result> checks{check_result::ok("a", "fine"), check_result::failed("b", "broken", "fix")};
    BOOST_TEST(!ready(checks));
    BOOST_TEST(exit_status(checks) == 1);
    BOOST_TEST(exit_status({}) == 0);
}

// ------------------------------------------------------------- rendering

BOOST_AUTO_TEST_CASE(text_has_a_line_per_check_an_indented_remedy_and_a_summary) {
    const std::vector<check_result> checks{check_result::ok("engine", "Docker Engine 20.10.24 (API 1.41) on unix socket /x"),
                                           check_result::failed("registry 127.0.0.1:5000", "credentials are refused",
                                                                "docker login 127.0.0.1:5000"),
                                           check_result::skipped("podman", "the engine is Docker Engine")};
    BOOST_TEST(render_text(checks) ==
               "ok      engine: Docker Engine 20.10.24 (API 1.41) on unix socket /x\n"
               "FAILED  registry 127.0.0.1:5000: credentials are refused\n"
               "        remedy: docker login 127.0.0.1:5000\n"
               "skipped podman: the engine is Docker Engine\n"
               "not ready to build: 1 failed (registry 127.0.0.1:5000), 1 ok, 0 warnings, 1 skipped\n");
}

BOOST_AUTO_TEST_CASE(text_summary_says_ready_when_nothing_failed) {
    const auto text = render_text({check_result::warning("buildkit", "no buildx", "install it")});
    BOOST_TEST(contains(text, "warning buildkit: no buildx\n        remedy: install it\n"));
    BOOST_TEST(contains(text, "ready to build: 0 ok, 1 warning, 0 skipped\n"));
}

BOOST_AUTO_TEST_CASE(json_is_one_object_with_checks_and_ready) {
    const std::vector<check_result> checks{check_result::ok("engine", "quote \" and \\ and\nnewline"),
                                           check_result::failed("disk space (engine)", "low", "free space")};
    const auto text = render_json(checks);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    BOOST_REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
    BOOST_TEST(!bool(doc["ready"]));
    simdjson::dom::array list = doc["checks"];
    BOOST_TEST(list.size() == 2u);
    BOOST_TEST(std::string_view(list.at(0)["detail"]) == "quote \" and \\ and\nnewline");
    BOOST_TEST(std::string_view(list.at(0)["status"]) == "ok");
    BOOST_TEST(std::string_view(list.at(0)["remedy"]) == "");
    BOOST_TEST(std::string_view(list.at(1)["status"]) == "failed");
    BOOST_TEST(std::string_view(list.at(1)["remedy"]) == "free space");
    BOOST_TEST(contains(render_json({check_result::skipped("x", "y")}), "\"ready\":true"));
}

// ------------------------------------------------------------- clock

BOOST_AUTO_TEST_CASE(clock_in_step_is_ok) {
    const auto c = check_clock_skew("registry r", t0, t0 + 400ms);
    BOOST_TEST((c.status == check_status::ok));
    BOOST_TEST(contains(c.detail, "in step"));
}

BOOST_AUTO_TEST_CASE(clock_skew_up_to_sixty_seconds_is_ok) {
    BOOST_TEST((check_clock_skew("r", t0 + 60s, t0).status == check_status::ok));
    BOOST_TEST((check_clock_skew("r", t0 - 60s, t0).status == check_status::ok));
}

BOOST_AUTO_TEST_CASE(clock_skew_over_a_minute_warns_with_the_seconds) {
    const auto behind = check_clock_skew("registry r", t0 + 61s, t0);
    BOOST_TEST((behind.status == check_status::warning));
    BOOST_TEST(contains(behind.detail, "61 s behind registry r's"));
    BOOST_TEST(!behind.remedy.empty());
    const auto ahead = check_clock_skew("registry r", t0 - 200s, t0);
    BOOST_TEST((ahead.status == check_status::warning));
    BOOST_TEST(contains(ahead.detail, "200 s ahead of registry r's"));
}

BOOST_AUTO_TEST_CASE(clock_skew_over_five_minutes_fails) {
    BOOST_TEST((check_clock_skew("r", t0 + 300s, t0).status == check_status::warning));
    const auto c = check_clock_skew("r", t0 - 301s, t0);
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "301 s"));
    BOOST_TEST(contains(c.remedy, "timedatectl"));
}

BOOST_AUTO_TEST_CASE(clock_without_a_date_is_skipped) {
    BOOST_TEST((check_clock_skew("r", std::nullopt, t0).status == check_status::skipped));
}

// ------------------------------------------------------------- cache directory

BOOST_AUTO_TEST_CASE(cache_directory_missing_can_be_created_and_is_not_left_behind) {
    test::temp_tree t;
    const auto dir = t / "a" / "b" / "rtb";
    const auto c = check_cache_directory(dir);
    BOOST_TEST((c.status == check_status::ok), c.detail);
    BOOST_TEST(contains(c.detail, "does not exist yet"));
    BOOST_TEST(!std::filesystem::exists(t / "a"));
}

BOOST_AUTO_TEST_CASE(cache_directory_existing_is_ok_and_stays_as_it_was) {
    test::temp_tree t;
    std::filesystem::create_directories(t / "cache");
    const auto c = check_cache_directory(t / "cache");
    BOOST_TEST((c.status == check_status::ok), c.detail);
    BOOST_TEST(std::filesystem::is_empty(t / "cache"));
}

BOOST_AUTO_TEST_CASE(cache_directory_with_a_file_in_its_place_fails_with_a_remedy) {
    test::temp_tree t;
    const auto file = t.file("cache", "not a folder");
    const auto c = check_cache_directory(file);
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "not a directory"));
    BOOST_TEST(contains(c.remedy, "--cache-dir"));
}

BOOST_AUTO_TEST_CASE(cache_directory_under_a_file_cannot_be_created) {
    test::temp_tree t;
    const auto file = t.file("plain", "x");
    const auto c = check_cache_directory(file / "rtb");
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "cannot be created"));
    BOOST_TEST(!c.remedy.empty());
}

BOOST_AUTO_TEST_CASE(cache_directory_whose_locks_is_a_file_fails) {
    test::temp_tree t;
    t.file("cache/locks", "x");
    const auto c = check_cache_directory(t / "cache");
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "locks"));
}

BOOST_AUTO_TEST_CASE(cache_directory_not_writable_fails) {
    // Root ignores mode bits; /proc/self is a directory nobody can add files to.
    const auto c = check_cache_directory("/proc/self");
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "cannot be written"));
}

// ------------------------------------------------------------- disk space

BOOST_AUTO_TEST_CASE(disk_space_below_an_absurd_threshold_fails_naming_the_amounts) {
    test::temp_tree t;
    const auto c = check_engine_space(t.root(), std::uint64_t{1} << 60);
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(c.name == "disk space (engine)");
    BOOST_TEST(contains(c.detail, "1.0 EiB"));
    BOOST_TEST(contains(c.detail, "free"));
    BOOST_TEST(contains(c.remedy, "--engine-min-free"));
}

BOOST_AUTO_TEST_CASE(disk_space_above_the_threshold_is_ok_and_zero_is_skipped) {
    test::temp_tree t;
    BOOST_TEST((check_cache_space(t / "not-yet", 1).status == check_status::ok));
    BOOST_TEST((check_cache_space(t.root(), 0).status == check_status::skipped));
}

// ------------------------------------------------------------- configuration

BOOST_AUTO_TEST_CASE(configuration_without_problems_is_ok) {
    BOOST_TEST((check_configuration({}, "/etc/rtb.toml").status == check_status::ok));
}

BOOST_AUTO_TEST_CASE(configuration_problems_fail_listing_each) {
    const auto c = check_configuration({"transport: \"dockr\" is not one of ...", "workers: must be >= 1"}, "/x.toml");
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "2 problems in /x.toml"));
    BOOST_TEST(contains(c.detail, "dockr"));
    BOOST_TEST(contains(c.detail, "workers"));
}

// ------------------------------------------------------------- engine

BOOST_AUTO_TEST_CASE(engine_that_answers_names_product_version_api_and_endpoint) {
    const auto p = docker_answer();
    const auto c = check_engine(p);
    BOOST_TEST((c.status == check_status::ok));
    BOOST_TEST(c.detail == "Docker Engine 20.10.24 (API 1.41) on unix socket /x");
    const auto a = check_api_version(p);
    BOOST_TEST((a.status == check_status::ok));
    BOOST_TEST(contains(a.detail, "Engine API 1.41"));
}

BOOST_AUTO_TEST_CASE(stopped_engine_fails_with_the_endpoint_and_how_to_start_it) {
    engine_probe p;
    p.where = "unix socket /run/nothing.sock";
    p.problem = error(errc::connection_failed, "cannot connect to unix socket /run/nothing.sock: Connection refused");
    const auto c = check_engine(p);
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "/run/nothing.sock"));
    BOOST_TEST(contains(c.remedy, "systemctl start docker"));
    BOOST_TEST(contains(c.remedy, "DOCKER_HOST"));
    BOOST_TEST((check_api_version(p).status == check_status::skipped));
    p.transport = transport_kind::podman;
    BOOST_TEST(contains(check_engine(p).remedy, "podman system service"));
}

BOOST_AUTO_TEST_CASE(too_old_an_engine_is_reachable_but_fails_the_api_version) {
    engine_probe p;
    p.where = "unix socket /x";
    p.problem = error(errc::unsupported_version, "the engine on unix socket /x speaks Engine API 1.38; rtb needs at least 1.39");
    BOOST_TEST((check_engine(p).status == check_status::ok));
    const auto a = check_api_version(p);
    BOOST_TEST((a.status == check_status::failed));
    BOOST_TEST(contains(a.detail, "1.38"));
    BOOST_TEST(contains(a.remedy, "upgrade"));
}

BOOST_AUTO_TEST_CASE(a_real_engine_client_on_a_missing_socket_or_one_without_listener_fails) {
    test::temp_tree t;
    // A socket file nobody listens on: connection refused.
    const auto path = (t / "dead.sock").string();
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    for (const auto& socket_path : {path, (t / "missing.sock").string()}) {
        doctor_options o;
        o.endpoint = http::endpoint::unix_socket(socket_path);
        o.cache_dir = t / "cache";
        o.timeout = 5s;
        const auto checks = run_doctor(o);
        const auto e = find(checks, "engine");
        BOOST_TEST((e.status == check_status::failed), e.detail);
        BOOST_TEST(contains(e.detail, socket_path));
        BOOST_TEST(!e.remedy.empty());
        BOOST_TEST((find(checks, "api version").status == check_status::skipped));
        BOOST_TEST((find(checks, "cache directory").status == check_status::ok));
        BOOST_TEST(exit_status(checks) == 1);
    }
    ::close(fd);
}

BOOST_AUTO_TEST_CASE(a_bad_host_fails_the_engine_check_naming_it) {
    test::temp_tree t;
    doctor_options o;
    o.host = "ssh://somewhere";
    o.cache_dir = t / "cache";
    const auto checks = run_doctor(o);
    const auto e = find(checks, "engine");
    BOOST_TEST((e.status == check_status::failed));
    BOOST_TEST(contains(e.remedy, "--host"));
}

// ------------------------------------------------------------- buildkit

BOOST_AUTO_TEST_CASE(buildkit_with_buildx_is_ok_without_it_only_a_warning) {
    buildkit_probe b;
    cli_capabilities c;
    c.program = "docker";
    c.client_version = "20.10.24";
    c.buildx_version = "v0.10.4";
    c.path = cli_build_path::buildx;
    b.client = c;
    BOOST_TEST((check_buildkit(b).status == check_status::ok));
    b.client->buildx_version.reset();
    b.client->path = cli_build_path::buildkit;
    BOOST_TEST((check_buildkit(b).status == check_status::warning));
    b.client->path = cli_build_path::legacy;
    const auto legacy = check_buildkit(b);
    BOOST_TEST((legacy.status == check_status::warning));
    BOOST_TEST(contains(legacy.remedy, "docker-buildx"));
    b.client.reset();
    b.problem = error(errc::not_found, "docker: not found");
    BOOST_TEST((check_buildkit(b).status == check_status::warning));
}

BOOST_AUTO_TEST_CASE(buildkit_does_not_apply_to_podman_or_a_remote_service) {
    buildkit_probe b;
    b.engine_is_podman = true;
    BOOST_TEST((check_buildkit(b).status == check_status::skipped));
    b.engine_is_podman = false;
    b.transport = transport_kind::remote;
    BOOST_TEST((check_buildkit(b).status == check_status::skipped));
}

// ------------------------------------------------------------- podman

BOOST_AUTO_TEST_CASE(podman_rootful_is_ok_with_its_facts) {
    const auto c = check_podman_info(
        R"({"host":{"cgroupManager":"cgroupfs","cgroupVersion":"v1","ociRuntime":{"name":"runc"},
            "security":{"rootless":false}},"version":{"APIVersion":"4.3.1","Version":"4.3.1"}})");
    BOOST_TEST((c.status == check_status::ok));
    BOOST_TEST(c.detail == "Podman 4.3.1 (libpod API 4.3.1), rootful, cgroup manager cgroupfs, cgroups v1, runtime runc");
}

BOOST_AUTO_TEST_CASE(podman_rootless_with_cgroupfs_warns) {
    const auto c = check_podman_info(
        R"({"host":{"cgroupManager":"cgroupfs","cgroupVersion":"v2","security":{"rootless":true}},"version":{}})");
    BOOST_TEST((c.status == check_status::warning));
    BOOST_TEST(contains(c.detail, "rootless"));
    BOOST_TEST(contains(c.remedy, "systemd"));
    const auto v1 = check_podman_info(
        R"({"host":{"cgroupManager":"systemd","cgroupVersion":"v1","security":{"rootless":true}},"version":{}})");
    BOOST_TEST((v1.status == check_status::warning));
}

BOOST_AUTO_TEST_CASE(podman_info_that_is_not_one_warns) {
    BOOST_TEST((check_podman_info("not json").status == check_status::warning));
    BOOST_TEST((check_podman_info("[]").status == check_status::warning));
}

// ------------------------------------------------------------- registry

namespace {
registry_probe reg(int status) {
    registry_probe p;
    p.registry = "127.0.0.1:5000";
    p.where = "http://127.0.0.1:5000";
    p.anonymous_status = status;
    p.credential_source = "/tmp/cfg/config.json";
    return p;
}
}  // namespace

BOOST_AUTO_TEST_CASE(registry_open_is_ok) {
    const auto c = check_registry(reg(200));
    BOOST_TEST((c.status == check_status::ok));
    BOOST_TEST(c.name == "registry 127.0.0.1:5000");
}

BOOST_AUTO_TEST_CASE(registry_asking_for_a_login_without_credentials_warns) {
    auto p = reg(401);
    p.challenge = "basic";
    const auto c = check_registry(p);
    BOOST_TEST((c.status == check_status::warning));
    BOOST_TEST(contains(c.detail, "no credentials"));
    BOOST_TEST(contains(c.remedy, "docker login 127.0.0.1:5000"));
}

BOOST_AUTO_TEST_CASE(registry_refusing_the_credentials_fails) {
    auto p = reg(401);
    p.challenge = "basic";
    p.has_credentials = true;
    p.authenticated_status = 401;
    const auto c = check_registry(p);
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "credentials for 127.0.0.1:5000 are refused"));
    BOOST_TEST(contains(c.remedy, "docker login 127.0.0.1:5000"));
    p.authenticated_status = 200;
    BOOST_TEST((check_registry(p).status == check_status::ok));
}

BOOST_AUTO_TEST_CASE(registry_unreachable_fails) {
    auto p = reg(0);
    p.problem = error(errc::connection_failed, "cannot connect to tcp://127.0.0.1:5000: Connection refused");
    const auto c = check_registry(p);
    BOOST_TEST((c.status == check_status::failed));
    BOOST_TEST(contains(c.detail, "Connection refused"));
    BOOST_TEST(!c.remedy.empty());
}

BOOST_AUTO_TEST_CASE(registry_unreadable_credentials_or_a_broken_registry_fail) {
    auto p = reg(401);
    p.credential_problem = error(errc::parse_error, "/tmp/cfg/config.json is not a JSON object");
    BOOST_TEST((check_registry(p).status == check_status::failed));
    BOOST_TEST((check_registry(reg(503)).status == check_status::failed));
    BOOST_TEST((check_registry(reg(404)).status == check_status::failed));
    BOOST_TEST((check_registry(reg(429)).status == check_status::warning));
}

BOOST_AUTO_TEST_CASE(options_parse_each_transport) {
    BOOST_TEST((parse_transport("podman") == transport_kind::podman));
    BOOST_TEST((parse_transport("remote") == transport_kind::remote));
    BOOST_CHECK_THROW(parse_transport("dockr"), rtb::error);
}
