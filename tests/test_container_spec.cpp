// container_spec validation, rule by rule, against a scripted host
// filesystem; and the docker run spellings (--env, --publish, --mount,
// --tmpfs) with malformed, hostile and oversized values.
#define BOOST_TEST_MODULE container_spec
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>

#include "rtb/sandbox/parse.hpp"
#include "rtb/sandbox/validate.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

/// A host where these paths exist (path -> what it resolves to).
host_filesystem fake_host() {
    static const std::map<std::string, std::string> paths = {
        {"/", "/"},
        {"/data", "/data"},
        {"/data/", "/data"},
        {"/home/u/project", "/home/u/project"},
        {"/link-to-root", "/"},
        {"/run", "/run"},
        {"/var/run", "/run"},
        {"/run/docker.sock", "/run/docker.sock"},
        {"/var/run/docker.sock", "/run/docker.sock"},
        {"/srv/sock-link", "/run/docker.sock"},
        {"/tmp/eng", "/tmp/eng"},
        {"/tmp/eng/docker", "/tmp/eng/docker"},
        {"/tmp/eng/docker/docker.sock", "/tmp/eng/docker/docker.sock"},
        {"/tmp/eng/other", "/tmp/eng/other"},
    };
    host_filesystem h;
    h.resolve = [](const std::string& p) -> std::optional<std::string> {
        const auto it = paths.find(p);
        if (it == paths.end()) return std::nullopt;
        return it->second;
    };
    h.engine_sockets = {"/run/docker.sock", "/tmp/eng/docker/docker.sock"};
    return h;
}

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
    s.image = "local/runtime:oh_v1_abc";
    return s;
}

void ok(const container_spec& s) { validate(s, fake_host()); }

/// The error for `s`, checked to be invalid_argument and to start as every
/// spec error does.
error refused(const container_spec& s) {
    auto e = error_of([&] { validate(s, fake_host()); });
    BOOST_TEST(e.value() == errc::invalid_argument);
    BOOST_TEST(std::string(e.what()).starts_with("container spec for "));
    return e;
}

template <class Edit>
std::string refused_with(Edit edit) {
    auto s = minimal();
    edit(s);
    return refused(s).what();
}

}  // namespace

// ================================================================ validate

BOOST_AUTO_TEST_SUITE(validate_spec)

BOOST_AUTO_TEST_CASE(an_image_alone_is_a_valid_spec) { ok(minimal()); }

BOOST_AUTO_TEST_CASE(a_spec_using_every_field_is_valid) {
    auto s = minimal();
    s.command = {"python", "-m", "server", "--port", "8000"};
    s.entrypoint = std::vector<std::string>{};
    s.env = {{"PATH", "/usr/bin"}, {"MULTI", "line one\nline two"}, {"EMPTY", ""}};
    s.working_dir = "/workspace";
    s.user = "1000:1000";
    s.name = "sandbox-1.task_7";
    s.network = "host";
    s.ports = {{8000, 0, "127.0.0.1", port_protocol::tcp}, {9000, 9000, "127.0.0.1", port_protocol::udp}};
    s.mounts = {{mount::kind::bind, "/data", "/data", true}, {mount::kind::volume, "cache_1", "/cache", false}};
    s.tmpfs = {{"/scratch", 64 << 20, 01777}};
    s.read_only_rootfs = true;
    s.limits.memory = 512 << 20;
    s.limits.nano_cpus = 1'500'000'000;
    s.limits.pids_limit = 256;
    s.limits.shm_size = 64 << 20;
    s.labels = {{"rtb.sandbox", "1"}, {"empty", ""}};
    s.health = check("test -e /tmp/ready");
    s.ready = readiness::healthy;
    ok(s);
}

BOOST_AUTO_TEST_CASE(the_image_must_be_a_valid_reference) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.image.clear(); }), "image is empty"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.image = "Local/UPPER:1"; }), "invalid image reference"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.image = "local/x:tag with space"; }), "invalid image reference"));
}

BOOST_AUTO_TEST_CASE(container_names_follow_dockers_rule) {
    for (const char* good : {"ab", "sandbox-1", "a.b_c-d", "0x"}) {
        auto s = minimal();
        s.name = good;
        ok(s);
    }
    for (std::string bad : std::vector<std::string>{"a", "-x", ".x", "x y", "x/y", "x:y", "ü-x", std::string(129, 'a'), std::string("a\0b", 3)}) {
        BOOST_TEST_CONTEXT(detail::shown(bad)) {
            BOOST_TEST(contains(refused_with([&](auto& s) { s.name = bad; }), "is not a container name"));
        }
    }
}

BOOST_AUTO_TEST_CASE(users_are_names_or_numbers_with_an_optional_group) {
    for (const char* good : {"1000", "1000:1000", "nobody", "app:staff", "_svc", "a.b-c:0"}) {
        auto s = minimal();
        s.user = good;
        ok(s);
    }
    for (const char* bad : {":1000", "1000:", "a:b:c", "root;rm -rf /", "x y", "$(id)", "-u", "a\nb"}) {
        BOOST_TEST_CONTEXT(bad) {
            BOOST_TEST(contains(refused_with([&](auto& s) { s.user = bad; }), "is not \"uid[:gid]\""));
        }
    }
}

BOOST_AUTO_TEST_CASE(the_working_directory_is_absolute_and_plain) {
    for (const char* good : {"/", "/workspace", "/a/b/"}) {
        auto s = minimal();
        s.working_dir = good;
        ok(s);
    }
    BOOST_TEST(contains(refused_with([](auto& s) { s.working_dir = "workspace"; }), "absolute"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.working_dir = "/a/../etc"; }), "\"..\""));
    BOOST_TEST(contains(refused_with([](auto& s) { s.working_dir = "/a/./b"; }), "\"..\""));
    BOOST_TEST(contains(refused_with([](auto& s) { s.working_dir = "/work\n"; }), "control character"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.working_dir = "/" + std::string(5000, 'a'); }), "longer than 4096"));
}

BOOST_AUTO_TEST_CASE(arguments_carry_no_nul_and_fit_exec) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.command = {"sh", std::string("a\0b", 3)}; }), "command[1]"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.command = {std::string(131'072, 'x')}; }), "one argument is at most"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.entrypoint = std::vector<std::string>{std::string("\0", 1)}; }),
                        "entrypoint[0]"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.command.assign(10'001, "x"); }), "at most 10000"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.command.assign(10, std::string(120'000, 'x')); }),
                        "add up to"));
    auto s = minimal();
    s.command = {std::string(131'071, 'x')};  // the largest single argument
    ok(s);
}

BOOST_AUTO_TEST_CASE(environment_names_and_values_are_checked) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.env[""] = "x"; }), "empty name"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.env["A=B"] = "x"; }), "must not contain '='"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.env["A\nB"] = "x"; }), "must not contain '='"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.env["A"] = std::string("x\0y", 3); }), "NUL"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.env["A"] = std::string(131'070, 'x'); }), "one variable is at most"));
    BOOST_TEST(contains(refused_with([](auto& s) {
                            for (char c = 'a'; c < 'u'; ++c) s.env[std::string(1, c)] = std::string(100'000, 'x');
                        }),
                        "add up to"));
}

BOOST_AUTO_TEST_CASE(labels_are_checked) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.labels[""] = "x"; }), "empty key"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.labels["a\tb"] = "x"; }), "control character"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.labels["a"] = std::string("\0", 1); }), "NUL"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.labels["big"] = std::string(300'000, 'x'); }), "labels add up"));
}

BOOST_AUTO_TEST_CASE(networks_are_none_host_or_a_name) {
    for (const char* good : {"none", "host", "rtb-net", "bridge", "n"}) {
        auto s = minimal();
        s.network = good;
        ok(s);
    }
    BOOST_TEST(contains(refused_with([](auto& s) { s.network.clear(); }), "network is empty"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.network = "container:abc"; }), "not supported"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.network = "ns:/proc/1/ns/net"; }), "not supported"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.network = "bad name!"; }), "is not \"none\", \"host\" or a network"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.network = std::string(200, 'n'); }), "is not \"none\""));
}

BOOST_AUTO_TEST_CASE(port_numbers_are_in_range) {
    for (int bad : {0, -1, 65536, 1 << 30}) {
        BOOST_TEST(contains(refused_with([&](auto& s) {
                                s.network = "rtb-net";
                                s.ports = {{bad, 0}};
                            }),
                            "container_port"));
    }
    for (int bad : {-1, 65536, 70000}) {
        BOOST_TEST(contains(refused_with([&](auto& s) {
                                s.network = "rtb-net";
                                s.ports = {{80, bad}};
                            }),
                            "ports[0].host_port"));
    }
}

BOOST_AUTO_TEST_CASE(host_addresses_are_ip_literals_and_never_empty) {
    auto s = minimal();
    s.network = "rtb-net";
    for (const char* good : {"127.0.0.1", "0.0.0.0", "::1", "::", "192.168.1.10"}) {
        s.ports = {{80, 0, good}};
        ok(s);
    }
    for (const char* bad : {"localhost", "127.0.0.1.5", "[::1]", "1.2.3", "127.0.0.1 ", "::1%lo"}) {
        BOOST_TEST_CONTEXT(bad) {
            s.ports = {{80, 0, bad}};
            BOOST_TEST(contains(refused(s).what(), "is not an IPv4 or IPv6 address"));
        }
    }
    s.ports = {{80, 0, ""}};
    BOOST_TEST(contains(refused(s).what(), "0.0.0.0"));
}

BOOST_AUTO_TEST_CASE(network_none_publishes_nothing) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.ports = {{80, 0}}; }), "network \"none\" has no ports"));
}

BOOST_AUTO_TEST_CASE(host_networking_cannot_remap_a_port) {
    auto s = minimal();
    s.network = "host";
    s.ports = {{8080, 0}, {9090, 9090}};
    ok(s);
    s.ports = {{8080, 80}};
    BOOST_TEST(contains(refused(s).what(), "cannot map to container port 8080"));
}

BOOST_AUTO_TEST_CASE(a_host_port_is_published_once) {
    auto s = minimal();
    s.network = "rtb-net";
    s.ports = {{80, 8080}, {81, 8080}};
    BOOST_TEST(contains(refused(s).what(), "published twice"));
    s.ports = {{80, 8080}, {81, 8080, "127.0.0.1", port_protocol::udp}};  // another protocol
    ok(s);
    s.ports = {{80, 8080}, {81, 8080, "127.0.0.2"}};  // another address
    ok(s);
    s.ports = {{80, 0}, {80, 0}, {80, 8081}};  // one container port, several host ports
    ok(s);
    s.network = "host";
    s.ports = {{80, 0}, {80, 80, "127.0.0.2"}};  // on the host, the address does not help
    BOOST_TEST(contains(refused(s).what(), "published twice"));
}

BOOST_AUTO_TEST_CASE(bind_sources_are_absolute_and_exist) {
    auto bind = [](std::string src) {
        return [src](container_spec& s) { s.mounts = {{mount::kind::bind, src, "/mnt", false}}; };
    };
    BOOST_TEST(contains(refused_with(bind("data/x")), "is a relative path"));
    BOOST_TEST(contains(refused_with(bind("./data")), "is a relative path"));
    BOOST_TEST(contains(refused_with(bind("")), "source is empty"));
    BOOST_TEST(contains(refused_with(bind("/nope")), "does not exist on the host"));
    BOOST_TEST(contains(refused_with(bind("/data\n")), "control character"));
    BOOST_TEST(contains(refused_with(bind("/" + std::string(5000, 'd'))), "longer than 4096"));
    auto s = minimal();
    bind("/data")(s);
    ok(s);
}

BOOST_AUTO_TEST_CASE(the_hosts_root_needs_allow_root_mount) {
    auto s = minimal();
    s.mounts = {{mount::kind::bind, "/", "/host", true}};
    BOOST_TEST(contains(refused(s).what(), "host's root directory; set allow_root_mount"));
    s.mounts[0].source = "/link-to-root";
    BOOST_TEST(contains(refused(s).what(), "through a symlink"));
    s.allow_root_mount = true;
    ok(s);  // / holds the engine sockets too; allowing the root allows that
}

BOOST_AUTO_TEST_CASE(an_engine_socket_or_a_folder_holding_one_needs_allow_engine_socket_mount) {
    for (const char* src : {"/run/docker.sock", "/var/run/docker.sock", "/srv/sock-link", "/run", "/var/run", "/tmp/eng",
                            "/tmp/eng/docker", "/tmp/eng/docker/docker.sock"}) {
        BOOST_TEST_CONTEXT(src) {
            auto s = minimal();
            s.mounts = {{mount::kind::bind, src, "/mnt", true}};
            const std::string msg = refused(s).what();
            BOOST_TEST(contains(msg, "engine socket"));
            BOOST_TEST(contains(msg, "allow_engine_socket_mount"));
            s.allow_engine_socket_mount = true;
            ok(s);
        }
    }
    auto s = minimal();
    s.mounts = {{mount::kind::bind, "/tmp/eng/other", "/mnt", false}};  // a sibling of the socket's folder
    ok(s);
}

BOOST_AUTO_TEST_CASE(any_socket_named_like_an_engines_needs_allow_engine_socket_mount) {
    auto h = fake_host();
    const auto plain = h.resolve;
    h.resolve = [plain](const std::string& p) -> std::optional<std::string> {
        if (p == "/srv/other/podman.sock" || p == "/srv/other/notes.sock") return p;
        return plain(p);
    };
    h.is_engine_socket = [](const std::string& p) { return p == "/srv/other/podman.sock"; };
    auto s = minimal();
    s.mounts = {{mount::kind::bind, "/srv/other/podman.sock", "/run/podman.sock", false}};
    const auto e = error_of([&] { validate(s, h); });
    BOOST_TEST(contains(e.what(), "is an engine's API socket"));
    s.allow_engine_socket_mount = true;
    validate(s, h);
    s.allow_engine_socket_mount = false;
    s.mounts[0].source = "/srv/other/notes.sock";  // some other socket
    validate(s, h);
}

BOOST_AUTO_TEST_CASE(engine_socket_names) {
    for (const char* yes : {"/run/docker.sock", "docker.sock", "/x/podman.sock", "/run/containerd/containerd.sock",
                            "/run/buildkit/buildkitd.sock", "/var/run/crio/crio.sock"})
        BOOST_TEST_CONTEXT(yes) { BOOST_TEST(engine_socket_name(yes)); }
    for (const char* no : {"/run/docker.socket", "/run/my-docker.sock", "/run/docker.sock/x", "", "/run/x.sock"})
        BOOST_TEST_CONTEXT(no) { BOOST_TEST(!engine_socket_name(no)); }
}

BOOST_AUTO_TEST_CASE(mount_targets_are_absolute_plain_and_distinct) {
    auto target = [](std::string t) {
        return [t](container_spec& s) { s.mounts = {{mount::kind::bind, "/data", t, false}}; };
    };
    BOOST_TEST(contains(refused_with(target("mnt")), "absolute"));
    BOOST_TEST(contains(refused_with(target("/")), "must not be '/'"));
    BOOST_TEST(contains(refused_with(target("//")), "must not be '/'"));
    BOOST_TEST(contains(refused_with(target("/a/../etc")), "\"..\""));
    BOOST_TEST(contains(refused_with(target("")), "is empty"));
    BOOST_TEST(contains(refused_with([](auto& s) {
                            s.mounts = {{mount::kind::bind, "/data", "/w", false}, {mount::kind::volume, "vol", "/w/", false}};
                        }),
                        "two mounts share this target"));
    BOOST_TEST(contains(refused_with([](auto& s) {
                            s.mounts = {{mount::kind::bind, "/data", "/w", false}};
                            s.tmpfs = {{"/w", std::nullopt, std::nullopt}};
                        }),
                        "tmpfs[0].target"));
}

BOOST_AUTO_TEST_CASE(volume_names_follow_dockers_rule) {
    for (const char* bad : {"v", "../x", "-v", "v/w", "v w", "v:w"}) {
        BOOST_TEST_CONTEXT(bad) {
            BOOST_TEST(contains(refused_with([&](auto& s) { s.mounts = {{mount::kind::volume, bad, "/v", false}}; }),
                                "is not a volume name"));
        }
    }
}

BOOST_AUTO_TEST_CASE(without_a_way_to_look_at_the_host_bind_mounts_are_refused) {
    auto s = minimal();
    s.mounts = {{mount::kind::bind, "/data", "/d", false}};
    const auto e = error_of([&] { validate(s, host_filesystem{}); });
    BOOST_TEST(contains(e.what(), "host_filesystem::resolve is empty"));
    s.mounts = {{mount::kind::volume, "vol", "/d", false}};
    validate(s, host_filesystem{});  // volumes need no host
}

BOOST_AUTO_TEST_CASE(tmpfs_sizes_and_modes_are_checked) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.tmpfs = {{"/t", 0, std::nullopt}}; }), "tmpfs[0].size 0"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.tmpfs = {{"/t", std::nullopt, 010000}}; }), "not a permission mode"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.tmpfs = {{"t", std::nullopt, std::nullopt}}; }), "absolute"));
}

BOOST_AUTO_TEST_CASE(limits_are_checked_with_the_resources_rules) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.limits.memory = 1 << 20; }), "6 MiB"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.limits.pids_limit = 0; }), "pids_limit 0"));
}

BOOST_AUTO_TEST_CASE(a_health_check_has_one_command_and_sane_timing) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.health = health_check{}; }), "exactly one of shell and exec"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.health = check("true", {"true"}); }),
                        "exactly one"));
    BOOST_TEST(contains(refused_with([](auto& s) {
                            s.health = check("true");
                            s.health->interval = std::chrono::milliseconds(0);
                        }),
                        "health.interval 0 ms"));
    BOOST_TEST(contains(refused_with([](auto& s) {
                            s.health = check("true");
                            s.health->timeout = std::chrono::milliseconds(-5);
                        }),
                        "health.timeout"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.health = check("true");
                            s.health->retries = 0; }),
                        "health.retries 0"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.health = check("", {std::string("\0", 1)}); }),
                        "health.exec[0]"));
    auto s = minimal();
    s.health = check("", {"/bin/check", "--quick"});
    ok(s);
}

BOOST_AUTO_TEST_CASE(lifecycle_durations_are_checked) {
    BOOST_TEST(contains(refused_with([](auto& s) { s.stop_grace = std::chrono::seconds(-1); }), "stop_grace"));
    BOOST_TEST(contains(refused_with([](auto& s) { s.ready_timeout = std::chrono::milliseconds(0); }), "ready_timeout"));
}

BOOST_AUTO_TEST_CASE(a_hostile_image_name_is_shown_escaped_and_cut) {
    auto s = minimal();
    s.image = std::string(1000, 'A') + "\x1b[31m";
    const std::string msg = refused(s).what();
    BOOST_TEST(msg.find('\x1b') == std::string::npos);
    BOOST_TEST(msg.size() < 2000u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(local_host)

BOOST_AUTO_TEST_CASE(the_local_host_resolves_symlinks_and_knows_the_engine_socket) {
    const auto dir = std::filesystem::temp_directory_path() / ("rtb-spec-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "real");
    std::filesystem::create_directory_symlink(dir / "real", dir / "link");
    struct cleanup {
        std::filesystem::path p;
        ~cleanup() { std::filesystem::remove_all(p); }
    } guard{dir};
    const auto h = local_host_filesystem("/srv/engine/docker.sock");
    BOOST_TEST(h.resolve((dir / "link").string()).value() == std::filesystem::canonical(dir / "real").string());
    BOOST_TEST(!h.resolve((dir / "missing").string()).has_value());
    BOOST_TEST(std::count(h.engine_sockets.begin(), h.engine_sockets.end(), "/srv/engine/docker.sock") == 1);
    BOOST_TEST(std::count(h.engine_sockets.begin(), h.engine_sockets.end(), "/var/run/docker.sock") == 1);

    container_spec s = minimal();
    s.mounts = {{mount::kind::bind, (dir / "link").string(), "/w", true}};
    validate(s, h);
    s.mounts[0].source = "/srv/engine";
    BOOST_TEST(contains(error_of([&] { validate(s, h); }).what(), "does not exist"));
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ parsing

BOOST_AUTO_TEST_SUITE(docker_run_spellings)

BOOST_AUTO_TEST_CASE(assignments_split_at_the_first_equals) {
    using P = std::pair<std::string, std::string>;
    BOOST_TEST((parse_assignment("A=B", "--env") == P{"A", "B"}));
    BOOST_TEST((parse_assignment("A=", "--env") == P{"A", ""}));
    BOOST_TEST((parse_assignment("A=B=C", "--env") == P{"A", "B=C"}));
    BOOST_TEST((parse_assignment("A= spaced ", "--env") == P{"A", " spaced "}));
    BOOST_TEST(contains(error_of([] { parse_assignment("=B", "--env"); }).what(), "empty name"));
    BOOST_TEST(contains(error_of([] { parse_assignment("PATH", "--env"); }).what(), "not NAME=VALUE"));
    BOOST_TEST(contains(error_of([] { parse_assignment("", "--label"); }).what(), "--label"));
}

BOOST_AUTO_TEST_CASE(publish_forms) {
    using pp = port_protocol;
    const std::pair<const char*, port_mapping> cases[] = {
        {"80", {80, 0, "127.0.0.1", pp::tcp}},
        {"8080:80", {80, 8080, "127.0.0.1", pp::tcp}},
        {"0:80", {80, 0, "127.0.0.1", pp::tcp}},
        {"127.0.0.1:8080:80", {80, 8080, "127.0.0.1", pp::tcp}},
        {"0.0.0.0:8080:80", {80, 8080, "0.0.0.0", pp::tcp}},
        {"127.0.0.1::80", {80, 0, "127.0.0.1", pp::tcp}},
        {"[::1]:8080:80", {80, 8080, "::1", pp::tcp}},
        {"[::1]::80", {80, 0, "::1", pp::tcp}},
        {"53:53/udp", {53, 53, "127.0.0.1", pp::udp}},
        {"9/sctp", {9, 0, "127.0.0.1", pp::sctp}},
        {"65535:65535/tcp", {65535, 65535, "127.0.0.1", pp::tcp}},
        {"00080", {80, 0, "127.0.0.1", pp::tcp}},
    };
    for (const auto& [text, want] : cases) BOOST_TEST_CONTEXT(text) { BOOST_TEST((parse_port_mapping(text) == want)); }
}

BOOST_AUTO_TEST_CASE(publish_errors_say_which_part_is_wrong) {
    const std::pair<const char*, const char*> cases[] = {
        {"70000", "container port \"70000\""},
        {"1:70000", "container port \"70000\""},
        {"70000:80", "host port \"70000\""},
        {"0", "container port \"0\""},
        {"", "container port \"\""},
        {"abc", "container port \"abc\""},
        {"080000", "container port"},
        {"+80", "container port"},
        {" 80", "container port"},
        {"8080-8090:80", "port range"},
        {"80/icmp", "unknown protocol"},
        {"80/", "unknown protocol"},
        {":80", "empty host port"},
        {"::80", "empty host address"},
        {"localhost:80:80", "not an IP address"},
        {"1:2:3:4", "without brackets"},
        {"[::1]80", "[IPv6]:HOST:CONTAINER"},
        {"[::1:80", "[IPv6]:HOST:CONTAINER"},
        {"[::1]:80", "[IPv6]:HOST:CONTAINER"},
    };
    for (const auto& [text_, why] : cases) {
        const char* text = text_;  // a lambda cannot capture a structured binding in C++20 (clang 14)
        BOOST_TEST_CONTEXT(text) {
            const auto e = error_of([&] { parse_port_mapping(text); });
            BOOST_TEST(e.value() == errc::invalid_argument);
            BOOST_TEST(contains(e.what(), "--publish"));
            BOOST_TEST(contains(e.what(), why));
        }
    }
}

BOOST_AUTO_TEST_CASE(mount_forms) {
    BOOST_TEST((parse_mount("/data:/work") == mount{mount::kind::bind, "/data", "/work", false}));
    BOOST_TEST((parse_mount("/data:/work:ro") == mount{mount::kind::bind, "/data", "/work", true}));
    BOOST_TEST((parse_mount("/data:/work:readonly") == mount{mount::kind::bind, "/data", "/work", true}));
    BOOST_TEST((parse_mount("/data:/work:rw") == mount{mount::kind::bind, "/data", "/work", false}));
    BOOST_TEST((parse_mount("cache_1:/cache") == mount{mount::kind::volume, "cache_1", "/cache", false}));
}

BOOST_AUTO_TEST_CASE(mount_errors) {
    const std::pair<const char*, const char*> cases[] = {
        {"./data:/work", "a relative path"},
        {"data/x:/work", "a relative path"},
        {"../x:/work", "a relative path"},
        {"d:/work", "a relative path"},  // one letter: neither a path nor a volume name
        {"/data", "is not SOURCE:TARGET"},
        {":/work", "empty source"},
        {"/data:", "empty target"},
        {"/data:/work:rx", "mode \"rx\""},
        {"/data:/work:ro:extra", "mode \"ro:extra\""},
        {"/a:b:/work", "mode \"/work\""},
    };
    for (const auto& [text_, why] : cases) {
        const char* text = text_;  // a lambda cannot capture a structured binding in C++20 (clang 14)
        BOOST_TEST_CONTEXT(text) {
            const auto e = error_of([&] { parse_mount(text); });
            BOOST_TEST(contains(e.what(), "--mount"));
            BOOST_TEST(contains(e.what(), why));
        }
    }
}

BOOST_AUTO_TEST_CASE(tmpfs_forms) {
    BOOST_TEST((parse_tmpfs("/scratch") == tmpfs_mount{"/scratch", std::nullopt, std::nullopt}));
    BOOST_TEST((parse_tmpfs("/scratch:size=64m") == tmpfs_mount{"/scratch", 64 << 20, std::nullopt}));
    BOOST_TEST((parse_tmpfs("/scratch:size=64m,mode=1777") == tmpfs_mount{"/scratch", 64 << 20, 01777}));
    BOOST_TEST((parse_tmpfs("/scratch:mode=700") == tmpfs_mount{"/scratch", std::nullopt, 0700}));
}

BOOST_AUTO_TEST_CASE(tmpfs_errors) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "empty target"},
        {"/s:", "nothing after ':'"},
        {"/s:size=12q", "--tmpfs size \"12q\""},
        {"/s:mode=9", "mode \"9\""},
        {"/s:mode=77777", "mode \"77777\""},
        {"/s:mode=", "mode \"\""},
        {"/s:exec", "option \"exec\""},
        {"/s:size=1m,,mode=1", "option \"\""},
    };
    for (const auto& [text_, why] : cases) {
        const char* text = text_;  // a lambda cannot capture a structured binding in C++20 (clang 14)
        BOOST_TEST_CONTEXT(text) {
            const auto e = error_of([&] { parse_tmpfs(text); });
            BOOST_TEST(contains(e.what(), "--tmpfs"));
            BOOST_TEST(contains(e.what(), why));
        }
    }
}

BOOST_AUTO_TEST_CASE(parsed_values_still_meet_validate) {
    auto s = minimal();
    s.network = "rtb-net";
    s.ports = {parse_port_mapping("8080:80"), parse_port_mapping("127.0.0.1::81/udp")};
    s.mounts = {parse_mount("/data:/data:ro"), parse_mount("vol_1:/v")};
    s.tmpfs = {parse_tmpfs("/scratch:size=1m")};
    ok(s);
    s.mounts = {parse_mount("/missing:/m")};  // parses, but the host has no /missing
    BOOST_TEST(contains(refused(s).what(), "does not exist"));
}

BOOST_AUTO_TEST_SUITE_END()
