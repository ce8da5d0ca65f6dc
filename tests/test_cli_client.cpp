// The docker/podman client's words and the argument vectors docker_cli runs:
// version parsing (real outputs, hostile ones), the build path matrix, and
// build_invocation per path, down to the exact argv.
#define BOOST_TEST_MODULE cli_client
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include "rtb/transport/cli_client.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

cli_client_version docker(std::string v) { return parse_cli_version(fmt::format("Docker version {}, build abc\n", v), "docker"); }
cli_client_version podman(std::string v) { return parse_cli_version(fmt::format("podman version {}\n", v), "podman"); }

cli_capabilities caps_for(cli_build_path path) {
    cli_capabilities c;
    c.program = path == cli_build_path::podman ? "podman" : "docker";
    c.kind = path == cli_build_path::podman ? cli_kind::podman : cli_kind::docker;
    c.path = path;
    return c;
}

build_request minimal() {
    build_request r;
    r.tags = {"local/app:1"};
    return r;
}

std::vector<std::string> argv_of(cli_build_path path, const build_request& r, cli_build_settings s = {}) {
    return build_invocation(r, caps_for(path), s, "/tmp/iid").argv;
}

cli_build_settings with_builder(std::string b) {
    cli_build_settings s;
    s.builder = std::move(b);
    return s;
}

bool has(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

// ------------------------------------------------------------ --version

BOOST_AUTO_TEST_CASE(docker_20_10_version_line_is_parsed) {
    const auto v = parse_cli_version("Docker version 20.10.24+dfsg1, build 297e128\n", "/usr/bin/docker");
    BOOST_TEST((v.kind == cli_kind::docker));
    BOOST_TEST(v.version == "20.10.24+dfsg1");
    BOOST_TEST((v.parsed == docker_api::product_version{20, 10, 24}));
}

BOOST_AUTO_TEST_CASE(docker_28_and_podman_version_lines_are_parsed) {
    BOOST_TEST(docker("28.2.2").version == "28.2.2");
    const auto p = parse_cli_version("podman version 4.3.1\n", "podman");
    BOOST_TEST((p.kind == cli_kind::podman));
    BOOST_TEST((p.parsed == docker_api::product_version{4, 3, 1}));
    // podman-docker: podman installed as `docker` says what it is
    BOOST_TEST((parse_cli_version("Emulate Docker CLI using podman.\npodman version 4.9.3\n", "docker").kind ==
                cli_kind::podman));
    BOOST_TEST(parse_cli_version("Docker version 19.03.8\r\n", "docker").version == "19.03.8");
}

BOOST_AUTO_TEST_CASE(an_unknown_program_is_unsupported_and_named) {
    const auto e = error_of([] { parse_cli_version("nerdctl version 1.7.0\n", "/opt/nerdctl"); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(contains(e.what(), "/opt/nerdctl"));
    BOOST_TEST(contains(e.what(), "install"));
    BOOST_TEST(error_of([] { parse_cli_version("", "docker"); }).value() == errc::unsupported_version);
    BOOST_TEST(error_of([] { parse_cli_version("podman version \n", "podman"); }).value() == errc::unsupported_version);
}

BOOST_AUTO_TEST_CASE(malformed_and_hostile_versions_are_parse_errors) {
    for (const auto* out : {"Docker version , build x", "Docker version abc, build x", "Docker version 20, build x",
                            "podman version 4.3.1;rm", "Docker version 20.10.\x01, build"})
        BOOST_TEST(error_of([&] { parse_cli_version(out, "docker"); }).value() == errc::parse_error, out);
    const std::string huge = "Docker version " + std::string(100'000, '1');
    BOOST_TEST(error_of([&] { parse_cli_version(huge, "docker"); }).value() == errc::parse_error);
    const std::string long_token = "Docker version 1.2." + std::string(100, '3') + ", build";
    BOOST_TEST(error_of([&] { parse_cli_version(long_token, "docker"); }).value() == errc::parse_error);
}

// ------------------------------------------------------------ buildx, server

BOOST_AUTO_TEST_CASE(buildx_version_is_read_from_a_successful_answer_only) {
    BOOST_TEST(parse_buildx_version(0, "github.com/docker/buildx v0.10.4 c513d34\n").value() == "v0.10.4");
    BOOST_TEST(parse_buildx_version(0, "github.com/docker/buildx 0.11.2+ds1 1234\n").value() == "0.11.2+ds1");
    BOOST_TEST(!parse_buildx_version(1, "docker: 'buildx' is not a docker command.\n"));
    BOOST_TEST(!parse_buildx_version(0, "docker: 'buildx' is not a docker command.\n"));  // exit 0, wrong words
    BOOST_TEST(!parse_buildx_version(0, ""));
    BOOST_TEST(!parse_buildx_version(0, "github.com/docker/buildx $(id) x\n"));
    BOOST_TEST(!parse_buildx_version(0, std::string(100'000, 'x')));
}

BOOST_AUTO_TEST_CASE(server_version_skips_warnings_and_refuses_garbage) {
    BOOST_TEST(parse_server_version("20.10.24+dfsg1\n", "docker").first == "20.10.24+dfsg1");
    BOOST_TEST(parse_server_version("WARNING: something odd\n28.0.1\n", "docker").first == "28.0.1");
    for (const auto* out : {"", "\n", "Cannot connect to the Docker daemon", "version"})
        BOOST_TEST(error_of([&] { parse_server_version(out, "docker"); }).value() == errc::parse_error, out);
}

// ------------------------------------------------------------ the path matrix

BOOST_AUTO_TEST_CASE(automatic_prefers_buildx_then_builtin_buildkit_then_legacy) {
    using P = cli_build_path;
    const auto a = cli_build_preference::automatic;
    BOOST_TEST((choose_build_path("docker", docker("20.10.24"), "20.10.24", "v0.10.4", a).path == P::buildx));
    BOOST_TEST((choose_build_path("docker", docker("20.10.24"), "20.10.24", std::nullopt, a).path == P::buildkit));
    BOOST_TEST((choose_build_path("docker", docker("18.09.0"), "18.09.0", std::nullopt, a).path == P::buildkit));
    BOOST_TEST((choose_build_path("docker", docker("22.06.0"), "20.10.24", std::nullopt, a).path == P::buildkit));
    const auto d28 = choose_build_path("docker", docker("28.2.2"), "20.10.24", std::nullopt, a);
    BOOST_TEST((d28.path == P::legacy));
    BOOST_TEST(contains(d28.reason, "docker-buildx"));
    BOOST_TEST((choose_build_path("docker", docker("28.2.2"), "28.2.2", "v0.23.0", a).path == P::buildx));
    // an old client (before BuildKit) without buildx: legacy
    BOOST_TEST((choose_build_path("docker", docker("18.06.1"), "20.10.0", std::nullopt, a).path == P::legacy));
    BOOST_TEST((choose_build_path("podman", podman("4.3.1"), std::nullopt, std::nullopt, a).path == P::podman));
}

BOOST_AUTO_TEST_CASE(asked_for_paths_are_honoured_or_refused_saying_what_to_install) {
    using P = cli_build_path;
    using W = cli_build_preference;
    BOOST_TEST((choose_build_path("docker", docker("20.10.24"), "20.10.24", "v0.10.4", W::legacy).path == P::legacy));
    BOOST_TEST((choose_build_path("docker", docker("20.10.24"), "20.10.24", "v0.10.4", W::buildkit).path == P::buildkit));
    BOOST_TEST((choose_build_path("docker", docker("28.2.2"), "28.2.2", "v0.23.0", W::buildkit).path == P::buildx));
    const auto no_buildx = error_of([] { choose_build_path("docker", docker("20.10.24"), "20.10.24", std::nullopt, W::buildx); });
    BOOST_TEST(no_buildx.value() == errc::unsupported_version);
    BOOST_TEST(contains(no_buildx.what(), "docker-buildx"));
    BOOST_TEST(error_of([] { choose_build_path("docker", docker("28.2.2"), "28.2.2", std::nullopt, W::buildkit); }).value() ==
               errc::unsupported_version);
    BOOST_TEST(error_of([] { choose_build_path("podman", podman("4.3.1"), std::nullopt, std::nullopt, W::legacy); }).value() ==
               errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(engines_older_than_the_minimums_are_refused_with_the_remedy) {
    const auto old_docker = error_of([] {
        choose_build_path("docker", docker("20.10.24"), "18.06.3-ce", std::nullopt, cli_build_preference::automatic);
    });
    BOOST_TEST(old_docker.value() == errc::unsupported_version);
    BOOST_TEST(contains(old_docker.what(), "18.09"));
    BOOST_TEST(contains(old_docker.what(), "18.06.3-ce"));
    BOOST_TEST(contains(old_docker.what(), "apt-get install docker.io"));
    const auto old_podman =
        error_of([] { choose_build_path("podman", podman("3.4.4"), std::nullopt, std::nullopt, cli_build_preference::automatic); });
    BOOST_TEST(old_podman.value() == errc::unsupported_version);
    BOOST_TEST(contains(old_podman.what(), "4.3"));
    BOOST_TEST(error_of([] {
                   choose_build_path("docker", docker("20.10.24"), "banana", std::nullopt, cli_build_preference::automatic);
               }).value() == errc::parse_error);
    BOOST_TEST(error_of([] {
                   choose_build_path("docker", docker("20.10.24"), std::nullopt, std::nullopt, cli_build_preference::automatic);
               }).value() == errc::connection_failed);
}

BOOST_AUTO_TEST_CASE(build_preference_names_parse_and_others_are_refused) {
    BOOST_TEST((parse_cli_build_preference("legacy") == cli_build_preference::legacy));
    BOOST_TEST((parse_cli_build_preference("auto") == cli_build_preference::automatic));
    BOOST_TEST(error_of([] { parse_cli_build_preference("kaniko"); }).value() == errc::invalid_argument);
}

// ------------------------------------------------------------ argument vectors

BOOST_AUTO_TEST_CASE(each_path_gets_its_command_environment_and_progress_flag) {
    const auto r = minimal();
    const auto bk = build_invocation(r, caps_for(cli_build_path::buildkit), {}, "/tmp/iid");
    BOOST_TEST(bk.argv == (std::vector<std::string>{"docker", "build", "--progress=plain", "--file=Dockerfile",
                                                     "--tag=local/app:1", "--network=none", "--iidfile=/tmp/iid", "-"}),
               boost::test_tools::per_element());
    BOOST_TEST(has(bk.environment, "DOCKER_BUILDKIT=1"));
    const auto lg = build_invocation(r, caps_for(cli_build_path::legacy), {}, "/tmp/iid");
    BOOST_TEST(lg.argv == (std::vector<std::string>{"docker", "build", "--file=Dockerfile", "--tag=local/app:1",
                                                     "--network=none", "--rm=true", "--force-rm=true",
                                                     "--iidfile=/tmp/iid", "-"}),
               boost::test_tools::per_element());
    BOOST_TEST(has(lg.environment, "DOCKER_BUILDKIT=0"));
    const auto bx = build_invocation(r, caps_for(cli_build_path::buildx), with_builder("k8s-builder"), "/tmp/iid");
    BOOST_TEST(bx.argv == (std::vector<std::string>{"docker", "buildx", "build", "--progress=plain", "--file=Dockerfile",
                                                     "--tag=local/app:1", "--network=none", "--builder=k8s-builder",
                                                     "--load", "--iidfile=/tmp/iid", "-"}),
               boost::test_tools::per_element());
    const auto pd = build_invocation(r, caps_for(cli_build_path::podman), {}, "/tmp/iid");
    BOOST_TEST(pd.argv.front() == "podman");
    BOOST_TEST(!has(pd.argv, "--progress=plain"));
    BOOST_TEST(pd.environment.empty());
}

BOOST_AUTO_TEST_CASE(request_fields_become_joined_flags_one_argument_each) {
    auto r = minimal();
    r.dockerfile = "sub dir/Dockerfile.rtb";
    r.tags.push_back("127.0.0.1:5000/team/app:v2");
    r.build_args = {{"A", "x y; rm -rf / $(id)"}, {"EMPTY", ""}};
    r.labels = {{"rtb.version", "1.0"}};
    r.platform = "linux/arm64/v8";
    r.target = "runtime";
    r.network_mode = "host";
    r.no_cache = true;
    r.pull = true;
    cli_build_settings settings;
    settings.global_args = {"--log-level=warn"};
    settings.extra_args = {"--ssh=default"};
    const auto argv = argv_of(cli_build_path::buildkit, r, settings);
    BOOST_TEST(argv[1] == "--log-level=warn");
    BOOST_TEST(argv[2] == "build");
    for (const auto* want : {"--file=sub dir/Dockerfile.rtb", "--tag=127.0.0.1:5000/team/app:v2",
                             "--build-arg=A=x y; rm -rf / $(id)", "--build-arg=EMPTY=", "--label=rtb.version=1.0",
                             "--platform=linux/arm64/v8", "--target=runtime", "--network=host", "--no-cache", "--pull",
                             "--ssh=default"})
        BOOST_TEST(has(argv, want), want);
    BOOST_TEST(argv.back() == "-");
    BOOST_TEST(argv[argv.size() - 2] == "--ssh=default");  // extra args just before the context
    // labels the Dockerfile sets are not passed again (the classic builder
    // and Podman make a step of each --label)
    r.labels_in_dockerfile = true;
    for (const auto path : {cli_build_path::buildx, cli_build_path::buildkit, cli_build_path::legacy, cli_build_path::podman})
        for (const auto& a : argv_of(path, r, settings)) BOOST_TEST(!a.starts_with("--label"), a);
}

BOOST_AUTO_TEST_CASE(hostile_tags_and_values_are_refused_with_their_name) {
    for (const auto* tag : {"local/x:1;touch /tmp/p", "local/x:$(id)", "--file=/etc/passwd", "", "local/x:1 2",
                            "local/x:`id`", "-t"}) {
        auto r = minimal();
        r.tags = {tag};
        const auto e = error_of([&] { argv_of(cli_build_path::buildkit, r); });
        BOOST_TEST(e.value() == errc::invalid_argument, tag);
    }
    auto key = minimal();
    key.build_args = {{"A=B", "x"}};
    BOOST_TEST(contains(message_of([&] { argv_of(cli_build_path::legacy, key); }), "build arg"));
    key.build_args = {{"-A", "x"}};
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::legacy, key); }).value() == errc::invalid_argument);
    key.build_args = {{"", "x"}};
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::legacy, key); }).value() == errc::invalid_argument);
    auto nul = minimal();
    nul.build_args = {{"A", std::string("a\0b", 3)}};
    BOOST_TEST(contains(message_of([&] { argv_of(cli_build_path::podman, nul); }), "NUL"));
    auto label = minimal();
    label.labels = {{"a\nb", "x"}};
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::podman, label); }).value() == errc::invalid_argument);
    for (auto [field, value] : std::vector<std::pair<int, std::string>>{
             {0, "linux/amd64;id"}, {0, "-x"}, {1, "stage name"}, {1, "--x"}, {2, "none,host"}, {2, "$(id)"}}) {
        auto r = minimal();
        (field == 0 ? r.platform : field == 1 ? r.target : r.network_mode) = value;
        BOOST_TEST(error_of([&] { argv_of(cli_build_path::buildkit, r); }).value() == errc::invalid_argument, value);
    }
    auto abs = minimal();
    abs.dockerfile = "/etc/Dockerfile";
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::buildkit, abs); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::buildx, minimal(), with_builder("a;b")); }).value() ==
               errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(builder_needs_buildx) {
    const auto e = error_of([] { argv_of(cli_build_path::buildkit, minimal(), with_builder("remote")); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(contains(e.what(), "buildx"));
}

BOOST_AUTO_TEST_CASE(load_can_be_left_out_for_builders_that_push) {
    cli_build_settings settings;
    settings.load = false;
    settings.extra_args = {"--push"};
    const auto argv = argv_of(cli_build_path::buildx, minimal(), settings);
    BOOST_TEST(!has(argv, "--load"));
    BOOST_TEST(has(argv, "--push"));
}

BOOST_AUTO_TEST_CASE(resource_limits_go_to_legacy_and_podman_and_are_refused_under_buildkit) {
    auto r = minimal();
    resources limits;
    limits.memory = 512ll << 20;
    limits.memory_swap = 1024ll << 20;
    limits.nano_cpus = 1'500'000'000;
    limits.shm_size = 64ll << 20;
    r.resources = limits;
    for (auto path : {cli_build_path::legacy, cli_build_path::podman}) {
        const auto argv = argv_of(path, r);
        for (const auto* want : {"--memory=536870912", "--memory-swap=1073741824", "--cpu-period=100000",
                                 "--cpu-quota=150000", "--shm-size=67108864"})
            BOOST_TEST(has(argv, want), want);
    }
    for (auto path : {cli_build_path::buildkit, cli_build_path::buildx})
        BOOST_TEST(error_of([&] { argv_of(path, r); }).value() == errc::unsupported_version);
    resources pids;
    pids.pids_limit = 100;
    r.resources = pids;
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::legacy, r); }).value() == errc::invalid_argument);
}

// ------------------------------------------------------------ caches

BOOST_AUTO_TEST_CASE(cache_specs_split_into_type_and_attributes) {
    const auto l = parse_cache_spec("type=local,src=/var/cache/rtb");
    BOOST_TEST(l.type == "local");
    BOOST_TEST(l.attributes.at("src") == "/var/cache/rtb");
    const auto bare = parse_cache_spec("127.0.0.1:5000/cache:1");
    BOOST_TEST(bare.type == "registry");
    BOOST_TEST(bare.attributes.at("ref") == "127.0.0.1:5000/cache:1");
    for (const auto* bad : {"", "type=local,src", "src=/x", "=x", "type=local,src=\"/a,b\"", "type=local,src=/a\nb",
                            "not an image"})
        BOOST_TEST(error_of([&] { parse_cache_spec(bad); }).value() == errc::invalid_argument, bad);
    BOOST_TEST(error_of([] { parse_cache_spec(std::string(5000, 'a') + "=b"); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(buildx_passes_every_cache_spec_through) {
    auto r = minimal();
    r.cache_from = {"type=local,src=/c"};
    r.cache_to = {"type=local,dest=/c,mode=max"};
    const auto argv = argv_of(cli_build_path::buildx, r);
    BOOST_TEST(has(argv, "--cache-from=type=local,src=/c"));
    BOOST_TEST(has(argv, "--cache-to=type=local,dest=/c,mode=max"));
}

BOOST_AUTO_TEST_CASE(without_buildx_only_image_imports_pass_and_the_rest_is_refused) {
    auto from_image = minimal();
    from_image.cache_from = {"type=registry,ref=127.0.0.1:5000/c:1", "local/prev:1"};
    for (auto path : {cli_build_path::buildkit, cli_build_path::legacy, cli_build_path::podman}) {
        const auto argv = argv_of(path, from_image);
        BOOST_TEST(has(argv, "--cache-from=127.0.0.1:5000/c:1"));
        BOOST_TEST(has(argv, "--cache-from=local/prev:1"));
    }
    auto local = minimal();
    local.cache_from = {"type=local,src=/c"};
    auto export_local = minimal();
    export_local.cache_to = {"type=local,dest=/c,mode=max"};
    auto export_registry = minimal();
    export_registry.cache_to = {"type=registry,ref=127.0.0.1:5000/c:1,mode=max"};
    for (auto path : {cli_build_path::buildkit, cli_build_path::legacy, cli_build_path::podman}) {
        const auto e = error_of([&] { argv_of(path, local); });
        BOOST_TEST(e.value() == errc::unsupported_version);
        BOOST_TEST(contains(e.what(), "type=local,src=/c"));
        BOOST_TEST(error_of([&] { argv_of(path, export_local); }).value() == errc::unsupported_version);
    }
    BOOST_TEST(contains(message_of([&] { argv_of(cli_build_path::buildkit, export_registry); }), "docker-buildx"));
    BOOST_TEST(error_of([&] { argv_of(cli_build_path::legacy, export_registry); }).value() == errc::unsupported_version);
    // Podman exports to a repository
    BOOST_TEST(has(argv_of(cli_build_path::podman, export_registry), "--cache-to=127.0.0.1:5000/c:1"));
}
