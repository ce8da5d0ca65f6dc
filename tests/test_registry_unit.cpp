// The parts of the registry client and of rtb's resilience that need no
// registry: WWW-Authenticate and URL parsing (hostile input included),
// registry endpoints, the docker config's credential helpers (with fake
// docker-credential-* scripts on PATH), run_program, deadlines, the
// watchdog and retry()'s observer.
#define BOOST_TEST_MODULE registry_unit
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <cstdlib>
#include <thread>

#include "rtb/deadline.hpp"
#include "rtb/detail/subprocess.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/null_logger.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/transport/detail/auth_challenge.hpp"
#include "rtb/transport/docker_auth.hpp"
#include "rtb/transport/registry.hpp"
#include "support/fake_server.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace std::chrono_literals;

namespace {

/// Puts a folder first on PATH for the test's lifetime.
struct path_prefix {
    std::string old;
    explicit path_prefix(const std::filesystem::path& dir) {
        const char* p = std::getenv("PATH");
        old = p ? p : "";
        ::setenv("PATH", (dir.string() + ":" + old).c_str(), 1);
    }
    ~path_prefix() { ::setenv("PATH", old.c_str(), 1); }
};

std::filesystem::path script(const temp_tree& t, std::string_view name, std::string_view body) {
    const auto p = t.file(fmt::format("bin/{}", name), fmt::format("#!/bin/sh\n{}\n", body));
    std::filesystem::permissions(p, std::filesystem::perms::owner_all);
    return p;
}

/// Child processes of this process that are still there (zombies included).
int children() {
    int n = 0;
    const auto self = std::to_string(::getpid());
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const auto name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(e.path() / "stat");
        std::string line;
        std::getline(in, line);
        const auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        std::string state, ppid;
        rest >> state >> ppid;
        if (ppid == self) ++n;
    }
    return n;
}

}  // namespace

// ---------------------------------------------------------- WWW-Authenticate

BOOST_AUTO_TEST_CASE(a_docker_hub_bearer_challenge_parses) {
    const auto c = detail::parse_challenges(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
    BOOST_REQUIRE(c.size() == 1u);
    BOOST_TEST(c[0].scheme == "bearer");
    BOOST_TEST(c[0].param("realm") == "https://auth.docker.io/token");
    BOOST_TEST(c[0].param("service") == "registry.docker.io");
    BOOST_TEST(c[0].param("scope") == "repository:library/ubuntu:pull");
}

BOOST_AUTO_TEST_CASE(schemes_and_parameter_names_are_case_insensitive_values_are_not) {
    const auto c = detail::parse_challenges(R"(BEARER Realm="https://A.example/T", SERVICE=Reg)");
    BOOST_REQUIRE(c.size() == 1u);
    BOOST_TEST(c[0].scheme == "bearer");
    BOOST_TEST(c[0].param("realm") == "https://A.example/T");
    BOOST_TEST(c[0].param("service") == "Reg");
}

BOOST_AUTO_TEST_CASE(several_challenges_in_one_header_are_split_where_a_new_scheme_starts) {
    const auto c = detail::parse_challenges(
        R"(Basic realm="simple", Bearer realm="https://t.example/token", service="s", Newauth)");
    BOOST_REQUIRE(c.size() == 3u);
    BOOST_TEST(c[0].scheme == "basic");
    BOOST_TEST(c[0].param("realm") == "simple");
    BOOST_TEST(c[1].scheme == "bearer");
    BOOST_TEST(c[1].param("service") == "s");
    BOOST_TEST(c[2].scheme == "newauth");
}

BOOST_AUTO_TEST_CASE(quoted_values_keep_commas_equals_and_escaped_quotes) {
    const auto c = detail::parse_challenges(R"(Bearer realm="https://x/t?a=1,b=2",scope="a \"b\" c\\d")");
    BOOST_REQUIRE(c.size() == 1u);
    BOOST_TEST(c[0].param("realm") == "https://x/t?a=1,b=2");
    BOOST_TEST(c[0].param("scope") == R"(a "b" c\d)");
}

BOOST_AUTO_TEST_CASE(a_token68_challenge_parses) {
    const auto c = detail::parse_challenges("Negotiate abc+/DEF==, Basic realm=r");
    BOOST_REQUIRE(c.size() == 2u);
    BOOST_TEST(c[0].token68 == "abc+/DEF==");
    BOOST_TEST(c[1].param("realm") == "r");
}

BOOST_AUTO_TEST_CASE(malformed_challenges_end_the_parse_and_drop_the_broken_one) {
    // what came before the damage survives; the broken challenge never does
    BOOST_TEST(detail::parse_challenges(R"(Bearer realm="https://x/t)").empty());
    BOOST_TEST(detail::parse_challenges(R"(Bearer realm=)").empty());
    BOOST_TEST(detail::parse_challenges(R"(Bearer realm="a\)").empty());
    BOOST_TEST(detail::parse_challenges("Bearer realm=\"a\x01b\"").empty());
    BOOST_TEST(detail::parse_challenges(R"(="x")").empty());
    BOOST_TEST(detail::parse_challenges(R"(Bearer @@@)").empty());
    const auto c = detail::parse_challenges(R"(Basic realm="ok", Bearer realm="broken)");
    BOOST_REQUIRE(c.size() == 1u);
    BOOST_TEST(c[0].scheme == "basic");
}

BOOST_AUTO_TEST_CASE(a_challenge_repeating_a_parameter_is_dropped) {
    // two realms: which one would be "the" realm is the attacker's choice
    const auto c = detail::parse_challenges(R"(Bearer realm="https://a/t", realm="https://evil/t", Basic realm=x)");
    BOOST_REQUIRE(c.size() == 1u);
    BOOST_TEST(c[0].scheme == "basic");
}

BOOST_AUTO_TEST_CASE(huge_headers_and_parameter_floods_are_bounded) {
    BOOST_TEST(detail::parse_challenges("Bearer realm=\"" + std::string(9000, 'a') + "\"").empty());
    std::string many = "Bearer ";
    for (int i = 0; i < 100; ++i) many += fmt::format("p{}=v,", i);
    BOOST_TEST(detail::parse_challenges(many).empty());
    std::string schemes;
    for (int i = 0; i < 100; ++i) schemes += fmt::format("S{}, ", i);
    BOOST_TEST(detail::parse_challenges(schemes).size() == detail::challenge_parse::max_challenges);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_challenge_parses_without_harm) {
    const std::string full =
        R"(Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull", Basic realm="x")";
    for (std::size_t n = 0; n <= full.size(); ++n) {
        const auto c = detail::parse_challenges(full.substr(0, n));
        for (const auto& ch : c)
            if (ch.scheme == "bearer" && !ch.param("realm").empty())
                BOOST_TEST(ch.param("realm") == "https://auth.example/token");
    }
}

// ----------------------------------------------------------------------- URLs

BOOST_AUTO_TEST_CASE(realm_urls_parse_into_scheme_host_port_and_target) {
    auto u = detail::parse_url("https://auth.docker.io/token");
    BOOST_REQUIRE(u.has_value());
    BOOST_TEST(u->https);
    BOOST_TEST(u->host == "auth.docker.io");
    BOOST_TEST(u->port == 443);
    BOOST_TEST(u->path == "/token");
    u = detail::parse_url("HTTP://127.0.0.1:5001?x=1");
    BOOST_REQUIRE(u.has_value());
    BOOST_TEST(!u->https);
    BOOST_TEST(u->port == 5001);
    BOOST_TEST(u->path == "/?x=1");
    u = detail::parse_url("http://[::1]:8080/t");
    BOOST_REQUIRE(u.has_value());
    BOOST_TEST(u->host == "[::1]");
    BOOST_TEST(u->port == 8080);
}

BOOST_AUTO_TEST_CASE(urls_with_user_info_fragments_odd_schemes_or_bad_ports_are_refused) {
    for (const char* bad : {"ftp://x/t", "file:///etc/passwd", "https://u:p@x/t", "https://x/t#frag", "https:///t",
                            "https://x:0/", "https://x:65536/", "https://x:/", "https://x:12a/", "https://x y/",
                            "https://x/\r\nHost: y", "https://[::1/", "https://ex_ample/", "//x/t", "https://x\x7f/"})
        BOOST_TEST(!detail::parse_url(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(loopback_hosts_are_recognised_and_lookalikes_are_not) {
    for (const char* h : {"localhost", "127.0.0.1", "127.1.2.3", "[::1]"}) BOOST_TEST(detail::is_loopback_host(h), h);
    for (const char* h : {"127.0.0.1.evil.com", "localhost.example", "128.0.0.1", "127.0.0", "[::2]", "10.0.0.1"})
        BOOST_TEST(!detail::is_loopback_host(h), h);
}

// ------------------------------------------------------------------ endpoints

BOOST_AUTO_TEST_CASE(docker_hub_is_registry_1_over_https) {
    const auto e = registry_endpoint(image_ref::parse("ubuntu").registry());
    BOOST_TEST(e.host == "registry-1.docker.io");
    BOOST_TEST(e.port == 443);
    BOOST_TEST(e.tls.enabled);
    BOOST_TEST(e.tls.verify);
    BOOST_TEST(image_ref::parse("ubuntu").repository() == "library/ubuntu");
}

BOOST_AUTO_TEST_CASE(other_registries_are_https_unless_loopback_or_declared_insecure) {
    auto e = registry_endpoint("ghcr.io");
    BOOST_TEST((e.tls.enabled && e.port == 443 && e.host == "ghcr.io"));
    e = registry_endpoint("registry.example.com:5000");
    BOOST_TEST((e.tls.enabled && e.port == 5000));
    e = registry_endpoint("localhost:5000");
    BOOST_TEST((!e.tls.enabled && e.port == 5000 && e.host == "localhost"));
    e = registry_endpoint("127.0.0.1");
    BOOST_TEST((!e.tls.enabled && e.port == 80));
    e = registry_endpoint("[::1]:5000");
    BOOST_TEST((!e.tls.enabled && e.port == 5000 && e.host == "[::1]"));
    e = registry_endpoint("registry.lan:5000", {"registry.lan:5000"});
    BOOST_TEST((!e.tls.enabled && e.port == 5000));
    e = registry_endpoint("registry.lan:5000", {"other.lan:5000"});
    BOOST_TEST(e.tls.enabled);
    BOOST_CHECK_THROW(registry_endpoint("bad host"), error);
}

// --------------------------------------------------------- credential helpers

BOOST_AUTO_TEST_CASE(cred_helpers_win_over_creds_store_and_auths) {
    const std::string cfg = R"({"auths":{"127.0.0.1:5000":{"auth":"dTpw"}},"credsStore":"desktop",
                               "credHelpers":{"127.0.0.1:5000":"pass","gcr.io":"gcloud"}})";
    BOOST_TEST(docker_auth::helper_for("127.0.0.1:5000", cfg, "cfg").value() == "pass");
    BOOST_TEST(docker_auth::helper_for("gcr.io", cfg, "cfg").value() == "gcloud");
    BOOST_TEST(docker_auth::helper_for("quay.io", cfg, "cfg").value() == "desktop");
    BOOST_TEST(!docker_auth::helper_for("quay.io", R"({"auths":{}})", "cfg").has_value());
}

BOOST_AUTO_TEST_CASE(helper_names_that_would_be_paths_are_refused) {
    for (const char* name : {"../../bin/sh", "a/b", ".hidden", "x y", "a;rm"}) {
        const auto e = error_of(
            [&] { docker_auth::helper_for("r", fmt::format(R"({{"credsStore":"{}"}})", name), "/cfg.json"); });
        BOOST_TEST((e.value() == errc::parse_error), name);
        BOOST_TEST(contains(e.what(), "/cfg.json"));
    }
}

BOOST_AUTO_TEST_CASE(docker_hub_is_asked_for_under_its_historical_url) {
    BOOST_TEST(docker_auth::helper_server_url("docker.io") == "https://index.docker.io/v1/");
    BOOST_TEST(docker_auth::helper_server_url("127.0.0.1:5000") == "127.0.0.1:5000");
}

BOOST_AUTO_TEST_CASE(a_helper_answer_with_token_user_is_an_identity_token) {
    const auto c = docker_auth::parse_helper_answer(R"({"ServerURL":"r","Username":"<token>","Secret":"rt-1"})", "x");
    BOOST_TEST(c.identity_token == "rt-1");
    BOOST_TEST(c.password.empty());
    const auto e = error_of([] { docker_auth::parse_helper_answer(R"({"Secret":"leak-me"})", "x"); });
    BOOST_TEST(!contains(e.what(), "leak-me"));
}

BOOST_AUTO_TEST_CASE(a_fake_credential_helper_on_path_supplies_the_credentials) {
    temp_tree t;
    // echoes what it was asked for into the user name, to check stdin and argv
    script(t, "docker-credential-x",
           R"([ "$1" = get ] || exit 3
read url
printf '{"ServerURL":"%s","Username":"user-for-%s","Secret":"pw-9"}' "$url" "$url")");
    path_prefix p(t / "bin");
    const auto cfg = t.file("config.json", R"({"credsStore":"x"})");
    const auto found = docker_auth::resolve_credentials("127.0.0.1:5000", cfg);
    BOOST_REQUIRE(found.credentials.has_value());
    BOOST_TEST(found.credentials->username == "user-for-127.0.0.1:5000");
    BOOST_TEST(found.credentials->password == "pw-9");
    BOOST_TEST(contains(found.source, "docker-credential-x"));
    BOOST_TEST(children() == 0);
}

BOOST_AUTO_TEST_CASE(a_helper_without_credentials_for_the_server_means_none) {
    temp_tree t;
    script(t, "docker-credential-x", "echo 'credentials not found in native keychain'; exit 1");
    path_prefix p(t / "bin");
    const auto cfg = t.file("config.json", R"({"credHelpers":{"127.0.0.1:5000":"x"},
                                               "auths":{"127.0.0.1:5000":{"auth":"dTpw"},"other:1":{"auth":"dTpw"}}})");
    // the helper answers for its registry alone: no falling back to auths
    BOOST_TEST(!docker_auth::resolve_credentials("127.0.0.1:5000", cfg).credentials.has_value());
    // registries without a helper still read auths ("dTpw" is "u:p")
    BOOST_TEST(docker_auth::resolve_credentials("other:1", cfg).credentials.value().username == "u");
}

BOOST_AUTO_TEST_CASE(a_failing_helper_is_unauthorized_with_its_message) {
    temp_tree t;
    script(t, "docker-credential-x", "echo 'keychain is locked'; exit 1");
    path_prefix p(t / "bin");
    const auto cfg = t.file("config.json", R"({"credsStore":"x"})");
    const auto e = error_of([&] { docker_auth::resolve_credentials("r.example", cfg); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(contains(e.what(), "keychain is locked"));
    BOOST_TEST(contains(e.what(), "docker-credential-x"));
}

BOOST_AUTO_TEST_CASE(a_helper_that_is_not_installed_is_named) {
    temp_tree t;
    const auto cfg = t.file("config.json", R"({"credsStore":"rtb-no-such-helper"})");
    const auto e = error_of([&] { docker_auth::resolve_credentials("r.example", cfg); });
    BOOST_TEST((e.value() == errc::not_found));
    BOOST_TEST(contains(e.what(), "docker-credential-rtb-no-such-helper"));
}

BOOST_AUTO_TEST_CASE(a_hanging_helper_is_killed_and_reaped_at_the_time_limit) {
    temp_tree t;
    script(t, "docker-credential-slow", "exec sleep 30");
    path_prefix p(t / "bin");
    const auto e = error_of([&] { docker_auth::run_helper("slow", "r.example", 200ms); });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST(contains(e.what(), "docker-credential-slow"));
    BOOST_TEST(children() == 0);
}

BOOST_AUTO_TEST_CASE(a_malformed_helper_answer_is_a_parse_error_that_shows_nothing_of_it) {
    temp_tree t;
    script(t, "docker-credential-x", "echo 'Secret: hunter2'");
    path_prefix p(t / "bin");
    const auto e = error_of([&] { docker_auth::run_helper("x", "r.example"); });
    BOOST_TEST((e.value() == errc::parse_error));
    BOOST_TEST(!contains(e.what(), "hunter2"));
}

BOOST_AUTO_TEST_CASE(the_registry_client_uses_the_helper_named_in_the_docker_config) {
    temp_tree t;
    script(t, "docker-credential-x", R"(read url; printf '{"Username":"carol","Secret":"helper-pw"}')");
    path_prefix p(t / "bin");
    std::mutex m;
    std::vector<std::string> heads;
    fake_server s([&](connection& c, const std::string& head) {
        {
            std::lock_guard lock(m);
            heads.push_back(head);
        }
        if (header_of(head, "Authorization").empty())
            return c.write(answer(401, "", "WWW-Authenticate: Basic realm=\"r\"\r\n"));
        return c.write(answer(200, "", "Docker-Content-Digest: sha256:" + std::string(64, 'c') + "\r\n"));
    });
    registry_client::options o;
    o.docker_config = t.file("config.json", R"({"credsStore":"x"})");
    registry_client c(o);
    BOOST_TEST(c.exists(image_ref::parse(fmt::format("127.0.0.1:{}/app:1", s.port()))));
    std::lock_guard lock(m);
    BOOST_REQUIRE(heads.size() == 2u);
    BOOST_TEST(header_of(heads[1], "Authorization") == "Basic " + detail::base64_encode("carol:helper-pw"));
}

// ---------------------------------------------------------------- run_program

BOOST_AUTO_TEST_CASE(run_program_feeds_stdin_and_collects_both_outputs_and_the_status) {
    const auto r = detail::run_program({"/bin/sh", "-c", "cat; echo err >&2; exit 7"}, {.input = "hello\n"});
    BOOST_TEST(r.out == "hello\n");
    BOOST_TEST(r.err == "err\n");
    BOOST_TEST(r.exit_code == 7);
    BOOST_TEST(!r.signaled);
}

BOOST_AUTO_TEST_CASE(run_program_never_uses_a_shell_for_its_arguments) {
    const auto r = detail::run_program({"printf", "%s|", "a b", "$(id)", ";ls"});
    BOOST_TEST(r.out == "a b|$(id)|;ls|");
}

BOOST_AUTO_TEST_CASE(run_program_passes_no_descriptor_but_the_standard_three) {
    const auto r = detail::run_program({"/bin/sh", "-c", "ls /proc/$$/fd"});
    BOOST_TEST(r.out == "0\n1\n2\n", r.out);  // ls's own directory descriptor belongs to ls, not the shell
}

BOOST_AUTO_TEST_CASE(run_program_kills_on_a_stop_request_and_reaps) {
    std::stop_source stop;
    std::jthread stopper([&] {
        std::this_thread::sleep_for(50ms);
        stop.request_stop();
    });
    const auto before = open_fds();
    const auto e = error_of([&] { detail::run_program({"sleep", "30"}, {}, stop.get_token()); });
    BOOST_TEST((e.value() == errc::cancelled));
    BOOST_TEST(children() == 0);
    BOOST_TEST(open_fds() == before);
}

BOOST_AUTO_TEST_CASE(run_program_survives_a_child_that_ignores_its_input) {
    const auto r = detail::run_program({"true"}, {.input = std::string(1 << 20, 'x')});
    BOOST_TEST(r.exit_code == 0);
}

// ------------------------------------------------------------------ deadlines

BOOST_AUTO_TEST_CASE(a_deadline_clamps_request_timeouts_to_the_time_left) {
    const auto now = deadline::clock::now();
    const auto d = deadline::after(10s, now);
    BOOST_TEST(d.clamp(30s, "x", now).count() == 10'000);
    BOOST_TEST(d.clamp(2s, "x", now).count() == 2'000);
    BOOST_TEST(d.clamp(0ms, "x", now).count() == 10'000);  // "no limit" becomes the time left
    BOOST_TEST(deadline::never().clamp(0ms, "x").count() == 0);
    BOOST_TEST(deadline::never().clamp(5s, "x").count() == 5'000);
    const auto e = error_of([&] { d.clamp(1s, "pushing app:1", now + 11s); });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST(contains(e.what(), "pushing app:1"));
    BOOST_TEST(d.remaining(now + 4s).count() == 6'000);
    BOOST_TEST(d.remaining(now + 40s).count() == 0);
    BOOST_TEST((earliest(d, deadline::after(5s, now)).remaining(now).count() == 5'000));
    BOOST_TEST(!earliest(deadline::never(), deadline::never()).when().has_value());
}

BOOST_AUTO_TEST_CASE(a_watchdog_stops_a_silent_operation_as_a_stall_naming_the_last_step) {
    watchdog dog({.what = "building app:1", .overall = deadline::never(), .stall = 50ms});
    const auto e = error_of([&] {
        dog.run([&](std::stop_token stop) {
            events::step make;
            make.index = 2;
            make.total = 5;
            make.instruction = "RUN make";
            dog.observe(make);
            events::log_line compiling;
            compiling.text = "compiling";
            dog.observe(compiling);
            // then silence, until the watchdog stops us
            std::mutex m;
            std::condition_variable_any cv;
            std::unique_lock lock(m);
            cv.wait(lock, stop, [] { return false; });
            throw error(errc::cancelled, "build cancelled");
        });
    });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST((dog.fired() == watchdog::reason::stall));
    BOOST_TEST(contains(e.what(), "building app:1 stalled"));
    BOOST_TEST(contains(e.what(), "step 2/5: RUN make"));
}

BOOST_AUTO_TEST_CASE(a_watchdog_lets_a_talking_operation_run_past_many_stall_periods) {
    // The operation talks every millisecond and runs for five stall periods:
    // without the events resetting the stall timer it would be stopped
    // after the first. (The margin, 300 ms of silence against 1 ms between
    // events, holds on a loaded machine and under sanitizers.)
    constexpr auto stall = 300ms;
    watchdog dog({.what = "building app:1", .overall = deadline::never(), .stall = stall});
    null_logger inner;
    watched_logger logger(inner, dog);
    const auto started = std::chrono::steady_clock::now();
    const int ticks = dog.run([&](std::stop_token stop) {
        int n = 0;
        while (std::chrono::steady_clock::now() - started < 5 * stall) {
            logger.on_event(events::log_line{"tick"});
            std::this_thread::sleep_for(1ms);
            if (stop.stop_requested()) throw error(errc::cancelled, "stopped");
            ++n;
        }
        return n;
    });
    BOOST_TEST((std::chrono::steady_clock::now() - started >= 5 * stall));
    BOOST_TEST(ticks > 0);
    BOOST_TEST((dog.fired() == watchdog::reason::none));
}

BOOST_AUTO_TEST_CASE(a_watchdog_enforces_the_overall_deadline_even_when_events_flow) {
    watchdog dog({.what = "building app:1", .overall = deadline::after(100ms), .stall = 10s});
    auto sink = dog.wrap([](const build_event&) {});
    const auto e = error_of([&] {
        dog.run([&](std::stop_token stop) {
            while (!stop.stop_requested()) {
                sink(events::log_line{"busy"});
                std::this_thread::sleep_for(1ms);
            }
            throw error(errc::cancelled, "stopped");
        });
    });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST((dog.fired() == watchdog::reason::deadline));
    BOOST_TEST(contains(e.what(), "no build step was seen"));
}

BOOST_AUTO_TEST_CASE(a_watchdog_passes_the_callers_stop_on_as_cancelled) {
    std::stop_source caller;
    watchdog dog({.what = "pulling x", .overall = deadline::after(1h), .stall = 1h}, caller.get_token());
    std::jthread stopper([&] { caller.request_stop(); });
    const auto e = error_of([&] {
        dog.run([&](std::stop_token stop) {
            std::mutex m;
            std::condition_variable_any cv;
            std::unique_lock lock(m);
            cv.wait(lock, stop, [] { return false; });
            throw error(errc::cancelled, "stopped");
        });
    });
    BOOST_TEST((e.value() == errc::cancelled));
    BOOST_TEST((dog.fired() == watchdog::reason::stopped));
}

BOOST_AUTO_TEST_CASE(a_watchdog_leaves_other_errors_alone) {
    watchdog dog({.what = "x", .overall = deadline::after(1h), .stall = std::nullopt});
    const auto e = error_of([&] { dog.run([](std::stop_token) -> int { throw error(errc::build_failed, "exit 2"); }); });
    BOOST_TEST((e.value() == errc::build_failed));
}

BOOST_AUTO_TEST_CASE(a_watchdogs_deadline_interrupts_a_retry_wait) {
    watchdog dog({.what = "looking up app:1", .overall = deadline::after(100ms), .stall = std::nullopt});
    exponential_backoff::options b;
    b.budget = 1h;
    exponential_backoff policy(b);
    int calls = 0;
    const auto e = error_of([&] {
        dog.run([&](std::stop_token stop) {
            return retry(policy, stop, [&](int) -> int {
                ++calls;
                throw error(errc::rate_limited, "slow down").with_retry_after(1h);
            });
        });
    });
    BOOST_TEST((e.value() == errc::timeout));
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(retry_tells_its_observer_each_failed_attempt_and_the_wait) {
    exponential_backoff::options b;
    b.base = 1ms;
    b.cap = 2ms;
    b.seed = 3;
    exponential_backoff policy(b);
    std::vector<int> seen;
    const int r = retry(
        policy, {},
        [&](int attempt) {
            if (attempt < 3) throw error(errc::server_error, "bad gateway").with_http_status(502);
            return attempt;
        },
        [&](int attempt, const error& e, std::chrono::milliseconds d) {
            BOOST_TEST(e.http_status().value() == 502);
            BOOST_TEST(d.count() <= 2);
            seen.push_back(attempt);
        });
    BOOST_TEST(r == 3);
    BOOST_TEST((seen == std::vector<int>{1, 2}));
}
