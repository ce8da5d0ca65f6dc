// docker_engine's local image_exists against the CLI's `image inspect` (a
// process start per question), on the same engine and image in the same run:
// dockerd with Debian's docker CLI, Podman's service with the podman CLI.
// Needs the engines scripts/engines starts (run-engine-bench does that).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "rtb/transport/docker_engine.hpp"

extern char** environ;

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set: run benchmarks/run-engine-bench");
    return v;
}

rtb::docker_engine engine_at(const std::string& host) {
    rtb::docker_engine::options o;
    o.endpoint = rtb::http::parse_docker_host(host);
    return rtb::docker_engine(o);
}

/// Runs argv to completion, output discarded; throws unless it exits 0.
void run(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(argv[0] + " image inspect failed");
}

/// One client, its connection kept: how a builder asks.
void image_exists_rtb(benchmark::State& state, const char* host_var) {
    auto e = engine_at(need_env(host_var));
    const auto ref = rtb::image_ref::parse(need_env("RTB_TEST_BASE_IMAGE"));
    e.info();
    for (auto _ : state)
        if (!e.image_exists(ref, rtb::lookup::local)) state.SkipWithError("the base image is missing");
}

/// A new client per question: connect, ping, /version, inspect.
void image_exists_rtb_new_client(benchmark::State& state, const char* host_var) {
    const auto host = need_env(host_var);
    const auto ref = rtb::image_ref::parse(need_env("RTB_TEST_BASE_IMAGE"));
    for (auto _ : state) {
        auto e = engine_at(host);
        if (!e.image_exists(ref, rtb::lookup::local)) state.SkipWithError("the base image is missing");
    }
}

void docker_image_inspect(benchmark::State& state) {
    const std::vector<std::string> argv = {"/usr/bin/docker", "-H", need_env("RTB_DOCKER_HOST"), "image", "inspect",
                                           need_env("RTB_TEST_BASE_IMAGE")};
    for (auto _ : state) run(argv);
}

void podman_image_inspect(benchmark::State& state) {
    // the podman CLI reads the same storage the service uses (CONTAINERS_* from scripts/engines)
    const std::vector<std::string> argv = {"/usr/bin/podman", "image", "inspect", need_env("RTB_TEST_BASE_IMAGE")};
    for (auto _ : state) run(argv);
}

}  // namespace

BENCHMARK_CAPTURE(image_exists_rtb, docker, "RTB_DOCKER_HOST")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(image_exists_rtb_new_client, docker, "RTB_DOCKER_HOST")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(docker_image_inspect)->Name("cli_image_inspect/docker")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(image_exists_rtb, podman, "RTB_PODMAN_HOST")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(image_exists_rtb_new_client, podman, "RTB_PODMAN_HOST")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(podman_image_inspect)->Name("cli_image_inspect/podman")->Unit(benchmark::kMicrosecond)->UseRealTime();

BENCHMARK_MAIN();
