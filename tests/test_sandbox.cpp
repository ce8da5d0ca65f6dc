// launch() and the container handle against a real engine: the same suite
// runs once against dockerd and once against Podman's service
// (RTB_TEST_ENGINE=docker|podman), as scripts/engines starts them. The
// sandboxes run a small runtime image the suite builds first (the base
// image plus a probe script). Every container carries this run's label; the
// last case checks that none is left.
#define BOOST_TEST_MODULE sandbox
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "rtb/sandbox/container.hpp"
#include "support/mini_tar.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(fmt::format("{} is not set: run this test through `scripts/engines run -- "
                                             "test_sandbox` (or meson test), which starts the engines and sets it",
                                             name));
    return v;
}

/// The probe the test image carries: prints what the cases check.
constexpr std::string_view probe_script = R"sh(#!/bin/sh
# rtb sandbox test probe
case "$1" in
  whoami) echo "uid=$(id -u) gid=$(id -g) user=$(id -un)" ;;
  pwd) pwd ;;
  env) echo "GREETING=$GREETING" ;;
  memory) cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes ;;
  pids) cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max ;;
  cpu) cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us ;;
  shm) df -k /dev/shm | tail -n 1 | awk '{ print "shm_kib=" $2 }' ;;
  spawn)
    i=0
    while [ "$i" -lt "$2" ]; do sleep 30 & i=$((i + 1)); done
    echo "spawned=$i" ;;
  *) echo "probe: unknown command $1" >&2; exit 64 ;;
esac
)sh";

/// The engine under test and this run's names.
struct target {
    std::string engine = need_env("RTB_TEST_ENGINE");
    std::string host = need_env(engine == "podman" ? "RTB_PODMAN_HOST" : "RTB_DOCKER_HOST");
    std::string base = need_env("RTB_TEST_BASE_IMAGE");
    std::string registry = need_env("RTB_REGISTRY");  ///< scripts/engines' loopback registry (host:port)
    std::string run = fmt::format("{}-{}", engine, ::getpid());
    std::string image = fmt::format("local/rtb-sandbox-test:{}", run);
    std::string label = "rtb.test.run=" + run;

    target() {
        if (engine != "docker" && engine != "podman")
            throw std::runtime_error("RTB_TEST_ENGINE must be docker or podman, not " + engine);
    }
    docker_engine::options options() const {
        docker_engine::options o;
        o.endpoint = http::parse_docker_host(host);
        o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
        return o;
    }
    docker_engine make() const { return docker_engine(options()); }

    /// A spec for the test image, labelled with this run.
    container_spec spec(std::vector<std::string> command = {}) const {
        container_spec s;
        s.image = image;
        s.command = std::move(command);
        s.labels = {{"rtb.test.run", run}};
        s.stop_grace = std::chrono::seconds(2);
        return s;
    }
};

const target& t() {
    static const target instance;
    return instance;
}

/// Builds the test image before the first case and removes it after the
/// last, whatever happened in between.
struct suite_image {
    suite_image() {
        auto e = t().make();
        build_request r;
        r.tags = {t().image};
        r.labels = {{"rtb.test.run", t().run}};
        const auto tar = mini_tar({{"Dockerfile", fmt::format("FROM {}\n"
                                                              "COPY probe /usr/local/bin/probe\n"
                                                              "RUN chmod 755 /usr/local/bin/probe && mkdir -p /workspace "
                                                              "&& chown 65534:65534 /workspace\n"
                                                              "WORKDIR /\n",
                                                              t().base)},
                                   {"probe", std::string(probe_script)}});
        e.build_tar(r, reader_over(tar), {});
    }
    ~suite_image() {
        try {
            auto e = t().make();
            for (auto& c : list_containers(e, {t().label})) attach(e, c.id, ownership::owned).remove();
            e.remove(image_ref::parse(t().image), true);
        } catch (const std::exception& ex) {
            std::fprintf(stderr, "test_sandbox: clean-up failed: %s\n", ex.what());
        }
    }
};
BOOST_TEST_GLOBAL_FIXTURE(suite_image);

/// What a finished sandbox said.
struct outcome {
    int exit_code = -1;
    std::vector<std::string> lines;
    std::string text() const {
        std::string out;
        for (const auto& l : lines) out += l + "\n";
        return out;
    }
    bool said(std::string_view line) const { return std::find(lines.begin(), lines.end(), line) != lines.end(); }
};

/// Launches `spec`, follows its output to the end, and returns its exit code
/// and lines; the handle removes the container.
outcome run_to_end(const container_spec& spec) {
    auto e = t().make();
    auto c = launch(e, spec);
    outcome o;
    c.follow_logs([&](const build_event& ev) { o.lines.push_back(std::get<events::log_line>(ev).text); });
    o.exit_code = c.wait();
    return o;
}

/// How many containers of this run the engine has (running or not).
std::size_t ours() {
    auto e = t().make();
    return list_containers(e, {t().label}).size();
}

/// The container's inspect document, for fields container_state leaves out.
struct raw_inspect {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    raw_inspect(docker_engine& e, const std::string& id) {
        const auto r = e.http().send({"GET", container_api::inspect_target(e.api_version(), id)});
        BOOST_REQUIRE(r.status == 200);
        body = r.body;
        BOOST_REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    }
    std::int64_t host_config(std::string_view key) { return doc["HostConfig"][key].get_int64().value(); }
    std::string body;
};

int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace

// ------------------------------------------------------------- basics

BOOST_AUTO_TEST_CASE(the_suite_starts_with_no_container_of_its_own) {
    BOOST_TEST_MESSAGE(t().engine << ": run " << t().run);
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(a_command_runs_and_its_exit_code_and_output_come_back) {
    const auto o = run_to_end(t().spec({"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"}));
    BOOST_TEST(o.exit_code == 7);
    BOOST_TEST(o.said("to-stdout"));
    BOOST_TEST(o.said("to-stderr"));
}

BOOST_AUTO_TEST_CASE(exit_codes_come_back_as_they_are) {
    BOOST_TEST(run_to_end(t().spec({"true"})).exit_code == 0);
    BOOST_TEST(run_to_end(t().spec({"false"})).exit_code == 1);
    BOOST_TEST(run_to_end(t().spec({"sh", "-c", "exit 255"})).exit_code == 255);
}

BOOST_AUTO_TEST_CASE(environment_workdir_and_user_are_applied) {
    auto s = t().spec({"sh", "-c", "probe whoami; probe pwd; probe env"});
    s.env = {{"GREETING", "hello sandbox = yes"}};
    s.working_dir = "/workspace";
    s.user = "65534:65534";
    const auto o = run_to_end(s);
    BOOST_TEST(o.exit_code == 0);
    BOOST_TEST(o.said("uid=65534 gid=65534 user=nobody"), o.text());
    BOOST_TEST(o.said("/workspace"), o.text());
    BOOST_TEST(o.said("GREETING=hello sandbox = yes"), o.text());
}

BOOST_AUTO_TEST_CASE(a_user_given_by_name_is_looked_up_in_the_image) {
    auto s = t().spec({"probe", "whoami"});
    s.user = "nobody";
    BOOST_TEST(run_to_end(s).said("uid=65534 gid=65534 user=nobody"));
}

BOOST_AUTO_TEST_CASE(the_entrypoint_is_replaced) {
    auto s = t().spec({"replaced", "entrypoint"});
    s.entrypoint = std::vector<std::string>{"/bin/echo", "via"};
    BOOST_TEST(run_to_end(s).said("via replaced entrypoint"));
}

BOOST_AUTO_TEST_CASE(a_tty_containers_output_is_read_unframed) {
    auto s = t().spec({"sh", "-c", "echo one; echo two >&2"});
    s.tty = true;
    const auto o = run_to_end(s);
    BOOST_TEST(o.said("one"));
    BOOST_TEST(o.said("two"));  // a TTY has one stream
}

BOOST_AUTO_TEST_CASE(logs_are_followed_as_events_while_the_container_runs) {
    auto e = t().make();
    auto c = launch(e, t().spec({"sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done; printf 'no newline'"}));
    std::vector<std::string> lines;
    c.follow_logs([&](const build_event& ev) { lines.push_back(std::get<events::log_line>(ev).text); });
    const std::vector<std::string> want = {"tick 1", "tick 2", "tick 3", "no newline"};
    BOOST_TEST(lines == want);
    BOOST_TEST(c.wait() == 0);
    BOOST_TEST(c.wait() == 0);  // kept
    BOOST_TEST(c.tail(2) == (std::vector<std::string>{"tick 3", "no newline"}));
}

// ------------------------------------------------------------- limits

BOOST_AUTO_TEST_CASE(memory_pids_cpu_and_shm_limits_are_in_force) {
    auto s = t().spec({"sh", "-c", "probe memory; probe pids; probe cpu; probe shm"});
    s.limits.memory = 64 << 20;
    s.limits.memory_swap = 128 << 20;
    s.limits.pids_limit = 32;
    s.limits.nano_cpus = 500'000'000;
    s.limits.shm_size = 16 << 20;
    auto e = t().make();
    auto c = launch(e, s);
    raw_inspect i(e, c.id());
    BOOST_TEST(i.host_config("Memory") == 64 << 20);
    BOOST_TEST(i.host_config("MemorySwap") == 128 << 20);
    BOOST_TEST(i.host_config("PidsLimit") == 32);
    BOOST_TEST(i.host_config("NanoCpus") == 500'000'000);
    BOOST_TEST(i.host_config("ShmSize") == 16 << 20);
    std::vector<std::string> lines;
    c.follow_logs([&](const build_event& ev) { lines.push_back(std::get<events::log_line>(ev).text); });
    BOOST_TEST(c.wait() == 0);
    const std::vector<std::string> want = {std::to_string(64 << 20), "32", "50000", "shm_kib=16384"};
    BOOST_TEST(lines == want);  // cgroup v1 here: memory.limit_in_bytes, pids.max, cfs_quota_us over 100 ms
}

BOOST_AUTO_TEST_CASE(cpu_quota_and_period_are_in_force) {
    auto s = t().spec({"probe", "cpu"});
    s.limits.cpu_quota = 25'000;
    s.limits.cpu_period = 50'000;
    auto o = run_to_end(s);
    BOOST_TEST(o.said("25000"), o.text());
}

BOOST_AUTO_TEST_CASE(spawning_past_the_pids_limit_fails_inside) {
    auto s = t().spec({"probe", "spawn", "64"});
    s.limits.pids_limit = 16;
    const auto limited = run_to_end(s);
    BOOST_TEST(limited.exit_code != 0);
    BOOST_TEST(contains(limited.text(), "can't fork"), limited.text());
    BOOST_TEST(!limited.said("spawned=64"));

    s.limits.pids_limit = 256;  // the same with room: the limit made the difference
    const auto roomy = run_to_end(s);
    BOOST_TEST(roomy.exit_code == 0);
    BOOST_TEST(roomy.said("spawned=64"), roomy.text());
}

BOOST_AUTO_TEST_CASE(allocating_past_the_memory_limit_is_killed_inside) {
    auto s = t().spec({"sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd=$?"});
    s.limits.memory = 16 << 20;
    s.limits.memory_swap = 16 << 20;  // no swap to escape to
    const auto o = run_to_end(s);
    BOOST_TEST(o.said("dd=137"), o.text());  // SIGKILL from the OOM killer
    s.limits.memory = 256 << 20;
    s.limits.memory_swap = 256 << 20;
    BOOST_TEST(run_to_end(s).said("dd=0"));
}

// ------------------------------------------------------------- network

BOOST_AUTO_TEST_CASE(by_default_a_sandbox_has_no_network) {
    const auto o = run_to_end(t().spec({"sh", "-c", "ls /sys/class/net"}));
    BOOST_TEST(o.lines == std::vector<std::string>{"lo"});
}

// The engines run with --bridge=none (nothing but loopback here), so the
// published port is tested on the host network: the sandbox's httpd listens
// on 127.0.0.1:PORT of the host, launch() waits until the health check
// fetches the page, and the test fetches it too.
BOOST_AUTO_TEST_CASE(a_published_port_answers_on_loopback_once_healthy) {
    const int port = free_loopback_port();
    auto s = t().spec({"sh", "-c",
                       fmt::format("mkdir -p /tmp/www && echo hello-from-sandbox > /tmp/www/index.html && "
                                   "exec httpd -f -p 127.0.0.1:{} -h /tmp/www",
                                   port)});
    s.network = "host";
    s.ports = {{port, 0}};
    health_check h;
    h.shell = fmt::format("wget -q -O /dev/null http://127.0.0.1:{}/", port);
    h.interval = std::chrono::milliseconds(200);
    s.health = h;
    s.ready = readiness::healthy;
    auto e = t().make();
    auto c = launch(e, s);
    BOOST_TEST(c.host_port(port).value() == port);
    BOOST_TEST(c.ports().at(0).host_ip == "127.0.0.1");
    http::client client(http::endpoint::tcp("127.0.0.1", port));
    const auto r = client.send({"GET", "/"});
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == "hello-from-sandbox\n");
    BOOST_TEST(c.inspect().health.value().status == "healthy");
}

BOOST_AUTO_TEST_CASE(a_network_that_does_not_exist_is_not_found_and_nothing_is_created) {
    auto s = t().spec({"true"});
    s.network = "rtb-no-such-network";
    const auto before = ours();
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, s);
    });
    BOOST_TEST(err.value() == errc::not_found);
    BOOST_TEST(contains(err.what(), "network \"rtb-no-such-network\" does not exist"));
    BOOST_TEST(ours() == before);
}

// ------------------------------------------------------------- storage

BOOST_AUTO_TEST_CASE(mounts_are_read_only_where_asked_and_tmpfs_is_writable) {
    temp_tree dir;
    dir.file("ro/seen.txt", "from the host\n");
    dir.dir("rw");
    auto s = t().spec({"sh", "-c",
                       "cat /ro/seen.txt; "
                       "echo x > /ro/new 2>/dev/null && echo ro-write=ok || echo ro-write=failed; "
                       "echo written > /rw/out && echo rw-write=ok; "
                       "su -s /bin/sh nobody -c 'echo t > /scratch/f' && echo tmpfs-write=ok; "
                       "echo y > /etc/new 2>/dev/null && echo rootfs-write=ok || echo rootfs-write=failed"});
    s.mounts = {{mount::kind::bind, (dir / "ro").string(), "/ro", true},
                {mount::kind::bind, (dir / "rw").string(), "/rw", false}};
    s.tmpfs = {{"/scratch", 1 << 20, 01777}};
    s.read_only_rootfs = true;
    const auto o = run_to_end(s);
    BOOST_TEST(o.said("from the host"), o.text());
    BOOST_TEST(o.said("ro-write=failed"), o.text());
    BOOST_TEST(o.said("rw-write=ok"), o.text());
    BOOST_TEST(o.said("tmpfs-write=ok"), o.text());
    BOOST_TEST(o.said("rootfs-write=failed"), o.text());
    BOOST_TEST(!std::filesystem::exists(dir / "ro/new"));
    std::ifstream out(dir / "rw/out");
    std::string line;
    std::getline(out, line);
    BOOST_TEST(line == "written");
}

BOOST_AUTO_TEST_CASE(a_bind_mount_through_a_symlink_mounts_what_was_checked) {
    temp_tree dir;
    dir.file("real/file.txt", "real\n");
    dir.symlink((dir / "real").string(), "link");
    auto s = t().spec({"cat", "/m/file.txt"});
    s.mounts = {{mount::kind::bind, (dir / "link").string(), "/m", true}};
    BOOST_TEST(run_to_end(s).said("real"));
}

BOOST_AUTO_TEST_CASE(a_named_volume_keeps_data_between_sandboxes) {
    const std::string volume = "rtb-test-vol-" + t().run;
    struct remove_volume {
        std::string name;
        ~remove_volume() {
            auto e = t().make();
            e.http().send({"DELETE", fmt::format("/v{}/volumes/{}?force=1", e.api_version().str(), name)});
        }
    } guard{volume};
    auto w = t().spec({"sh", "-c", "echo kept > /v/data"});
    w.mounts = {{mount::kind::volume, volume, "/v", false}};
    BOOST_TEST(run_to_end(w).exit_code == 0);
    auto r = t().spec({"cat", "/v/data"});
    r.mounts = {{mount::kind::volume, volume, "/v", true}};
    BOOST_TEST(run_to_end(r).said("kept"));
}

// ------------------------------------------------------------- refused before the engine

BOOST_AUTO_TEST_CASE(an_invalid_spec_is_refused_before_any_engine_is_asked) {
    auto o = t().options();
    o.endpoint = http::endpoint::unix_socket("/nonexistent/rtb-engine.sock");  // would be connection_failed
    docker_engine nowhere(o);
    auto relative = t().spec({"true"});
    relative.mounts = {{mount::kind::bind, "data", "/data", false}};
    auto root = t().spec({"true"});
    root.mounts = {{mount::kind::bind, "/", "/host", true}};
    auto socket = t().spec({"true"});
    const std::string engine_socket = t().make().http().where().socket_path;
    socket.mounts = {{mount::kind::bind, engine_socket, "/var/run/docker.sock", false}};
    auto memory = t().spec({"true"});
    memory.limits.memory = 1024;
    auto port = t().spec({"true"});
    port.network = "host";
    port.ports = {{70000, 0}};
    for (const auto* s : {&relative, &root, &socket, &memory, &port}) {
        const auto err = error_of([&] { launch(nowhere, *s); });
        BOOST_TEST(err.value() == errc::invalid_argument, err.what());
    }
    BOOST_TEST(contains(error_of([&] { launch(nowhere, socket); }).what(), "allow_engine_socket_mount"));
}

BOOST_AUTO_TEST_CASE(a_missing_image_is_not_found_and_nothing_is_created) {
    // Named in the loopback registry, which lacks it too: the pull launch()
    // tries first fails, and that is said.
    auto s = t().spec({"true"});
    s.image = t().registry + "/rtb-never-built:" + t().run;
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, s);
    });
    BOOST_TEST(err.value() == errc::not_found, err.what());
    BOOST_TEST(contains(err.what(), "no such image"), err.what());
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(a_missing_image_is_not_pulled_when_the_spec_says_never) {
    auto s = t().spec({"true"});
    s.image = t().registry + "/rtb-never-built:" + t().run;
    s.pull = image_pull::never;
    std::size_t events = 0;
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, s, {}, [&](const build_event&) { ++events; });
    });
    BOOST_TEST(err.value() == errc::not_found, err.what());
    BOOST_TEST(contains(err.what(), "build or pull it first"), err.what());
    BOOST_TEST(events == 0u);
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(an_image_only_in_its_registry_is_pulled_then_run) {
    // Another host built and pushed it: here it is only in the registry.
    auto e = t().make();
    const auto name = t().registry + "/rtb-sandbox-pulled:" + t().run;
    e.tag(image_ref::parse(t().base), image_ref::parse(name));
    e.push(image_ref::parse(name), {});
    BOOST_REQUIRE(e.remove(image_ref::parse(name)));
    BOOST_REQUIRE(!e.exists_locally(image_ref::parse(name)));
    auto s = t().spec({"true"});
    s.image = name;
    std::size_t progress = 0;
    {
        auto c = launch(e, s, {}, [&](const build_event& ev) { progress += std::holds_alternative<events::progress>(ev); });
        BOOST_TEST(c.wait() == 0);
        c.remove();
    }
    BOOST_TEST(progress > 0u, "the pull's progress reached on_pull");
    BOOST_TEST(e.exists_locally(image_ref::parse(name)));
    e.remove(image_ref::parse(name));
    BOOST_TEST(ours() == 0u);
}

// ------------------------------------------------------------- lifecycle

BOOST_AUTO_TEST_CASE(a_command_that_cannot_start_leaves_no_container) {
    const auto err = error_of([] {
        auto e = t().make();
        launch(e, t().spec({"/no/such/program"}));
    });
    BOOST_TEST_MESSAGE(t().engine << ": " << err.what());
    BOOST_TEST(contains(err.what(), "/no/such/program"));
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(the_handle_removes_the_container_at_scope_exit) {
    std::string id;
    {
        auto e = t().make();
        auto c = launch(e, t().spec({"sleep", "300"}));
        id = c.id();
        BOOST_TEST(c.inspect().running);
        BOOST_TEST(ours() == 1u);
    }
    BOOST_TEST(ours() == 0u);
    auto e = t().make();
    BOOST_TEST(error_of([&] { attach(e, id); }).value() == errc::not_found);
}

BOOST_AUTO_TEST_CASE(the_handle_removes_the_container_when_an_exception_passes) {
    struct boom {};
    try {
        auto e = t().make();
        auto c = launch(e, t().spec({"sleep", "300"}));
        BOOST_TEST(ours() == 1u);
        throw boom{};
    } catch (const boom&) {
    }
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(moving_a_handle_moves_the_ownership) {
    auto e = t().make();
    container outer;
    {
        auto c = launch(e, t().spec({"sleep", "300"}));
        outer = std::move(c);
        BOOST_TEST(!c);
    }
    BOOST_TEST(ours() == 1u);
    outer = container{};  // assigning over a handle removes what it had
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(stop_sends_sigterm_and_kills_after_the_grace_period) {
    // Healthy once the trap is set: a stop before that would find no handler.
    auto trapped = [](std::string trap) {
        auto s = t().spec({"sh", "-c", trap + "; touch /tmp/trapped; while :; do sleep 0.1; done"});
        health_check h;
        h.shell = "test -e /tmp/trapped";
        h.interval = std::chrono::milliseconds(100);
        s.health = h;
        s.ready = readiness::healthy;
        return s;
    };
    auto e = t().make();
    auto polite = launch(e, trapped("trap 'echo got TERM; exit 0' TERM"));
    polite.stop(std::chrono::seconds(10));
    BOOST_TEST(polite.wait() == 0);
    BOOST_TEST(polite.tail(1) == std::vector<std::string>{"got TERM"});
    auto stubborn = launch(e, trapped("trap '' TERM"));
    stubborn.stop(std::chrono::seconds(1));
    BOOST_TEST(stubborn.wait() == 137);
    polite.remove();
    polite.remove();  // twice is fine
    BOOST_TEST(ours() == 1u);
}

BOOST_AUTO_TEST_CASE(keep_alive_leaves_the_sandbox_running_for_attach) {
    auto e = t().make();
    std::string id;
    {
        auto s = t().spec({"sleep", "300"});
        s.keep_alive = true;
        auto c = launch(e, s);
        id = c.id();
        BOOST_TEST(!c.owns());
    }
    {
        auto again = attach(e, id);  // borrowed
        BOOST_TEST(again.inspect().running);
    }
    BOOST_TEST(attach(e, id).inspect().running);
    attach(e, id, ownership::owned);  // owned: removed as this temporary goes
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(a_detached_sandbox_outlives_its_handle) {
    auto e = t().make();
    std::string id;
    {
        auto c = launch(e, t().spec({"sleep", "300"}));
        id = c.detach();
        BOOST_TEST(!c);
    }
    auto c = attach(e, id, ownership::owned);
    BOOST_TEST(c.inspect().running);
    BOOST_TEST(c.id() == id);
    c.remove();
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(auto_remove_reports_the_exit_code_and_leaves_nothing) {
    auto s = t().spec({"sh", "-c", "exit 5"});
    s.auto_remove = true;
    auto e = t().make();
    auto c = launch(e, s);
    BOOST_TEST(c.wait() == 5);
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(auto_remove_of_a_long_runner_removes_it_on_stop) {
    auto s = t().spec({"sleep", "300"});
    s.auto_remove = true;
    s.stop_grace = std::chrono::seconds(1);
    {
        auto e = t().make();
        auto c = launch(e, s);
        BOOST_TEST(ours() == 1u);
    }
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(a_named_sandbox_has_its_name_and_the_name_is_unique) {
    auto s = t().spec({"sleep", "300"});
    s.name = "rtb-test-" + t().run + "-named";
    auto e = t().make();
    auto c = launch(e, s);
    BOOST_TEST(c.name() == s.name);
    BOOST_TEST(attach(e, s.name).id() == c.id());
    const auto err = error_of([&] { launch(e, s); });
    BOOST_TEST(contains(err.what(), s.name));
    BOOST_TEST(ours() == 1u);
    BOOST_TEST(c.inspect().running);
}

// ------------------------------------------------------------- readiness

BOOST_AUTO_TEST_CASE(a_sandbox_that_exits_before_it_is_healthy_is_an_error_with_its_output) {
    auto s = t().spec({"sh", "-c", "echo cannot start: no config; exit 3"});
    health_check h;
    h.shell = "test -e /tmp/ready";
    s.health = h;
    s.ready = readiness::healthy;
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, s);
    });
    BOOST_TEST(contains(err.what(), "exited with code 3 before its health check passed"), err.what());
    BOOST_TEST(contains(err.what(), "cannot start: no config"), err.what());
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(a_sandbox_never_healthy_times_out_and_is_removed) {
    auto s = t().spec({"sleep", "300"});
    health_check h;
    h.shell = "false";
    h.interval = std::chrono::milliseconds(100);
    h.retries = 1000;
    s.health = h;
    s.ready = readiness::healthy;
    s.ready_timeout = std::chrono::milliseconds(1500);
    s.stop_grace = std::chrono::seconds(1);
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, s);
    });
    BOOST_TEST(err.value() == errc::timeout, err.what());
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(healthy_readiness_needs_a_health_check) {
    auto s = t().spec({"sleep", "300"});
    s.ready = readiness::healthy;
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, s);
    });
    BOOST_TEST(err.value() == errc::invalid_argument);
    BOOST_TEST(contains(err.what(), "neither the spec nor the image has a health check"));
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(a_stop_request_cancels_the_launch_and_removes_the_container) {
    std::stop_source stop;
    stop.request_stop();
    const auto err = error_of([&] {
        auto e = t().make();
        launch(e, t().spec({"sleep", "300"}), stop.get_token());
    });
    BOOST_TEST(err.value() == errc::cancelled);
    BOOST_TEST(ours() == 0u);
}

BOOST_AUTO_TEST_CASE(following_logs_stops_on_request) {
    auto e = t().make();
    auto c = launch(e, t().spec({"sh", "-c", "echo started; exec sleep 300"}));
    std::stop_source stop;
    std::vector<std::string> lines;
    const auto err = error_of([&] {
        c.follow_logs(
            [&](const build_event& ev) {
                lines.push_back(std::get<events::log_line>(ev).text);
                stop.request_stop();  // seen the first line: enough
            },
            stop.get_token());
    });
    BOOST_TEST(err.value() == errc::cancelled);
    BOOST_TEST(lines == std::vector<std::string>{"started"});
}

// ------------------------------------------------------------- builds

BOOST_AUTO_TEST_CASE(build_limits_reach_the_builds_run_steps) {
    auto e = t().make();
    build_request r;
    const auto tag = fmt::format("local/rtb-sandbox-limits:{}", t().run);
    r.tags = {tag};
    resources limits;
    limits.memory = 64 << 20;
    limits.memory_swap = 128 << 20;
    limits.nano_cpus = 250'000'000;
    limits.shm_size = 8 << 20;
    r.resources = limits;
    const auto tar = mini_tar({{"Dockerfile", fmt::format("FROM {}\nRUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                                          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us && df -k /dev/shm | "
                                                          "tail -n 1 | awk '{{ print \"shm_kib=\" $2 }}'\n",
                                                          t().base)}});
    std::vector<std::string> lines;
    struct remove_image {
        std::string tag;
        ~remove_image() { t().make().remove(image_ref::parse(tag), true); }
    } guard{tag};
    e.build_tar(r, reader_over(tar), [&](const build_event& ev) {
        if (const auto* l = std::get_if<events::log_line>(&ev)) lines.push_back(l->text);
    });
    auto said = [&](std::string_view x) { return std::find(lines.begin(), lines.end(), x) != lines.end(); };
    BOOST_TEST(said(std::to_string(64 << 20)));
    BOOST_TEST(said("25000"));
    BOOST_TEST(said("shm_kib=8192"));
}

// ------------------------------------------------------------- the end

BOOST_AUTO_TEST_CASE(nothing_is_left_running_after_the_suite) {
    auto e = t().make();
    BOOST_TEST(list_containers(e, {t().label}).empty());
    for (const auto& c : list_containers(e))
        BOOST_TEST(c.image.find("rtb-sandbox-test:" + t().run) == std::string::npos, c.id << " " << c.image);
}
