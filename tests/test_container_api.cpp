// The Engine API's container calls as pure functions: the create body from a
// container_spec (read back with simdjson), request targets, the answers
// dockerd and Podman gave (recorded in tests/data/containers), and the
// multiplexed log stream decoder on recorded and hostile streams.
#define BOOST_TEST_MODULE container_api
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include <simdjson.h>

#include "rtb/sandbox/container_api.hpp"
#include "rtb/sandbox/log_stream.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace rtb::container_api;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(RTB_TEST_DATA) + "/containers/" + name, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "missing fixture " << name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

constexpr api_version v141{1, 41};

/// A create body, parsed back.
struct body {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    explicit body(const container_spec& s) {
        text = create_body(s);
        BOOST_REQUIRE_MESSAGE(parser.parse(text).get(doc) == simdjson::SUCCESS, "not JSON: " << text);
    }
    std::string text;
    simdjson::dom::element host() { return doc["HostConfig"].value(); }
    bool has(simdjson::dom::element e, std::string_view key) {
        simdjson::dom::element x;
        return e[key].get(x) == simdjson::SUCCESS;
    }
    static std::vector<std::string> strings(simdjson::dom::element e) {
        std::vector<std::string> out;
        const simdjson::dom::array a = e.get_array().value();
        for (auto x : a) out.emplace_back(x.get_string().value());
        return out;
    }
};

/// A health check by its parts (designated initializers that skip members
/// trip -Wmissing-field-initializers).
health_check check(std::string shell, std::vector<std::string> exec = {}) {
    health_check h;
    h.shell = std::move(shell);
    h.exec = std::move(exec);
    return h;
}

container_spec minimal() {
    container_spec s;
    s.image = "local/runtime:1";
    return s;
}

}  // namespace

// ===================================================================== body

BOOST_AUTO_TEST_SUITE(create_body_)

BOOST_AUTO_TEST_CASE(a_minimal_spec_gets_network_none_and_no_limits) {
    body b(minimal());
    BOOST_TEST(std::string(b.doc["Image"].get_string().value()) == "local/runtime:1");
    BOOST_TEST(std::string(b.host()["NetworkMode"].get_string().value()) == "none");
    BOOST_TEST(!b.has(b.doc, "Cmd"));
    BOOST_TEST(!b.has(b.doc, "Entrypoint"));
    BOOST_TEST(!b.has(b.doc, "Env"));
    BOOST_TEST(!b.has(b.doc, "ExposedPorts"));
    BOOST_TEST(!b.has(b.doc, "Healthcheck"));
    for (const char* k : {"Memory", "MemorySwap", "NanoCpus", "CpuQuota", "CpuPeriod", "PidsLimit", "ShmSize",
                          "PortBindings", "Mounts", "Tmpfs"})
        BOOST_TEST_CONTEXT(k) { BOOST_TEST(!b.has(b.host(), k)); }
    BOOST_TEST(b.doc["Tty"].get_bool().value() == false);
    BOOST_TEST(b.doc["OpenStdin"].get_bool().value() == false);
    BOOST_TEST(b.doc["StopTimeout"].get_int64().value() == 10);
    BOOST_TEST(b.host()["AutoRemove"].get_bool().value() == false);
    BOOST_TEST(b.host()["ReadonlyRootfs"].get_bool().value() == false);
}

BOOST_AUTO_TEST_CASE(the_image_is_sent_by_its_familiar_name) {
    auto s = minimal();
    s.image = "docker.io/library/python:3.12";
    BOOST_TEST(std::string(body(s).doc["Image"].get_string().value()) == "python:3.12");
}

BOOST_AUTO_TEST_CASE(command_entrypoint_env_user_workdir_labels) {
    auto s = minimal();
    s.command = {"sh", "-c", "echo \"$A\""};
    s.entrypoint = std::vector<std::string>{"/init", "--"};
    s.env = {{"B", "x=y"}, {"A", "line\nbreak"}};
    s.working_dir = "/workspace";
    s.user = "1000:1000";
    s.labels = {{"rtb.sandbox", "1"}};
    body b(s);
    BOOST_TEST(body::strings(b.doc["Cmd"].value()) == s.command);
    BOOST_TEST(body::strings(b.doc["Entrypoint"].value()) == *s.entrypoint);
    const std::vector<std::string> env = {"A=line\nbreak", "B=x=y"};
    BOOST_TEST(body::strings(b.doc["Env"].value()) == env);
    BOOST_TEST(std::string(b.doc["WorkingDir"].get_string().value()) == "/workspace");
    BOOST_TEST(std::string(b.doc["User"].get_string().value()) == "1000:1000");
    BOOST_TEST(std::string(b.doc["Labels"]["rtb.sandbox"].get_string().value()) == "1");
}

BOOST_AUTO_TEST_CASE(an_empty_entrypoint_clears_the_images) {
    auto s = minimal();
    s.entrypoint = std::vector<std::string>{};
    body b(s);
    BOOST_TEST(b.doc["Entrypoint"].get_array().value().size() == 0u);
}

BOOST_AUTO_TEST_CASE(hostile_strings_stay_strings) {
    auto s = minimal();
    const std::string evil = "\"},\"HostConfig\":{\"Privileged\":true},\"x\":{\"\\\x01\x7f";
    s.command = {evil};
    s.env = {{"E", evil}};
    s.labels = {{evil, evil}};
    s.working_dir = "/w\"x";
    body b(s);
    BOOST_TEST(body::strings(b.doc["Cmd"].value()).at(0) == evil);
    BOOST_TEST(body::strings(b.doc["Env"].value()).at(0) == "E=" + evil);
    BOOST_TEST(std::string(b.doc["Labels"][evil].get_string().value()) == evil);
    BOOST_TEST(!b.has(b.host(), "Privileged"));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_replacement_characters_not_broken_json) {
    auto s = minimal();
    s.env = {{"E", "ok\xff\xfe"}};
    body b(s);
    BOOST_TEST(body::strings(b.doc["Env"].value()).at(0) == "E=ok\xef\xbf\xbd\xef\xbf\xbd");
}

BOOST_AUTO_TEST_CASE(a_large_argument_round_trips) {
    auto s = minimal();
    s.command = {std::string(131'071, 'x')};
    BOOST_TEST(body::strings(body(s).doc["Cmd"].value()).at(0).size() == 131'071u);
}

BOOST_AUTO_TEST_CASE(ports_are_exposed_and_bound_to_their_address) {
    auto s = minimal();
    s.network = "rtb-net";
    s.ports = {{80, 0, "127.0.0.1", port_protocol::tcp},
               {80, 8080, "127.0.0.1", port_protocol::tcp},
               {53, 5353, "::1", port_protocol::udp}};
    body b(s);
    auto exposed = b.doc["ExposedPorts"].get_object().value();
    BOOST_TEST(exposed.size() == 2u);
    BOOST_TEST(b.has(b.doc["ExposedPorts"].value(), "80/tcp"));
    BOOST_TEST(b.has(b.doc["ExposedPorts"].value(), "53/udp"));
    auto tcp = b.host()["PortBindings"]["80/tcp"].get_array().value();
    BOOST_REQUIRE(tcp.size() == 2u);
    BOOST_TEST(std::string(tcp.at(0)["HostIp"].get_string().value()) == "127.0.0.1");
    BOOST_TEST(std::string(tcp.at(0)["HostPort"].get_string().value()) == "");  // the engine picks
    BOOST_TEST(std::string(tcp.at(1)["HostPort"].get_string().value()) == "8080");
    auto udp = b.host()["PortBindings"]["53/udp"].get_array().value();
    BOOST_TEST(std::string(udp.at(0)["HostIp"].get_string().value()) == "::1");
    BOOST_TEST(std::string(udp.at(0)["HostPort"].get_string().value()) == "5353");
}

BOOST_AUTO_TEST_CASE(host_networking_sends_no_bindings) {
    auto s = minimal();
    s.network = "host";
    s.ports = {{8080, 0}};
    body b(s);
    BOOST_TEST(std::string(b.host()["NetworkMode"].get_string().value()) == "host");
    BOOST_TEST(!b.has(b.host(), "PortBindings"));
    BOOST_TEST(!b.has(b.doc, "ExposedPorts"));
}

BOOST_AUTO_TEST_CASE(mounts_and_tmpfs) {
    auto s = minimal();
    s.mounts = {{mount::kind::bind, "/data", "/data", true}, {mount::kind::volume, "cache", "/cache", false}};
    s.tmpfs = {{"/scratch", 1 << 20, 01777}, {"/run/x", std::nullopt, std::nullopt}, {"/m", std::nullopt, 0700}};
    body b(s);
    auto m = b.host()["Mounts"].get_array().value();
    BOOST_REQUIRE(m.size() == 2u);
    BOOST_TEST(std::string(m.at(0)["Type"].get_string().value()) == "bind");
    BOOST_TEST(std::string(m.at(0)["Source"].get_string().value()) == "/data");
    BOOST_TEST(std::string(m.at(0)["Target"].get_string().value()) == "/data");
    BOOST_TEST(m.at(0)["ReadOnly"].get_bool().value() == true);
    BOOST_TEST(std::string(m.at(1)["Type"].get_string().value()) == "volume");
    BOOST_TEST(m.at(1)["ReadOnly"].get_bool().value() == false);
    BOOST_TEST(std::string(b.host()["Tmpfs"]["/scratch"].get_string().value()) == "size=1048576,mode=1777");
    BOOST_TEST(std::string(b.host()["Tmpfs"]["/run/x"].get_string().value()) == "");
    BOOST_TEST(std::string(b.host()["Tmpfs"]["/m"].get_string().value()) == "mode=700");
}

BOOST_AUTO_TEST_CASE(limits_map_to_host_config_fields) {
    auto s = minimal();
    s.limits.memory = 512 << 20;
    s.limits.memory_swap = -1;
    s.limits.cpu_quota = 50'000;
    s.limits.cpu_period = 100'000;
    s.limits.pids_limit = 64;
    s.limits.shm_size = 64 << 20;
    body b(s);
    BOOST_TEST(b.host()["Memory"].get_int64().value() == 512 << 20);
    BOOST_TEST(b.host()["MemorySwap"].get_int64().value() == -1);
    BOOST_TEST(b.host()["CpuQuota"].get_int64().value() == 50'000);
    BOOST_TEST(b.host()["CpuPeriod"].get_int64().value() == 100'000);
    BOOST_TEST(b.host()["PidsLimit"].get_int64().value() == 64);
    BOOST_TEST(b.host()["ShmSize"].get_int64().value() == 64 << 20);
    BOOST_TEST(!b.has(b.host(), "NanoCpus"));
    auto n = minimal();
    n.limits.nano_cpus = 1'500'000'000;
    body c(n);
    BOOST_TEST(c.host()["NanoCpus"].get_int64().value() == 1'500'000'000);
}

BOOST_AUTO_TEST_CASE(health_checks_in_shell_and_exec_form_in_nanoseconds) {
    auto s = minimal();
    s.health = check("test -e /ready");
    s.health->interval = std::chrono::milliseconds(250);
    s.health->timeout = std::chrono::milliseconds(2000);
    s.health->start_period = std::chrono::milliseconds(5000);
    s.health->retries = 4;
    body b(s);
    auto h = b.doc["Healthcheck"];
    const std::vector<std::string> shell = {"CMD-SHELL", "test -e /ready"};
    BOOST_TEST(body::strings(h["Test"].value()) == shell);
    BOOST_TEST(h["Interval"].get_int64().value() == 250'000'000);
    BOOST_TEST(h["Timeout"].get_int64().value() == 2'000'000'000);
    BOOST_TEST(h["StartPeriod"].get_int64().value() == 5'000'000'000);
    BOOST_TEST(h["Retries"].get_int64().value() == 4);
    s.health = check("", {"/bin/check", "a b"});
    body e(s);
    const std::vector<std::string> exec = {"CMD", "/bin/check", "a b"};
    BOOST_TEST(body::strings(e.doc["Healthcheck"]["Test"].value()) == exec);
}

BOOST_AUTO_TEST_CASE(flags_and_grace) {
    auto s = minimal();
    s.tty = true;
    s.auto_remove = true;
    s.read_only_rootfs = true;
    s.stop_grace = std::chrono::seconds(3);
    body b(s);
    BOOST_TEST(b.doc["Tty"].get_bool().value() == true);
    BOOST_TEST(b.doc["StopTimeout"].get_int64().value() == 3);
    BOOST_TEST(b.host()["AutoRemove"].get_bool().value() == true);
    BOOST_TEST(b.host()["ReadonlyRootfs"].get_bool().value() == true);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================== targets

BOOST_AUTO_TEST_SUITE(targets)

BOOST_AUTO_TEST_CASE(each_call_has_its_target) {
    const std::string id = "3d2898531093e96c1359ea91e1af28de200647b18b620037ccfe1ef3059af7d2";
    BOOST_TEST(create_target(v141, "") == "/v1.41/containers/create");
    BOOST_TEST(create_target(v141, "sandbox-1") == "/v1.41/containers/create?name=sandbox-1");
    BOOST_TEST(start_target(v141, id) == "/v1.41/containers/" + id + "/start");
    BOOST_TEST(stop_target(v141, id, std::chrono::seconds(7)) == "/v1.41/containers/" + id + "/stop?t=7");
    BOOST_TEST(remove_target(v141, id) == "/v1.41/containers/" + id + "?force=1&v=1");
    BOOST_TEST(remove_target(v141, id, false, false) == "/v1.41/containers/" + id + "?force=0&v=0");
    BOOST_TEST(wait_target(v141, id, wait_condition::not_running) == "/v1.41/containers/" + id + "/wait?condition=not-running");
    BOOST_TEST(wait_target(v141, id, wait_condition::next_exit) == "/v1.41/containers/" + id + "/wait?condition=next-exit");
    BOOST_TEST(wait_target(v141, id, wait_condition::removed) == "/v1.41/containers/" + id + "/wait?condition=removed");
    BOOST_TEST(logs_target(v141, id, true, true, false) == "/v1.41/containers/" + id + "/logs?follow=1&stdout=1&stderr=0");
    BOOST_TEST(logs_target(v141, id, false, true, true, 20u) ==
               "/v1.41/containers/" + id + "/logs?follow=0&stdout=1&stderr=1&tail=20");
    BOOST_TEST(inspect_target(v141, "my.box_1") == "/v1.41/containers/my.box_1/json");
    BOOST_TEST(network_target(v141, "rtb-net") == "/v1.41/networks/rtb-net");
    BOOST_TEST(libpod_healthcheck_target(id) == "/v4.0.0/libpod/containers/" + id + "/healthcheck");
}

BOOST_AUTO_TEST_CASE(listings_filter_by_label_encoded) {
    BOOST_TEST(list_target(v141, {}) == "/v1.41/containers/json?all=1");
    BOOST_TEST(list_target(v141, {"rtb.run=a b"}, false) ==
               "/v1.41/containers/json?all=0&filters=%7B%22label%22%3A%5B%22rtb.run%3Da%20b%22%5D%7D");
}

BOOST_AUTO_TEST_CASE(ids_that_could_escape_the_path_are_refused) {
    for (std::string bad : std::vector<std::string>{"", "../images/x", "a/b", "x?force=1", "x#y", "x y", "%2e%2e", std::string(300, 'a'),
                            std::string("a\0b", 3)}) {
        BOOST_TEST_CONTEXT(detail::shown(bad)) {
            const auto e = error_of([&] { inspect_target(v141, bad); });
            BOOST_TEST(e.value() == errc::invalid_argument);
            BOOST_TEST(contains(e.what(), "is not a container id or name"));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================== answers

BOOST_AUTO_TEST_SUITE(answers)

BOOST_AUTO_TEST_CASE(a_running_healthy_container_on_both_engines) {
    for (const char* engine : {"docker", "podman"}) {
        BOOST_TEST_CONTEXT(engine) {
            const auto s = parse_inspect(fixture(std::string(engine) + "-inspect-running.json"), "inspect");
            BOOST_TEST(s.id.size() == 64u);
            BOOST_TEST(s.name == "rtb-fixture");
            BOOST_TEST(s.image.ends_with("local/busybox:1"));  // Podman: localhost/local/busybox:1
            BOOST_TEST(s.status == "running");
            BOOST_TEST(s.running);
            BOOST_TEST(s.has_healthcheck);
            BOOST_REQUIRE(s.health.has_value());
            BOOST_TEST(s.health->status == "healthy");
            BOOST_TEST(s.network_mode == "none");
            BOOST_TEST(s.ports.empty());
            BOOST_TEST(s.labels.at("rtb.fixture") == "1");
        }
    }
}

BOOST_AUTO_TEST_CASE(an_exited_container_reports_its_exit_code) {
    for (const char* engine : {"docker", "podman"}) {
        BOOST_TEST_CONTEXT(engine) {
            const auto s = parse_inspect(fixture(std::string(engine) + "-inspect-exited.json"), "inspect");
            BOOST_TEST(s.status == "exited");
            BOOST_TEST(!s.running);
            BOOST_TEST(s.exit_code == 137);
            BOOST_TEST(!s.oom_killed);
            const auto w = parse_wait(fixture(std::string(engine) + "-wait.json"), "wait");
            BOOST_TEST(w.exit_code == 137);
            BOOST_TEST(w.error.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(tty_stop_timeout_and_auto_remove_are_read_for_attach) {
    for (const char* engine : {"docker", "podman"}) {
        BOOST_TEST_CONTEXT(engine) {
            const auto s = parse_inspect(fixture(std::string(engine) + "-inspect-running.json"), "inspect");
            BOOST_TEST(!s.tty);
            BOOST_TEST(!s.stop_timeout.has_value());  // not set (Podman says 0)
            BOOST_TEST(!s.auto_remove);
        }
    }
    const auto s = parse_inspect(R"({"Id":"ab","State":{"Status":"running","Running":true},)"
                                 R"("Config":{"Tty":true,"StopTimeout":3},"HostConfig":{"AutoRemove":true}})",
                                 "inspect");
    BOOST_TEST(s.tty);
    BOOST_TEST(s.stop_timeout.value() == 3);
    BOOST_TEST(s.auto_remove);
}

BOOST_AUTO_TEST_CASE(published_ports_are_read_from_network_settings) {
    const auto s = parse_inspect(fixture("docker-inspect-ports.json"), "inspect");
    std::vector<mapped_port> want = {
        {53, port_protocol::udp, "127.0.0.1", 5353},
        {80, port_protocol::tcp, "127.0.0.1", 49153},
        {8080, port_protocol::tcp, "0.0.0.0", 8080},
        {8080, port_protocol::tcp, "::", 8080},
    };
    auto got = s.ports;
    std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
        return std::tie(a.container_port, a.host_ip) < std::tie(b.container_port, b.host_ip);
    });
    BOOST_TEST(got.size() == want.size());
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) BOOST_TEST((got[i] == want[i]));
    BOOST_TEST(s.network_mode == "rtb-net");
}

BOOST_AUTO_TEST_CASE(podmans_health_check_answer) {
    const auto h = parse_health(fixture("podman-healthcheck.json"), "health");
    BOOST_TEST(h.status == "healthy");
    BOOST_TEST(h.failing_streak == 0);
    const auto u = parse_health(R"({"Status":"unhealthy","FailingStreak":3,"Log":[{"ExitCode":0,"Output":"a"},)"
                                R"({"ExitCode":1,"Output":"not ready"}]})",
                                "health");
    BOOST_TEST(u.status == "unhealthy");
    BOOST_TEST(u.failing_streak == 3);
    BOOST_TEST(u.last_output == "not ready");
    BOOST_TEST(u.last_exit_code.value() == 1);
}

BOOST_AUTO_TEST_CASE(listings_on_both_engines) {
    for (const char* engine : {"docker", "podman"}) {
        BOOST_TEST_CONTEXT(engine) {
            const auto l = parse_list(fixture(std::string(engine) + "-list.json"), "list");
            BOOST_REQUIRE(l.size() == 1u);
            BOOST_TEST(l[0].names == std::vector<std::string>{"rtb-fixture"});
            BOOST_TEST(l[0].state == "running");
            BOOST_TEST(l[0].labels.at("rtb.fixture") == "1");
            BOOST_TEST(l[0].id.size() == 64u);
        }
    }
}

BOOST_AUTO_TEST_CASE(created_answers) {
    BOOST_TEST(parse_created(R"({"Id":"abc123","Warnings":[]})", "create") == "abc123");
    for (const char* bad : {R"({"Warnings":[]})", R"({"Id":""})", R"({"Id":"../x"})", "[]", "", "{"}) {
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(error_of([&] { parse_created(bad, "create"); }).value() == errc::parse_error); }
    }
}

BOOST_AUTO_TEST_CASE(wait_answers_with_an_error_or_garbage) {
    const auto w = parse_wait(R"({"StatusCode":-1,"Error":{"Message":"container removal failed"}})", "wait");
    BOOST_TEST(w.exit_code == -1);
    BOOST_TEST(w.error == "container removal failed");
    BOOST_TEST(parse_wait(R"({"StatusCode":99999999999})", "wait").exit_code == std::numeric_limits<int>::max());
    for (const char* bad : {"{}", R"({"StatusCode":"1"})", "null", "garbage"}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto e = error_of([&] { parse_wait(bad, "waiting for x"); });
            BOOST_TEST(e.value() == errc::parse_error);
            BOOST_TEST(contains(e.what(), "waiting for x"));
        }
    }
}

BOOST_AUTO_TEST_CASE(inspect_answers_without_state_or_json_are_parse_errors) {
    for (const char* bad : {"{}", R"({"State":"running"})", "[]", "<html>"}) {
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(error_of([&] { parse_inspect(bad, "inspect"); }).value() == errc::parse_error); }
    }
}

BOOST_AUTO_TEST_CASE(port_keys) {
    BOOST_TEST((parse_port_key("80/tcp") == std::pair{80, port_protocol::tcp}));
    BOOST_TEST((parse_port_key("53/udp") == std::pair{53, port_protocol::udp}));
    BOOST_TEST((parse_port_key("9/sctp") == std::pair{9, port_protocol::sctp}));
    BOOST_TEST((parse_port_key("8080") == std::pair{8080, port_protocol::tcp}));
    for (const char* bad : {"", "/tcp", "0/tcp", "65536/tcp", "80/icmp", "80x/tcp", "-1/tcp"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_port_key(bad).has_value()); }
}

BOOST_AUTO_TEST_SUITE_END()

// =================================================================== logs

BOOST_AUTO_TEST_SUITE(log_stream)

struct decoded {
    std::vector<std::string> out, err;
};

/// Decodes `bytes` fed in pieces of `piece` bytes (0: random pieces).
decoded decode(const std::string& bytes, std::size_t piece, bool tty = false, unsigned seed = 1) {
    decoded d;
    mux_decoder mux(tty);
    line_splitter lines;
    auto sink = [&](std_stream s, std::string_view line) {
        (s == std_stream::err ? d.err : d.out).emplace_back(line);
    };
    std::mt19937 rng(seed);
    std::size_t at = 0;
    while (at < bytes.size()) {
        const std::size_t n = piece ? piece : 1 + rng() % 5000;
        const auto chunk = std::string_view(bytes).substr(at, n);
        mux.feed(chunk, [&](std_stream s, std::string_view b) { lines.feed(s, b, sink); });
        at += chunk.size();
    }
    mux.finish();
    lines.finish(sink);
    return d;
}

std::string frame(std::uint8_t stream, std::string_view payload) {
    std::string h(8, '\0');
    h[0] = static_cast<char>(stream);
    const auto n = static_cast<std::uint32_t>(payload.size());
    h[4] = static_cast<char>(n >> 24);
    h[5] = static_cast<char>(n >> 16);
    h[6] = static_cast<char>(n >> 8);
    h[7] = static_cast<char>(n);
    return h + std::string(payload);
}

BOOST_AUTO_TEST_CASE(recorded_streams_decode_to_the_same_lines_on_both_engines_however_they_are_cut) {
    const std::vector<std::string> want_out = {"line1", "parttab\there", std::string(70'000, 'x'), "last-no-newline"};
    const std::vector<std::string> want_err = {"ial"};
    for (const char* engine : {"docker", "podman"}) {
        const auto bytes = fixture(std::string(engine) + "-logs.bin");
        for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{4096},
                                  bytes.size(), std::size_t{0}}) {
            BOOST_TEST_CONTEXT(engine << " in pieces of " << piece) {
                const auto d = decode(bytes, piece);
                BOOST_TEST(d.out == want_out);
                BOOST_TEST(d.err == want_err);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_tty_stream_is_raw_stdout_with_crlf_lines) {
    const auto d = decode("tty\r\ne\r\nno newline", 3, true);
    const std::vector<std::string> want = {"tty", "e", "no newline"};
    BOOST_TEST(d.out == want);
    BOOST_TEST(d.err.empty());
}

BOOST_AUTO_TEST_CASE(empty_frames_and_empty_lines) {
    const auto d = decode(frame(1, "") + frame(1, "\n\n") + frame(2, "") + frame(2, "x\n"), 1);
    const std::vector<std::string> out = {"", ""};
    BOOST_TEST(d.out == out);
    BOOST_TEST(d.err == std::vector<std::string>{"x"});
}

BOOST_AUTO_TEST_CASE(a_header_that_is_not_one_is_a_parse_error) {
    for (std::string bad : {std::string("\x04\0\0\0\0\0\0\x01x", 9), std::string("\x01\x01\0\0\0\0\0\x01x", 9),
                            std::string("hello world\n"), std::string("{\"message\":\"x\"}")}) {
        BOOST_TEST_CONTEXT(detail::shown(bad)) {
            const auto e = error_of([&] { decode(bad, 1); });
            BOOST_TEST(e.value() == errc::parse_error);
            BOOST_TEST(contains(e.what(), "invalid frame header"));
        }
    }
}

BOOST_AUTO_TEST_CASE(the_engines_own_error_frame_is_a_server_error) {
    const auto e = error_of([&] { decode(frame(1, "ok\n") + frame(3, "failed to read log file\n"), 2); });
    BOOST_TEST(e.value() == errc::server_error);
    BOOST_TEST(contains(e.what(), "failed to read log file"));
}

BOOST_AUTO_TEST_CASE(a_stream_cut_inside_a_frame_is_a_parse_error) {
    const auto full = frame(1, "hello\n");
    for (std::size_t cut : {std::size_t{3}, std::size_t{8}, std::size_t{10}}) {
        BOOST_TEST_CONTEXT(cut) {
            const auto e = error_of([&] { decode(full.substr(0, cut), 1); });
            BOOST_TEST(e.value() == errc::parse_error);
            BOOST_TEST(contains(e.what(), "ended inside a frame"));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_4_gib_frame_header_costs_nothing_until_its_bytes_come) {
    mux_decoder mux;
    std::size_t got = 0;
    mux.feed(std::string("\x01\0\0\0\xff\xff\xff\xff", 8) + "abc", [&](std_stream, std::string_view b) { got += b.size(); });
    BOOST_TEST(got == 3u);
    BOOST_TEST(mux.frames() == 1u);
    BOOST_TEST(error_of([&] { mux.finish(); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(a_line_without_end_is_cut_at_max_line) {
    line_splitter lines(10);
    std::vector<std::string> got;
    auto sink = [&](std_stream, std::string_view l) { got.emplace_back(l); };
    lines.feed(std_stream::out, std::string(25, 'a'), sink);
    lines.feed(std_stream::out, "b\nc", sink);
    lines.finish(sink);
    const std::vector<std::string> want = {std::string(10, 'a'), std::string(10, 'a'), "aaaaab", "c"};
    BOOST_TEST(got == want);
}

BOOST_AUTO_TEST_CASE(streams_keep_their_own_partial_lines) {
    line_splitter lines;
    std::vector<std::string> got;
    auto sink = [&](std_stream s, std::string_view l) { got.push_back((s == std_stream::err ? "E:" : "O:") + std::string(l)); };
    lines.feed(std_stream::out, "par", sink);
    lines.feed(std_stream::err, "err", sink);
    lines.feed(std_stream::out, "tial\n", sink);
    lines.feed(std_stream::err, "or\r\n", sink);
    const std::vector<std::string> want = {"O:partial", "E:error"};
    BOOST_TEST(got == want);
}

BOOST_AUTO_TEST_CASE(log_timestamps_as_dockerd_and_podman_write_them) {
    const auto d = parse_log_time("2026-11-29T07:05:10.835807300Z").value();
    BOOST_TEST(d.seconds == 1'795'935'910);
    BOOST_TEST(d.nanos == 835'807'300);
    const auto p = parse_log_time("2026-11-29T07:05:12Z").value();  // Podman 4.3: whole seconds
    BOOST_TEST(p.seconds == 1'795'935'912);
    BOOST_TEST(p.nanos == 0);
    BOOST_TEST(parse_log_time("1970-01-01T00:00:00Z").value().seconds == 0);
    BOOST_TEST(parse_log_time("2000-03-01T00:00:00.5Z").value().nanos == 500'000'000);
    BOOST_TEST(parse_log_time("2000-03-01T00:00:00Z").value().seconds == 951'868'800);
    BOOST_TEST((parse_log_time("2026-11-29T07:05:10.8Z").value() < d));
    for (const char* bad : {"", "2026-11-29 07:05:10Z", "2026-11-29T07:05:10", "2026-11-29T07:05:10+01:00",
                            "2026-13-29T07:05:10Z", "2026-11-29T07:05:10.Z", "2026-11-29T07:05:10.1234567890Z",
                            "2026-11-29T7:05:10Z", "x026-11-29T07:05:10Z", "2026-11-29T07:05:10.-1Z"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_log_time(bad).has_value()); }
}

BOOST_AUTO_TEST_CASE(timestamped_frames_lose_their_stamp_however_they_are_cut) {
    const std::string bytes = frame(1, "2026-11-29T07:05:10.735093197Z line1\n") +
                              frame(2, "2026-11-29T07:05:10.835807300Z ial\n") +
                              frame(1, "2026-11-29T07:05:10.836614367Z part") +
                              frame(1, "2026-11-29T07:05:10.836614367Z  two spaces kept");
    for (std::size_t piece = 1; piece <= bytes.size(); ++piece) {
        mux_decoder mux;
        timestamp_stripper stamps;
        std::vector<std::string> entries;
        std::vector<std::int32_t> nanos;
        for (std::size_t at = 0; at < bytes.size(); at += piece)
            mux.feed(std::string_view(bytes).substr(at, piece), [&](std_stream st, std::string_view b, bool first) {
                stamps.feed(st, b, first, [&](std_stream, log_time t, std::string_view data, bool start) {
                    if (start) {
                        entries.emplace_back();
                        nanos.push_back(t.nanos);
                    }
                    entries.back() += data;
                });
            });
        mux.finish();
        const std::vector<std::string> want = {"line1\n", "ial\n", "part", " two spaces kept"};
        BOOST_TEST_CONTEXT(piece) {
            BOOST_TEST(entries == want);
            BOOST_TEST(nanos == (std::vector<std::int32_t>{735'093'197, 835'807'300, 836'614'367, 836'614'367}));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_frame_without_a_timestamp_is_a_parse_error) {
    for (const std::string& payload : {std::string("no timestamp here\n"), std::string(100, 'x')}) {
        mux_decoder mux;
        timestamp_stripper stamps;
        const auto e = error_of([&] {
            mux.feed(frame(1, payload), [&](std_stream st, std::string_view b, bool first) {
                stamps.feed(st, b, first, [](std_stream, log_time, std::string_view, bool) {});
            });
        });
        BOOST_TEST(e.value() == errc::parse_error);
        BOOST_TEST(contains(e.what(), "not a timestamp"));
    }
}

// A simulated engine log: entries in the order the engine wrote them, each
// stamped by the thread that read its stream (so not in stamp order).
namespace {
struct sim_entry {
    std_stream stream;
    log_time at;
    int n;
    std::size_t size = 10;
};

std::vector<sim_entry> simulated_log(std::minstd_rand& rng, int count) {
    std::vector<sim_entry> log;
    std::int64_t ns = 1'795'935'910LL * 1'000'000'000LL + 900'000'000;  // just before a second boundary
    for (int i = 0; i < count; ++i) {
        ns += static_cast<std::int64_t>(rng() % 50'000);  // up to 50 us apart
        // the stamp was taken up to 3 ms before the write: stdout and stderr interleave out of order
        const std::int64_t stamped = ns - static_cast<std::int64_t>(rng() % 3'000'000);
        log.push_back({rng() % 2 ? std_stream::out : std_stream::err,
                       {stamped / 1'000'000'000, static_cast<std::int32_t>(stamped % 1'000'000'000)}, i,
                       1 + rng() % 40});
    }
    return log;
}

/// The bytes a follower (entries [first, seen) whole, then `cut` bytes of
/// entry `seen`) and then a catch-up read pass on, per entry, in the order
/// passed; the catch-up returns what the engine's since filter keeps.
std::vector<std::pair<int, std::size_t>> followed_then_caught_up(const std::vector<sim_entry>& log, std::size_t first,
                                                                 std::size_t seen, bool tail, std::size_t cut = 0) {
    log_catch_up c;
    std::vector<std::pair<int, std::size_t>> out;
    auto pass = [&](int n, std::size_t bytes) {
        if (bytes == 0) return;
        if (!out.empty() && out.back().first == n) out.back().second += bytes;
        else out.emplace_back(n, bytes);
    };
    for (std::size_t i = first; i < seen; ++i) {
        c.followed(log[i].stream, log[i].at);
        c.followed_bytes(log[i].size);
        pass(log[i].n, log[i].size);
    }
    if (cut > 0 && seen < log.size()) {
        c.followed(log[seen].stream, log[seen].at);
        c.followed_bytes(cut);
        pass(log[seen].n, cut);
    }
    c.begin_catch_up(tail);
    const auto since = c.since();
    for (const auto& e : log)
        if (!since || e.at.seconds >= *since) {
            const auto done = c.already_passed(e.stream, e.at);
            pass(e.n, e.size - std::min(done, e.size));
        }
    return out;
}

std::vector<std::pair<int, std::size_t>> whole_entries(const std::vector<sim_entry>& log, std::size_t from = 0) {
    std::vector<std::pair<int, std::size_t>> want;
    for (std::size_t i = from; i < log.size(); ++i) want.emplace_back(log[i].n, log[i].size);
    return want;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_catch_up_passes_on_every_entry_the_follower_missed_exactly_once) {
    std::minstd_rand rng(20261207);
    for (int round = 0; round < 300; ++round) {
        const auto log = simulated_log(rng, 1 + static_cast<int>(rng() % 400));
        const std::size_t seen = rng() % (log.size() + 1);
        BOOST_TEST_CONTEXT("round " << round << ", followed " << seen << " of " << log.size()) {
            BOOST_TEST((followed_then_caught_up(log, 0, seen, false) == whole_entries(log)));
        }
    }
}

BOOST_AUTO_TEST_CASE(an_entry_the_follow_passed_on_in_part_goes_on_from_where_it_stopped) {
    std::minstd_rand rng(11);
    for (int round = 0; round < 200; ++round) {
        const auto log = simulated_log(rng, 2 + static_cast<int>(rng() % 200));
        const std::size_t seen = rng() % log.size();
        const std::size_t cut = 1 + rng() % log[seen].size;  // up to the whole entry
        BOOST_TEST_CONTEXT("round " << round) {
            BOOST_TEST((followed_then_caught_up(log, 0, seen, false, cut) == whole_entries(log)));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_catch_up_is_not_fooled_by_a_later_stamp_on_the_other_stream) {
    // The follower saw stderr stamped .300 written before stdout stamped
    // .200; the last entry seen (.200) is not the latest stamp. An entry
    // stamped .250 was then missed. (Taking the last entry as the mark
    // passed .300 on twice.)
    const std::int64_t s = 1'795'935'910;
    const std::vector<sim_entry> log = {{std_stream::out, {s, 100}, 0}, {std_stream::err, {s, 300}, 1},
                                        {std_stream::out, {s, 200}, 2}, {std_stream::err, {s, 250}, 3}};
    for (std::size_t seen = 0; seen <= log.size(); ++seen)
        BOOST_TEST_CONTEXT(seen) { BOOST_TEST((followed_then_caught_up(log, 0, seen, false) == whole_entries(log))); }
}

BOOST_AUTO_TEST_CASE(entries_with_the_same_stamp_are_told_apart_by_their_order) {
    const std::int64_t s = 1'795'935'912;  // Podman-like whole seconds: many entries share a stamp
    std::vector<sim_entry> log;
    for (int i = 0; i < 20; ++i) log.push_back({i % 3 ? std_stream::out : std_stream::err, {s + i / 8, 0}, i});
    for (std::size_t seen = 0; seen <= log.size(); ++seen)
        BOOST_TEST_CONTEXT(seen) { BOOST_TEST((followed_then_caught_up(log, 0, seen, false) == whole_entries(log))); }
}

BOOST_AUTO_TEST_CASE(a_catch_up_after_a_tailed_follow_shows_nothing_from_before_the_tail) {
    std::minstd_rand rng(7);
    for (int round = 0; round < 200; ++round) {
        const auto log = simulated_log(rng, 2 + static_cast<int>(rng() % 300));
        const std::size_t first = rng() % log.size();  // where the tail started
        const std::size_t seen = first + 1 + rng() % (log.size() - first);
        BOOST_TEST_CONTEXT("round " << round) {
            BOOST_TEST((followed_then_caught_up(log, first, seen, true) == whole_entries(log, first)));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_catch_up_remembers_only_the_last_seconds_of_output) {
    // The catch-up reads from `since`; what the follower saw before it cannot come back.
    log_catch_up c;
    for (std::int64_t sec = 0; sec < 100; ++sec) {
        c.followed(std_stream::out, {1'000'000'000 + sec, 0});
        c.followed_bytes(3);
    }
    BOOST_TEST(c.since().value() == 1'000'000'000 + 99 - 2);
    c.begin_catch_up();
    BOOST_TEST(c.already_passed(std_stream::out, {1'000'000'000 + 97, 0}) == log_catch_up::whole);
    BOOST_TEST(c.already_passed(std_stream::out, {1'000'000'000 + 98, 0}) == log_catch_up::whole);
    BOOST_TEST(c.already_passed(std_stream::out, {1'000'000'000 + 99, 0}) == 3u);  // the last: as far as it went
    BOOST_TEST(c.already_passed(std_stream::out, {1'000'000'000 + 99, 0}) == 0u);  // new
}

BOOST_AUTO_TEST_SUITE_END()
