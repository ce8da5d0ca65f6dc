// docker_cli against real engines through real client programs, once per
// client path (RTB_TEST_CLI = the program, RTB_TEST_CLI_PATH = the path it
// must detect): Debian's /usr/bin/docker 20.10 (built-in BuildKit),
// /usr/local/bin/docker 28.x without buildx (legacy builder), podman (Buildah).
// The engines come from scripts/engines (DOCKER_HOST, CONTAINERS_CONF and
// CONTAINERS_STORAGE_CONF point the clients at them). Nothing is skipped: a
// missing client fails the run and names itself.
#define BOOST_TEST_MODULE docker_cli
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <dirent.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include "rtb/context/dockerfile_template.hpp"
#include "rtb/policy/buildx_local_cache.hpp"
#include "rtb/policy/registry_cache.hpp"
#include "rtb/policy/rolling_logger.hpp"
#include "rtb/detail/subprocess.hpp"
#include "rtb/transport/docker_cli.hpp"
#include "support/checks.hpp"
#include "support/temp_tree.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(fmt::format("{} is not set: run this test through meson test (suite integration), "
                                             "which runs it under scripts/engines with RTB_TEST_CLI set",
                                             name));
    return v;
}

struct target {
    std::string program = need_env("RTB_TEST_CLI");
    std::string expected_path = need_env("RTB_TEST_CLI_PATH");
    std::string base = need_env("RTB_TEST_BASE_IMAGE");
    std::string run = fmt::format("{}-{}", expected_path, ::getpid());

    target() {
        if (program.find('/') != std::string::npos && ::access(program.c_str(), X_OK) != 0)
            throw std::runtime_error(fmt::format("the client {} under test is not installed on this machine", program));
    }
    docker_cli make(docker_cli::options o = {}) const {
        o.program = program;
        o.stop_grace = std::chrono::milliseconds(15'000);
        return docker_cli(std::move(o));
    }
    std::string image(std::string_view repo) const { return fmt::format("local/rtb-cli-{}:{}", repo, run); }
};

const target& t() {
    static const target instance;
    return instance;
}

/// Collects events; keeps log lines for assertions.
struct collecting_logger {
    std::vector<build_event> events;
    std::vector<std::string> messages;
    void log(log_level, std::string_view m) { messages.emplace_back(m); }
    void on_event(const build_event& e) { events.push_back(e); }
    bool saw_line(std::string_view text) const {
        for (const auto& e : events)
            if (const auto* l = std::get_if<events::log_line>(&e); l && contains(l->text, text)) return true;
        return false;
    }
    std::size_t steps() const {
        return static_cast<std::size_t>(
            std::count_if(events.begin(), events.end(), [](const auto& e) { return std::holds_alternative<events::step>(e); }));
    }
};

/// Removes the images a test made, whatever happens to it.
/// Ids of the engine's dangling images (untagged, nothing built on them).
std::set<std::string> dangling_images() {
    const auto r = detail::run_program({t().program, "images", "-q", "--no-trunc", "--filter", "dangling=true"});
    if (r.exit_code != 0) throw std::runtime_error("listing dangling images failed: " + r.err);
    std::set<std::string> out;
    std::istringstream lines(r.out);
    for (std::string id; std::getline(lines, id);)
        if (!id.empty()) out.insert(id);
    return out;
}

/// Removes the names the test made at the end. Images a build left without
/// a name are docker_cli's to remove (a failed build's steps); the leak
/// check around the test reports any that stay.
struct cleanup {
    std::vector<std::string> names;
    ~cleanup() {
        try {
            auto c = t().make();
            for (const auto& n : names) c.remove(image_ref::parse(n), true);
        } catch (const std::exception& e) {
            BOOST_ERROR("removing the test's images failed: " << e.what());
        }
    }
};

build_request request_in(const temp_tree& dir, std::string dockerfile, std::vector<std::string> tags) {
    dir.file("Dockerfile", dockerfile);
    build_request r;
    r.context_dir = dir.root();
    r.tags = std::move(tags);
    return r;
}

/// Pids of live processes whose command line contains `marker`.
std::vector<int> processes_with(std::string_view marker) {
    std::vector<int> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        const int pid = std::atoi(e->d_name);
        if (pid <= 0 || pid == ::getpid()) continue;
        std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
        std::string cmd((std::istreambuf_iterator<char>(in)), {});
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        std::ifstream st(fmt::format("/proc/{}/stat", pid));
        std::string stat((std::istreambuf_iterator<char>(st)), {});
        const auto close = stat.rfind(')');
        const bool zombie = close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
        if (!zombie && contains(cmd, marker)) out.push_back(pid);
    }
    ::closedir(d);
    return out;
}

/// How many containers the engine holds (Podman: Buildah's build containers too).
std::size_t container_count() {
    std::vector<std::string> argv{t().program, "ps", "-a", "-q"};
    if (t().expected_path == "podman") argv.push_back("--external");
    const auto r = detail::run_program(argv);
    if (r.exit_code != 0) throw std::runtime_error("listing containers failed: " + r.err);
    return static_cast<std::size_t>(std::count(r.out.begin(), r.out.end(), '\n'));
}

}  // namespace

BOOST_AUTO_TEST_CASE(detects_the_expected_build_path) {
    auto c = t().make();
    const auto& caps = c.capabilities();
    BOOST_TEST_MESSAGE(fmt::format("{}: client {}, server {}, path {} ({})", t().program, caps.client_version,
                                   caps.server_version, to_string(caps.path), caps.reason));
    BOOST_TEST(std::string(to_string(caps.path)) == t().expected_path);
    const auto info = c.info();
    BOOST_TEST(!info.version.empty());
    BOOST_TEST(info.is_podman == (t().expected_path == "podman"));
    BOOST_TEST(info.buildkit == (t().expected_path == "buildkit"));
}

BOOST_AUTO_TEST_CASE(builds_an_image_tags_it_and_finds_it) {
    temp_tree dir;
    cleanup clean;
    const auto name = t().image("ok");
    const auto other = t().image("ok-other");
    clean.names = {name, other};
    auto r = request_in(dir, fmt::format("FROM {}\nCOPY hello.txt /hello.txt\nRUN echo run-{} && cat /hello.txt\n", t().base, t().run), {name});
    dir.file("hello.txt", "greetings from the context\n");
    r.labels["rtb.test"] = "yes";
    auto c = t().make();
    collecting_logger log;
    BOOST_TEST(!c.image_exists(image_ref::parse(name), lookup::local));
    const auto result = c.build(r, log);
    BOOST_TEST(result.image_id.starts_with("sha256:"));
    BOOST_TEST(result.image_id.size() == 71u);
    BOOST_TEST(log.steps() >= 2u);
    BOOST_TEST(log.saw_line("greetings from the context"));
    BOOST_TEST(c.image_exists(image_ref::parse(name), lookup::local));
    c.tag(image_ref::parse(name), image_ref::parse(other));
    BOOST_TEST(c.image_exists(image_ref::parse(other), lookup::local));
    BOOST_TEST(c.remove(image_ref::parse(other)));
    BOOST_TEST(!c.image_exists(image_ref::parse(other), lookup::local));
    const auto e = error_of([&] { c.tag(image_ref::parse(t().image("never-built")), image_ref::parse(other)); });
    BOOST_TEST(e.value() == errc::not_found);
}

BOOST_AUTO_TEST_CASE(labels_in_the_dockerfile_reach_the_image_as_given_in_at_most_one_step) {
    // The builder writes its labels as one LABEL line (label_instruction)
    // and passes no --label: every engine must read the quoting back exactly.
    temp_tree dir;
    cleanup clean;
    const auto name = t().image("labels");
    clean.names = {name};
    const std::map<std::string, std::string> labels{
        {"rtb.plan", "lock"},
        {"org.example.text", "a \"quoted\" $HOME ${X:-y} back\\slash\\ 'q' =x= `c` caf\xc3\xa9\ttab"},
        {"org.example.empty", ""},
        {"org.example.spaced key", "v"}};
    auto r = request_in(dir, fmt::format("FROM {}\nCOPY hello.txt /hello.txt\n{}", t().base, label_instruction(labels)),
                        {name});
    dir.file("hello.txt", "hi\n");
    r.labels = labels;
    r.labels_in_dockerfile = true;
    auto c = t().make();
    collecting_logger log;
    c.build(r, log);
    std::size_t label_steps = 0;
    for (const auto& e : log.events)
        if (const auto* s = std::get_if<events::step>(&e); s && (s->instruction.starts_with("LABEL") || s->instruction.starts_with("label")))
            ++label_steps;
    BOOST_TEST(label_steps <= 1u);
    const auto img = c.describe_image(name, {});
    BOOST_REQUIRE(img.has_value());
    auto got = img->labels;
    got.erase("io.buildah.version");  // Podman's own
    BOOST_TEST((got == labels), fmt::format("{}", fmt::join(got, ", ")));
}

BOOST_AUTO_TEST_CASE(a_failing_step_surfaces_exit_code_3_the_step_and_the_log) {
    temp_tree dir;
    cleanup clean;
    const auto name = t().image("fail");
    clean.names = {name};
    auto r = request_in(dir,
                        fmt::format("FROM {}\nRUN echo step-two-{} > /two\nRUN echo about-to-fail-77; exit 3\n", t().base,
                                    ::getpid()),
                        {name});
    auto c = t().make();
    const auto containers = container_count();
    const auto dangling = dangling_images();
    collecting_logger log;
    const auto e = error_of([&] { c.build(r, log); });
    // The legacy builder and Podman kept step two's image; docker_cli removed it.
    BOOST_TEST((dangling_images() == dangling), "the failed build left no image without a name");
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(e.value() == errc::build_failed);
    BOOST_REQUIRE(e.build().has_value());
    BOOST_TEST(e.build()->exit_code.value_or(-1) == 3);
    BOOST_TEST(contains(e.build()->failing_step, "exit 3"));
    bool tail_has_output = false;
    for (const auto& l : e.build()->log_tail) tail_has_output |= contains(l, "about-to-fail-77");
    BOOST_TEST(tail_has_output);
    BOOST_TEST(!c.image_exists(image_ref::parse(name), lookup::local));
    BOOST_TEST(container_count() == containers);  // no build container left behind
}

BOOST_AUTO_TEST_CASE(a_failed_build_keeps_its_steps_for_the_retry_when_asked) {
    temp_tree dir;
    const auto name = t().image("fail-keep");
    auto r = request_in(dir,
                        fmt::format("FROM {}\nRUN echo step-two-keep-{} > /two\nRUN exit 3\n", t().base, ::getpid()),
                        {name});
    docker_cli::options o;
    o.keep_failed_build_layers = true;
    auto c = t().make(o);
    const auto dangling = dangling_images();
    collecting_logger log;
    BOOST_TEST(error_of([&] { c.build(r, log); }).value() == errc::build_failed);
    std::set<std::string> left;
    for (const auto& id : dangling_images())
        if (!dangling.contains(id)) left.insert(id);
    if (t().expected_path == "buildkit") {
        BOOST_TEST(left.empty(), "BuildKit keeps its cache in its own store");
    } else {
        // This test accounts for what was kept: step two, named by the build's output.
        BOOST_REQUIRE_EQUAL(left.size(), 1u);
        const auto kept = c.describe_image(*left.begin());
        BOOST_REQUIRE(kept.has_value());
        BOOST_TEST(!has_names(*kept));
        BOOST_TEST((c.remove_unused_image(kept->id) == image_removal::removed));
    }
}

BOOST_AUTO_TEST_CASE(build_args_arrive_literally_shell_characters_included) {
    temp_tree dir;
    cleanup clean;
    const auto name = t().image("args");
    clean.names = {name};
    const std::string hostile = "a b; touch /tmp/rtb-pwned-arg $(id) `id` 'q' \"d\"";
    // The RUN fails with 7 unless the value arrived byte for byte.
    auto r = request_in(dir,
                        fmt::format("FROM {}\nARG GREETING\nARG EXPECTED\nRUN test \"$GREETING\" = \"$EXPECTED\" || exit 7\n"
                                    "RUN echo \"greeting=$GREETING\"\n",
                                    t().base),
                        {name});
    r.build_args["GREETING"] = hostile;
    r.build_args["EXPECTED"] = hostile;
    auto c = t().make();
    collecting_logger log;
    BOOST_CHECK_NO_THROW(c.build(r, log));
    BOOST_TEST(!std::filesystem::exists("/tmp/rtb-pwned-arg"));
    // and a different value fails the check inside the build: the test can fail
    r.build_args["EXPECTED"] = "something else";
    r.no_cache = true;
    const auto e = error_of([&] { c.build(r, log); });
    BOOST_TEST(e.value() == errc::build_failed);
    BOOST_TEST(e.build()->exit_code.value_or(-1) == 7);
}

BOOST_AUTO_TEST_CASE(a_tag_with_shell_metacharacters_is_refused_and_never_run) {
    temp_tree dir;
    const auto marker = fmt::format("/tmp/rtb-pwned-tag-{}", ::getpid());
    auto c = t().make();
    for (const auto& tag : {fmt::format("local/x:1;touch {}", marker), fmt::format("local/x:$(touch {})", marker),
                            fmt::format("local/x:1 && touch {}", marker), std::string("--file=/etc/passwd"),
                            fmt::format("local/x:`touch {}`", marker)}) {
        auto r = request_in(dir, fmt::format("FROM {}\n", t().base), {tag});
        collecting_logger log;
        const auto e = error_of([&] { c.build(r, log); });
        BOOST_TEST(e.value() == errc::invalid_argument, tag);
        BOOST_TEST(log.events.empty());  // refused before the client ran
    }
    BOOST_TEST(!std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(cancelling_stops_the_client_and_leaves_no_process) {
    temp_tree dir;
    cleanup clean;
    const auto name = t().image("cancel");
    clean.names = {name};
    const auto seconds = 900 + ::getpid() % 97;  // a sleep nobody else runs
    const auto marker = fmt::format("sleep {}", seconds);
    auto r = request_in(dir, fmt::format("FROM {}\nRUN echo sleeping-now && {}\n", t().base, marker), {name});
    r.no_cache = true;
    auto c = t().make();
    struct signalling_logger {
        std::stop_source* stop;
        void log(log_level, std::string_view) {}
        void on_event(const build_event& e) {
            if (const auto* l = std::get_if<events::log_line>(&e); l && contains(l->text, "sleeping-now")) stop->request_stop();
        }
    };
    std::stop_source stop;
    signalling_logger log{&stop};
    const auto containers = container_count();
    // The logger asks to stop once the RUN is sleeping; the RUN would take 15 minutes.
    const auto e = error_of([&] { c.build(r, log, stop.get_token()); });
    BOOST_TEST(stop.stop_requested());
    BOOST_TEST(e.value() == errc::cancelled);
    // The engine ends the RUN's container asynchronously after the client
    // cancelled: give it a bounded while, then the process table must be clean.
    std::vector<int> left;
    for (int i = 0; i < 300; ++i) {
        left = processes_with(marker);
        if (left.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    BOOST_TEST(left.empty(), "processes still running `" << marker << "`: " << left.size());
    BOOST_TEST(processes_with(fmt::format("--tag={}", name)).empty());  // the client itself
    BOOST_TEST(!c.image_exists(image_ref::parse(name), lookup::local));
    // the engine removes the cancelled build's container asynchronously too
    std::size_t now = container_count();
    for (int i = 0; i < 300 && now != containers; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        now = container_count();
    }
    BOOST_TEST(now == containers);
}

BOOST_AUTO_TEST_CASE(cache_options_this_path_cannot_honour_are_refused_before_running) {
    temp_tree dir, cache_dir;
    auto r = request_in(dir, fmt::format("FROM {}\n", t().base), {t().image("cache")});
    buildx_local_cache local({.directory = cache_dir.root() / "cache"});
    local.prepare(r);
    auto c = t().make();
    collecting_logger log;
    const auto e = error_of([&] { c.build(r, log); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(contains(e.what(), "cache"));
    BOOST_TEST(log.events.empty());
}

BOOST_AUTO_TEST_CASE(a_missing_program_is_not_found_and_named) {
    docker_cli::options o;
    o.program = "/nonexistent/bin/docker-rtb-test";
    docker_cli c(o);
    const auto e = error_of([&] { c.capabilities(); });
    BOOST_TEST(e.value() == errc::not_found);
    BOOST_TEST(contains(e.what(), "docker-rtb-test"));
}

BOOST_AUTO_TEST_CASE(a_missing_context_file_fails_the_build_with_the_clients_words) {
    temp_tree dir;
    cleanup clean;
    const auto name = t().image("nofile");
    clean.names = {name};
    auto r = request_in(dir, fmt::format("FROM {}\nCOPY not-there.txt /x\n", t().base), {name});
    auto c = t().make();
    collecting_logger log;
    const auto e = error_of([&] { c.build(r, log); });
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(e.value() == errc::build_failed);
    BOOST_TEST(contains(e.what(), "not-there.txt"));
}

BOOST_AUTO_TEST_CASE(pull_lookups_find_what_the_registry_has_and_answer_no_for_the_rest) {
    const auto registry = need_env("RTB_REGISTRY");
    auto c = t().make();
    const auto missing = image_ref::parse(fmt::format("{}/rtb-cli/never-pushed:{}", registry, t().run));
    BOOST_TEST(!c.image_exists(missing, lookup::local_then_pull));

    // push an image with the client itself, drop it locally, then a pull lookup brings it back
    const auto remote = image_ref::parse(fmt::format("{}/rtb-cli/pushed:{}", registry, t().run));
    cleanup clean;
    clean.names = {remote.familiar()};
    c.tag(image_ref::parse(t().base), remote);
    detail::run_options slow;
    slow.timeout = std::chrono::minutes(5);
    const auto pushed = detail::run_program({t().program, "push", remote.familiar()}, slow);
    BOOST_REQUIRE_MESSAGE(pushed.exit_code == 0, "push failed: " << pushed.out << pushed.err);
    BOOST_TEST(c.remove(remote));
    BOOST_TEST(!c.image_exists(remote, lookup::local));
    BOOST_TEST(c.image_exists(remote, lookup::local_then_pull));
    BOOST_TEST(c.image_exists(remote, lookup::local));
}

BOOST_AUTO_TEST_CASE(push_image_pushes_through_the_client_and_the_registry_then_has_it) {
    const auto registry = need_env("RTB_REGISTRY");
    auto c = t().make();
    const auto name = image_ref::parse(fmt::format("{}/rtb-cli/push-image:{}", registry, t().run));
    cleanup clean;
    clean.names = {name.familiar()};
    c.tag(image_ref::parse(t().base), name);
    BOOST_TEST(!c.in_registry(name));
    collecting_logger log;
    const auto pushed = c.push_image(name, log);
    BOOST_TEST(c.in_registry(name));
    // docker prints "TAG: digest: sha256:... size: N"; Podman prints nothing of it.
    if (t().expected_path != "podman") {
        BOOST_TEST(pushed.digest.starts_with("sha256:"), pushed.digest);
        BOOST_TEST(pushed.size > 0u);
    }
    // A registry that is not there: an error naming the image, after the client gave up.
    const auto nowhere = image_ref::parse(fmt::format("127.0.0.1:{}/rtb-cli/push-image:{}", 1, t().run));
    clean.names.push_back(nowhere.familiar());
    c.tag(image_ref::parse(t().base), nowhere);
    const auto e = error_of([&] { c.push_image(nowhere, log); });
    BOOST_TEST(contains(e.what(), "pushing " + nowhere.str()), e.what());
}
