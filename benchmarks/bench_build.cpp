// The reuse decision: the tags (the source hashed with a warm stat
// cache) and the existence query on the engine, through basic_builder::plan()
// (exactly what build_runtime_image() decides before it builds anything),
// beside the same decision made the Python/OpenHands way in the same run:
// dirhash-python + md5 of the lock files, then `docker image inspect`
// (benchmarks/reuse_baseline.py, timed inside the interpreter).
//
// The images must exist (benchmarks/run-build-bench builds them with
// `rtb build` first). Environment, as run-build-bench sets it:
//   RTB_BENCH_TREES="name=dir[,name=dir]"   source trees (absolute paths)
//   RTB_BENCH_LOCKS="file[:file]"           lock files, in order
//   RTB_BENCH_REPO                           the runtime repository
//   RTB_TEST_BASE_IMAGE, RTB_DOCKER_HOST          from scripts/engines
//   RTB_CACHE_DIR                            where the stat caches live (shared with `rtb build`)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtb/builder.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/policy/null_logger.hpp"

#ifndef RTB_BENCH_DIR
#define RTB_BENCH_DIR "benchmarks"
#endif

extern char** environ;

namespace {
namespace fs = std::filesystem;

using bench_builder = rtb::basic_builder<rtb::docker_engine, rtb::engine_layer_cache, rtb::no_retry,
                                         rtb::openhands_tags, rtb::null_logger>;

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set: run benchmarks/run-build-bench");
    return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

rtb::docker_engine engine() {
    rtb::docker_engine::options o;
    o.endpoint = rtb::http::parse_docker_host(need_env("RTB_DOCKER_HOST"));
    return rtb::docker_engine(o);
}

rtb::openhands_tags strategy() { return rtb::openhands_tags({.jobs = 0, .use_stat_cache = true}); }

/// The spec `rtb build --base-image B --source DIR --lock ... --runtime-repo R` builds.
rtb::runtime_spec spec_for(const fs::path& dir) {
    rtb::runtime_spec s;
    s.base_image = need_env("RTB_TEST_BASE_IMAGE");
    s.source_dir = dir;
    for (const auto& l : split(need_env("RTB_BENCH_LOCKS"), ':')) s.lock_files.emplace_back(l);
    s.runtime_version = rtb::version_string;  // rtb build's default --oh-version
    s.runtime_repository = need_env("RTB_BENCH_REPO");
    return s;
}

bench_builder make_builder() {
    return bench_builder(engine(), rtb::engine_layer_cache{}, rtb::no_retry{}, strategy(), rtb::null_logger{});
}

/// One builder kept across decisions: a service deciding for many tasks.
void reuse_decision(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    auto builder = make_builder();
    if (builder.plan(spec).kind != rtb::plan_kind::reuse) {  // warms the stat cache and the connection
        state.SkipWithError("the image does not exist: run benchmarks/run-build-bench");
        return;
    }
    for (auto _ : state)
        if (builder.plan(spec).kind != rtb::plan_kind::reuse) state.SkipWithError("the decision was not reuse");
}

/// A new builder (so a new engine client: connect, /_ping, the lookup) per
/// decision: what one `rtb build` process does, without the process.
void reuse_decision_new_builder(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    if (make_builder().plan(spec).kind != rtb::plan_kind::reuse) {
        state.SkipWithError("the image does not exist: run benchmarks/run-build-bench");
        return;
    }
    for (auto _ : state) {
        auto builder = make_builder();
        if (builder.plan(spec).kind != rtb::plan_kind::reuse) state.SkipWithError("the decision was not reuse");
    }
}

/// The two halves of the decision alone.
void tags_warm(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    const auto s = strategy();
    s.tags(spec);
    for (auto _ : state) benchmark::DoNotOptimize(s.tags(spec));
}

void lock_hash(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    const auto s = strategy();
    for (auto _ : state) benchmark::DoNotOptimize(s.lock_hash(spec));
}

void source_hash_warm(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    const auto s = strategy();
    s.source_hash(spec);
    for (auto _ : state) benchmark::DoNotOptimize(s.source_hash(spec));
}

void image_exists(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    const auto ref = rtb::image_ref::parse(strategy().tags(spec).source_image());
    auto e = engine();
    e.image_exists(ref, rtb::lookup::local);
    for (auto _ : state)
        if (!e.image_exists(ref, rtb::lookup::local)) state.SkipWithError("the image does not exist");
}

/// The Python/OpenHands decision: one process per iteration, a warm-up
/// decision, then one timed inside the interpreter (start-up not counted).
void python_decision(benchmark::State& state, fs::path dir) {
    const auto spec = spec_for(dir);
    std::vector<std::string> argv = {"/usr/bin/python3", RTB_BENCH_DIR "/reuse_baseline.py", "--source", dir.string(),
                                     "--base-image", spec.base_image, "--version", spec.runtime_version,
                                     "--repo", spec.runtime_repository, "--docker-host", need_env("RTB_DOCKER_HOST"),
                                     "--warmup", "1", "--runs", "1"};
    for (const auto& l : spec.lock_files) {
        argv.emplace_back("--lock");
        argv.push_back(l.string());
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    double hash_s = 0, inspect_s = 0, lock_s = 0;
    for (auto _ : state) {
        int fds[2];
        if (::pipe(fds) != 0) {
            state.SkipWithError("pipe failed");
            break;
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        pid_t pid = 0;
        const int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        std::string out;
        char buf[256];
        for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        ::close(fds[0]);
        int status = 0;
        if (rc == 0) ::waitpid(pid, &status, 0);
        double total = 0, h = 0, i = 0, l = 0;
        std::istringstream in(out);
        if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !(in >> total >> h >> i >> l)) {
            state.SkipWithError("reuse_baseline.py failed (python3-dirhash installed? the image built?)");
            break;
        }
        hash_s += h;
        inspect_s += i;
        lock_s += l;
        state.SetIterationTime(total);
    }
    if (state.iterations() > 0) {
        state.counters["hash_ms"] = 1e3 * hash_s / static_cast<double>(state.iterations());
        state.counters["inspect_ms"] = 1e3 * inspect_s / static_cast<double>(state.iterations());
        state.counters["lock_ms"] = 1e3 * lock_s / static_cast<double>(state.iterations());
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* trees = std::getenv("RTB_BENCH_TREES");
    if (!trees || !*trees) {
        std::fprintf(stderr, "set RTB_BENCH_TREES=name=dir[,name=dir] and the rest (benchmarks/run-build-bench does)\n");
        return 2;
    }
    for (const auto& item : split(trees, ',')) {
        const auto eq = item.find('=');
        if (eq == std::string::npos) continue;
        const std::string name = item.substr(0, eq);
        const fs::path dir = fs::absolute(item.substr(eq + 1));
        const int python_iterations = name == "large" ? 3 : 10;
        benchmark::RegisterBenchmark(("reuse_decision/" + name).c_str(), reuse_decision, dir)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("reuse_decision_new_builder/" + name).c_str(), reuse_decision_new_builder, dir)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("tags_warm/" + name).c_str(), tags_warm, dir)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("lock_hash/" + name).c_str(), lock_hash, dir)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("source_hash_warm/" + name).c_str(), source_hash_warm, dir)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("image_exists/" + name).c_str(), image_exists, dir)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("python_decision/" + name).c_str(), python_decision, dir)
            ->UseManualTime()->Iterations(python_iterations)->Unit(benchmark::kMillisecond);
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
