// docker_engine against a real engine: the same suite runs once against
// dockerd and once against Podman's service (RTB_TEST_ENGINE=docker|podman),
// with a real loopback registry, as scripts/engines starts them. A missing
// engine fails the run; nothing is skipped.
#define BOOST_TEST_MODULE docker_engine
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <set>
#include <unistd.h>

#include "rtb/transport/docker_engine.hpp"
#include "support/fake_server.hpp"
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
        throw std::runtime_error(fmt::format(
            "{} is not set: run this test through `scripts/engines run -- {}` (or meson test), which starts the "
            "engines and sets it",
            name, "test_docker_engine"));
    return v;
}

/// The engine under test, from the environment scripts/engines prints.
struct target {
    std::string engine = need_env("RTB_TEST_ENGINE");
    std::string host = need_env(engine == "podman" ? "RTB_PODMAN_HOST" : "RTB_DOCKER_HOST");
    std::string registry = need_env("RTB_REGISTRY");
    std::string base = need_env("RTB_TEST_BASE_IMAGE");
    /// Unique per run and engine, so concurrent runs never meet.
    std::string run = fmt::format("{}-{}", engine, ::getpid());

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
    image_ref local(std::string_view repo) const { return image_ref::parse(fmt::format("local/{}:{}", repo, run)); }
    image_ref remote(std::string_view repo) const {
        return image_ref::parse(fmt::format("{}/rtb-it/{}:{}", registry, repo, run));
    }
};

const target& t() {
    static const target instance;
    return instance;
}

/// Removes images a test made, whatever happens to the test.
struct cleanup {
    std::vector<image_ref> refs;
    ~cleanup() {
        try {
            auto e = t().make();
            for (const auto& r : refs) e.remove(r, true);
        } catch (const std::exception& ex) {
            BOOST_ERROR("removing the test's images failed: " << ex.what());
        }
    }
};

template <class T>
std::size_t count_of(const std::vector<build_event>& ev) {
    return static_cast<std::size_t>(std::count_if(ev.begin(), ev.end(), [](const auto& e) { return std::holds_alternative<T>(e); }));
}

}  // namespace

BOOST_AUTO_TEST_CASE(info_names_the_engine_and_negotiates_api_1_41) {
    auto e = t().make();
    const auto info = e.info();
    BOOST_TEST_MESSAGE(t().engine << ": " << info.product << " " << info.version << " API " << info.api_version);
    BOOST_TEST(info.api_version == "1.41");
    const auto v = docker_api::product_version::parse(info.version).value();
    if (t().engine == "podman") {
        BOOST_TEST(info.is_podman);
        BOOST_TEST(info.product == "Podman Engine");
        BOOST_TEST((v >= docker_api::min_podman));
    } else {
        BOOST_TEST(!info.is_podman);
        BOOST_TEST(info.product == "Docker Engine");
        BOOST_TEST((v >= docker_api::min_docker));
    }
}

BOOST_AUTO_TEST_CASE(an_older_pinned_api_version_is_used_and_works) {
    auto o = t().options();
    o.api_version = {1, 39};
    docker_engine e(o);
    BOOST_TEST(e.info().api_version == "1.39");
    BOOST_TEST(e.image_exists(image_ref::parse(t().base), lookup::local));
    BOOST_TEST(!e.images().empty());
}

BOOST_AUTO_TEST_CASE(the_base_image_exists_locally) {
    auto e = t().make();
    BOOST_TEST(e.image_exists(image_ref::parse(t().base), lookup::local));
    const auto s = e.inspect(image_ref::parse(t().base)).value();
    BOOST_TEST(s.id.starts_with("sha256:"));
}

BOOST_AUTO_TEST_CASE(an_image_never_built_does_not_exist) {
    auto e = t().make();
    BOOST_TEST(!e.image_exists(t().local("rtb-never-built"), lookup::local));
    BOOST_TEST(!e.inspect(t().local("rtb-never-built")).has_value());
}

BOOST_AUTO_TEST_CASE(a_malformed_name_is_refused_before_any_engine_is_asked) {
    for (const char* bad : {"Bad Name:1", "local/UPPER:1", "local/x:", "local//x", "local/x:tag with space",
                            "local/x@sha256:short", ""}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto e = error_of([&] { t().make().image_exists(image_ref::parse(bad), lookup::local); });
            BOOST_TEST(e.value() == errc::invalid_argument);
            BOOST_TEST(contains(e.what(), "invalid image reference"));
        }
    }
}

BOOST_AUTO_TEST_CASE(tag_then_remove) {
    auto e = t().make();
    cleanup c;
    const auto name = t().local("rtb-tagged");
    c.refs.push_back(name);
    e.tag(image_ref::parse(t().base), name);
    BOOST_TEST(e.image_exists(name, lookup::local));
    BOOST_TEST(e.inspect(name)->id == e.inspect(image_ref::parse(t().base))->id);
    BOOST_TEST(e.remove(name));
    BOOST_TEST(!e.image_exists(name, lookup::local));
    BOOST_TEST(!e.remove(name));  // already gone
    BOOST_TEST(e.image_exists(image_ref::parse(t().base), lookup::local));  // the base keeps its name
}

BOOST_AUTO_TEST_CASE(tagging_a_missing_image_is_not_found) {
    const auto err = error_of([] { t().make().tag(t().local("rtb-never-built"), t().local("rtb-other")); });
    BOOST_TEST(err.value() == errc::not_found);
    BOOST_TEST(contains(err.what(), "rtb-never-built"));
}

BOOST_AUTO_TEST_CASE(push_to_and_pull_from_the_loopback_registry_with_progress) {
    auto e = t().make();
    cleanup c;
    const auto remote = t().remote("busybox");
    c.refs.push_back(remote);
    e.tag(image_ref::parse(t().base), remote);

    std::vector<build_event> pushing;
    const auto pushed = e.push(remote, [&](const build_event& ev) { pushing.push_back(ev); });
    BOOST_TEST(pushed.digest.starts_with("sha256:"));
    BOOST_TEST(pushed.digest.size() == 71u);
    BOOST_TEST(count_of<events::progress>(pushing) + count_of<events::log_line>(pushing) > 0u);

    BOOST_TEST(e.remove(remote));
    BOOST_TEST(!e.image_exists(remote, lookup::local));
    std::vector<build_event> pulling;
    BOOST_TEST(e.image_exists(remote, lookup::local_then_pull, [&](const build_event& ev) { pulling.push_back(ev); }));
    BOOST_TEST(count_of<events::progress>(pulling) + count_of<events::log_line>(pulling) > 0u);
    BOOST_TEST(e.image_exists(remote, lookup::local));
}

BOOST_AUTO_TEST_CASE(an_image_the_registry_lacks_does_not_exist_even_after_a_pull) {
    auto e = t().make();
    const auto absent = t().remote("absent");
    BOOST_TEST(!e.image_exists(absent, lookup::local_then_pull));
    const auto err = error_of([&] { e.pull(absent, {}); });
    BOOST_TEST(err.value() == errc::not_found);
    BOOST_TEST(contains(err.what(), absent.str()));
}

BOOST_AUTO_TEST_CASE(pushing_an_image_that_is_not_there_is_not_found) {
    const auto err = error_of([] { t().make().push(t().remote("never-tagged"), {}); });
    BOOST_TEST(err.value() == errc::not_found);
}

BOOST_AUTO_TEST_CASE(a_build_applies_args_labels_and_target_and_lists_by_label) {
    auto e = t().make();
    cleanup c;
    build_request r;
    r.tags = {t().local("rtb-built").str()};
    c.refs.push_back(t().local("rtb-built"));
    r.dockerfile = "sub/Dockerfile.rtb";
    r.build_args = {{"GREETING", "hello rtb"}};
    r.labels = {{"rtb.test.run", t().run}};
    r.target = "base";
    r.platform = "linux/amd64";
    r.cache_from = {t().base};
    const auto tar = mini_tar({{"sub/Dockerfile.rtb",
                                fmt::format("FROM {} AS base\nARG GREETING\nLABEL greeting=\"$GREETING\"\n"
                                            "RUN echo \"$GREETING\" > /greeting && cat /greeting\n"
                                            "FROM base AS final\nLABEL stage=final\n",
                                            t().base)},
                               {"file.txt", "context file\n"}});
    std::vector<build_event> ev;
    const auto result = e.build_tar(r, reader_over(tar, 1000), [&](const build_event& x) { ev.push_back(x); });
    BOOST_TEST(result.image_id.starts_with("sha256:"));
    BOOST_TEST(count_of<events::step>(ev) >= 3u);
    bool echoed = false;
    for (const auto& x : ev)
        if (const auto* l = std::get_if<events::log_line>(&x)) echoed = echoed || l->text == "hello rtb";
    BOOST_TEST(echoed);

    const auto s = e.inspect(t().local("rtb-built")).value();
    BOOST_TEST(s.labels.at("greeting") == "hello rtb");  // the build arg reached the Dockerfile
    BOOST_TEST(s.labels.at("rtb.test.run") == t().run);
    BOOST_TEST(!s.labels.contains("stage"));             // the target stopped at "base"

    const auto mine = e.images({"rtb.test.run=" + t().run});
    BOOST_REQUIRE(mine.size() == 1u);
    BOOST_TEST(mine[0].id == result.image_id);
    BOOST_TEST(mine[0].labels.at("rtb.test.run") == t().run);
    BOOST_TEST(e.images({"rtb.test.run=" + t().run, "greeting=hello rtb"}).size() == 1u);
    BOOST_TEST(e.images({"rtb.test.run=" + t().run + "-other"}).empty());

    BOOST_TEST(e.remove(t().local("rtb-built"), true));
    BOOST_TEST(e.images({"rtb.test.run=" + t().run}).empty());
}

BOOST_AUTO_TEST_CASE(a_failing_run_is_build_failed_with_exit_code_3_and_the_step) {
    auto e = t().make();
    cleanup c;
    build_request r;
    r.tags = {t().local("rtb-fails").str()};
    c.refs.push_back(t().local("rtb-fails"));
    const auto tar = mini_tar({{"Dockerfile", fmt::format("FROM {}\nRUN echo about to fail && exit 3\n", t().base)}});
    const auto err = error_of([&] { e.build_tar(r, reader_over(tar), {}); });
    BOOST_TEST(err.value() == errc::build_failed);
    BOOST_REQUIRE(err.build().has_value());
    BOOST_TEST(err.build()->exit_code.value() == 3);
    BOOST_TEST(contains(err.build()->failing_step, "RUN echo about to fail && exit 3"));
    const auto& tail = err.build()->log_tail;
    BOOST_TEST((std::find(tail.begin(), tail.end(), "about to fail") != tail.end()));
    BOOST_TEST(!e.image_exists(t().local("rtb-fails"), lookup::local));
}

BOOST_AUTO_TEST_CASE(a_bad_dockerfile_is_build_failed_naming_the_problem) {
    auto e = t().make();
    const auto tar = mini_tar({{"Dockerfile", "FROM\n"}});
    build_request r;
    const auto err = error_of([&] { e.build_tar(r, reader_over(tar), {}); });
    // Docker answers 400/500 before streaming; Podman reports it in the stream.
    BOOST_TEST((err.value() == errc::build_failed || err.value() == errc::invalid_argument ||
                err.value() == errc::server_error));
    BOOST_TEST(contains(err.what(), "building an image through " + http::parse_docker_host(t().host).describe()));
}

/// Podman's build working containers ("external" to libpod), by id.
std::set<std::string> podman_working_containers(docker_engine& e) {
    std::set<std::string> ids;
    if (t().engine != "podman") return ids;
    const auto r = e.http().send({"GET", "/v4.0.0/libpod/containers/json?all=true&external=true"});
    http::throw_for_status(r, "listing Podman's external containers");
    simdjson::dom::parser parser;
    for (auto c : parser.parse(r.body).get_array()) ids.emplace(std::string_view(c["Id"].get_string()));
    return ids;
}

BOOST_AUTO_TEST_CASE(cancelling_a_slow_build_aborts_it) {
    auto e = t().make();
    const auto containers_before = podman_working_containers(e);
    cleanup c;
    build_request r;
    r.tags = {t().local("rtb-slow").str()};
    c.refs.push_back(t().local("rtb-slow"));
    const auto tar =
        // Podman 4.3 lets a build's RUN finish after its client has gone (see
        // docs/engines.md): keep the sleep short and make it fail, so no image
        // appears later.
        mini_tar({{"Dockerfile", fmt::format("FROM {}\nRUN echo sleeping && sleep 10 && echo woke && exit 9\n", t().base)}});
    std::stop_source stop;
    bool saw_sleeping = false, saw_woke = false;
    const auto err = error_of([&] {
        e.build_tar(r, reader_over(tar), [&](const build_event& x) {
            if (const auto* l = std::get_if<events::log_line>(&x)) {
                if (l->text == "sleeping") {
                    saw_sleeping = true;
                    // from another thread, as a signal handler or a UI would
                    std::thread([&stop] { stop.request_stop(); }).detach();
                }
                if (l->text == "woke") saw_woke = true;
            }
        }, stop.get_token());
    });
    BOOST_TEST(saw_sleeping);
    BOOST_TEST(!saw_woke);
    BOOST_TEST(err.value() == errc::cancelled);
    BOOST_TEST(!e.image_exists(t().local("rtb-slow"), lookup::local));
    // the engine still answers on a fresh client after the abort
    BOOST_TEST(t().make().image_exists(image_ref::parse(t().base), lookup::local));
    // Podman 4.3 keeps the cancelled build's working container (docs/engines.md): remove it
    for (const auto& id : podman_working_containers(e))
        if (!containers_before.contains(id))
            http::throw_for_status(e.http().send({"DELETE", "/v4.0.0/libpod/containers/" + id + "?force=true"}),
                                   "removing a working container");
}

BOOST_AUTO_TEST_CASE(an_engine_that_is_not_running_is_connection_failed_naming_the_socket) {
    temp_tree dir;
    const auto sock = (dir / "stopped-engine.sock").string();
    auto o = t().options();
    o.endpoint = http::endpoint::unix_socket(sock);
    const auto err = error_of([&] { docker_engine(o).image_exists(image_ref::parse(t().base), lookup::local); });
    BOOST_TEST(err.value() == errc::connection_failed);
    BOOST_TEST(contains(err.what(), "unix socket " + sock));
}

BOOST_AUTO_TEST_CASE(no_file_descriptor_is_left_behind) {
    t().make().info();  // libcurl's one-time global state
    const auto before = open_fds();
    {
        auto e = t().make();
        cleanup c;
        const auto name = t().local("rtb-fd-check");
        c.refs.push_back(name);
        e.info();
        e.image_exists(image_ref::parse(t().base), lookup::local);
        e.tag(image_ref::parse(t().base), name);
        e.images({"rtb.none"});
        e.remove(name);
        error_of([&] { e.pull(t().remote("absent"), {}); });
    }
    BOOST_TEST(open_fds() == before);
}
