// Hashing hot paths on generated trees, each beside its baselines in the same
// run: the fast tree digest (cold and with a warm stat cache), the Dirhash
// (md5, OpenHands' ignores), a single-threaded read-and-hash loop over the
// same files (the I/O floor), and dirhash-python doing the same job.
//
// Trees come from RTB_BENCH_TREES="name=dir,name=dir" (benchmarks/run-hash-bench
// generates them with gen_tree.py).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/tree_digest.hpp"

extern char** environ;

namespace {
namespace fs = std::filesystem;
using namespace rtb;

fs::path cache_file(const std::string& name, std::string_view kind) {
    return fs::temp_directory_path() / fmt::format("rtb-bench-{}-{}.statcache", name, kind);
}

void fast_digest_cold(benchmark::State& state, const fs::path& dir) {
    for (auto _ : state) benchmark::DoNotOptimize(tree_digest(dir));
}

void fast_digest_warm(benchmark::State& state, const std::string& name, const fs::path& dir) {
    const auto file = cache_file(name, "tree");
    const auto scope = tree_digest_scope(dir, hash_algorithm::xxh3_128);
    fs::remove(file);
    {   // populate, as a previous run would have; the files are older than the racy window
        stat_cache c(file, scope);
        tree_digest_options o;
        o.cache = &c;
        tree_digest(dir, o);
        c.save();
    }
    for (auto _ : state) {
        stat_cache c(file, scope);  // a whole run: load, walk + stat, digest, save if changed
        tree_digest_options o;
        o.cache = &c;
        benchmark::DoNotOptimize(tree_digest(dir, o));
        c.save();
        if (c.misses() != 0) state.SkipWithError("the warm stat cache missed");
    }
}

void read_floor(benchmark::State& state, const fs::path& dir) {
    // The same regular files the digest reads, listed beforehand (not timed).
    std::vector<std::string> files;
    for (const auto& e : walk_tree(dir, include_everything{}))
        if (e.kind == entry_kind::file) files.push_back((dir / e.path).string());
    std::vector<std::byte> buffer(1 << 20);
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        xxh3_128_hasher h;
        for (const auto& f : files) {
            const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
            ssize_t n;
            while ((n = ::read(fd, buffer.data(), buffer.size())) > 0) {
                h.update(std::span(buffer.data(), static_cast<std::size_t>(n)));
                bytes += static_cast<std::uint64_t>(n);
            }
            ::close(fd);
        }
        benchmark::DoNotOptimize(h.finish());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void dirhash_md5(benchmark::State& state, const fs::path& dir) {
    for (auto _ : state) benchmark::DoNotOptimize(dirhash(dir, dirhash_options::openhands()));
}

void dirhash_md5_warm(benchmark::State& state, const std::string& name, const fs::path& dir) {
    const auto file = cache_file(name, "dirhash");
    const auto scope = dirhash_scope(dir, hash_algorithm::md5);
    fs::remove(file);
    {
        stat_cache c(file, scope);
        auto o = dirhash_options::openhands();
        o.cache = &c;
        dirhash(dir, o);
        c.save();
    }
    for (auto _ : state) {
        stat_cache c(file, scope);
        auto o = dirhash_options::openhands();
        o.cache = &c;
        benchmark::DoNotOptimize(dirhash(dir, o));
        c.save();
    }
}

/// dirhash-python, timed inside Python (no interpreter start-up counted).
void python_dirhash(benchmark::State& state, const fs::path& dir) {
    const std::string script =
        "import sys, time, dirhash\n"
        "t = time.perf_counter()\n"
        "dirhash.dirhash(sys.argv[1], 'md5', ignore=['.*/', '__pycache__/', '*.pyc'])\n"
        "print(time.perf_counter() - t)\n";
    for (auto _ : state) {
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0) state.SkipWithError("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
        const std::string dir_s = dir.string();
        char* argv[] = {const_cast<char*>("/usr/bin/python3"), const_cast<char*>("-c"),
                        const_cast<char*>(script.c_str()), const_cast<char*>(dir_s.c_str()), nullptr};
        pid_t pid;
        const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(pipe_fds[1]);
        std::string out;
        char buf[256];
        for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        ::close(pipe_fds[0]);
        int status = 0;
        if (rc == 0) ::waitpid(pid, &status, 0);
        if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty()) {
            state.SkipWithError("python3 dirhash failed (is python3-dirhash installed?)");
            break;
        }
        state.SetIterationTime(std::stod(out));
    }
}
}  // namespace

int main(int argc, char** argv) {
    const char* spec = std::getenv("RTB_BENCH_TREES");
    if (!spec || !*spec) {
        fmt::print(stderr, "set RTB_BENCH_TREES=name=dir[,name=dir] (benchmarks/run-hash-bench does)\n");
        return 2;
    }
    std::string s = spec;
    for (std::size_t start = 0; start < s.size();) {
        auto end = s.find(',', start);
        if (end == std::string::npos) end = s.size();
        const auto item = s.substr(start, end - start);
        start = end + 1;
        const auto eq = item.find('=');
        if (eq == std::string::npos) continue;
        const std::string name = item.substr(0, eq);
        const fs::path dir = item.substr(eq + 1);
        tree_digest(dir);  // warm the page cache: "cold" means no stat cache, not a cold disk
        benchmark::RegisterBenchmark(("fast_digest_cold/" + name).c_str(), fast_digest_cold, dir)->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("fast_digest_warm/" + name).c_str(), fast_digest_warm, name, dir)->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("read_floor_1thread/" + name).c_str(), read_floor, dir)->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("dirhash_md5/" + name).c_str(), dirhash_md5, dir)->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("dirhash_md5_warm/" + name).c_str(), dirhash_md5_warm, name, dir)->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("python_dirhash_md5/" + name).c_str(), python_dirhash, dir)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
