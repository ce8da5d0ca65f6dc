// Build context hot paths on a generated tree, each beside its baseline in
// the same run:
//  - packing the context as tar.gz (level 6, every core; each gzip codec) vs
//    GNU tar piped into gzip -6 (`tar --sort=name --mtime=@0 --owner=0
//    --group=0 -c | gzip`) and into pigz -6 (every core);
//  - the tar alone vs GNU tar alone (its output piped through cat, so that
//    tar really reads the files: it skips them when writing to /dev/null);
//  - rtb's gzip on one thread (how much the second core brings);
//  - `rtb context ls` with 20 patterns vs benchmarks/context_ls_baseline.py,
//    the same matching in Python: whole processes, and the work alone (the
//    library call; Python timed from inside, interpreter start excluded).
//
// Trees come from RTB_BENCH_TREES="name=dir,..."; the rtb program from RTB
// (benchmarks/run-context-bench sets both).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtb/context/directory_context.hpp"
#include "rtb/context/gzip_stream.hpp"
#include "rtb/context/tar_stream.hpp"

extern char** environ;

namespace {
namespace fs = std::filesystem;
using namespace rtb;

/// The 20 patterns of the ls benchmark: what a runtime's .dockerignore holds
/// (caches, VCS, build output, logs), a few exceptions and wildcards of every kind.
const std::vector<std::string> patterns = {
    "**/__pycache__", "*.pyc",        "**/*.pyc",          ".git",            ".venv",
    "node_modules",   "**/*.log",     "build/",            "dist/",           "*.egg-info",
    "**/.pytest_cache", "docs/**/*.md", "**/*.tmp",         "core*/impl*/**",  "**/m1??.json",
    "!core1/impl*/m2*.py", "utils?/**", "agent*/events*",  "**/plugins1*/*.txt", "!agent2/events3/m*.md",
};

/// A sink that only counts.
std::uint64_t drain(auto& source) {
    static std::vector<std::byte> buf(1 << 20);
    std::uint64_t total = 0;
    while (const auto n = source.read(buf)) total += n;
    return total;
}

/// Runs argv with stdout to `out` (a path) and returns its captured stdout
/// when capture is set; exits the benchmark with an error on failure.
bool spawn(benchmark::State& state, std::vector<std::string> args, std::string* capture = nullptr) {
    int pipe_fds[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture) {
        if (::pipe(pipe_fds) != 0) return false;
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (capture) {
        ::close(pipe_fds[1]);
        capture->clear();
        char buf[4096];
        for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) capture->append(buf, static_cast<std::size_t>(n));
        ::close(pipe_fds[0]);
    }
    int status = 0;
    if (rc == 0) ::waitpid(pid, &status, 0);
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        state.SkipWithError(("failed: " + args[0] + " " + (args.size() > 1 ? args[1] : "")).c_str());
        return false;
    }
    return true;
}

void pack_gzip_rtb(benchmark::State& state, const fs::path& dir, unsigned jobs, gzip_codec codec) {
    std::uint64_t in = 0, out = 0;
    for (auto _ : state) {
        gzip_stream g(tar_stream(directory_context(dir), {}), {.level = 6, .jobs = jobs, .codec = codec});
        out = drain(g);
        in = g.bytes_in();
    }
    state.counters["tar_MB"] = static_cast<double>(in) / 1e6;
    state.counters["gz_MB"] = static_cast<double>(out) / 1e6;
}

void pack_gzip_gnu(benchmark::State& state, const fs::path& dir, const char* gzip) {
    const std::string cmd = "tar --sort=name --mtime=@0 --owner=0 --group=0 -C '" + dir.string() + "' -c . | " +
                            gzip + " -6 | wc -c";
    std::string out;
    for (auto _ : state)
        if (!spawn(state, {"/bin/sh", "-c", cmd}, &out)) break;
    state.counters["gz_MB"] = std::atof(out.c_str()) / 1e6;
}

void pack_tar_rtb(benchmark::State& state, const fs::path& dir) {
    std::uint64_t out = 0;
    for (auto _ : state) {
        tar_stream t(directory_context(dir), {});
        out = drain(t);
    }
    state.counters["tar_MB"] = static_cast<double>(out) / 1e6;
}

void pack_tar_gnu(benchmark::State& state, const fs::path& dir) {
    const std::string cmd =
        "tar --sort=name --mtime=@0 --owner=0 --group=0 -C '" + dir.string() + "' -c . | cat > /dev/null";
    for (auto _ : state)
        if (!spawn(state, {"/bin/sh", "-c", cmd})) break;
}

std::vector<std::string> ls_args(const char* rtb, const fs::path& dir) {
    std::vector<std::string> a{rtb, "context", "ls"};
    for (const auto& p : patterns) {
        a.push_back("--ignore");
        a.push_back(p);
    }
    a.push_back(dir.string());
    return a;
}

std::vector<std::string> python_args(const fs::path& dir, bool timed) {
    std::vector<std::string> a{"/usr/bin/python3", RTB_BENCH_DIR "/context_ls_baseline.py"};
    if (timed) a.push_back("--time");
    a.push_back(dir.string());
    for (const auto& p : patterns) a.push_back(p);
    return a;
}

void ls_rtb_process(benchmark::State& state, const char* rtb, const fs::path& dir) {
    for (auto _ : state)
        if (!spawn(state, ls_args(rtb, dir))) break;
}

void ls_python_process(benchmark::State& state, const fs::path& dir) {
    for (auto _ : state)
        if (!spawn(state, python_args(dir, false))) break;
}

void ls_rtb_library(benchmark::State& state, const fs::path& dir) {
    directory_context_options o;
    o.ignore.extra_patterns = patterns;
    std::size_t n = 0;
    for (auto _ : state) n = context_files(directory_context(dir, o)).size();
    state.counters["files"] = static_cast<double>(n);
}

void ls_python_work(benchmark::State& state, const fs::path& dir) {
    std::string out;
    for (auto _ : state) {
        if (!spawn(state, python_args(dir, true), &out)) break;
        state.SetIterationTime(std::atof(out.c_str()));
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* spec = std::getenv("RTB_BENCH_TREES");
    const char* rtb = std::getenv("RTB");
    if (!spec || !*spec || !rtb || !*rtb) {
        fmt::print(stderr, "set RTB_BENCH_TREES=name=dir[,...] and RTB=path/to/rtb (benchmarks/run-context-bench does)\n");
        return 2;
    }
    const std::string s = spec;
    for (std::size_t start = 0; start < s.size();) {
        auto end = s.find(',', start);
        if (end == std::string::npos) end = s.size();
        const auto item = s.substr(start, end - start);
        start = end + 1;
        const auto eq = item.find('=');
        if (eq == std::string::npos) continue;
        const std::string name = item.substr(0, eq);
        const fs::path dir = item.substr(eq + 1);
        {   // warm the page cache for both sides
            tar_stream t(directory_context(dir), {});
            drain(t);
        }
        auto reg = [&](const std::string& what, auto fn, auto... args) {
            return benchmark::RegisterBenchmark((what + "/" + name).c_str(), fn, args...)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        };
        reg("pack_gzip_rtb", pack_gzip_rtb, dir, 0u, gzip_codec::automatic);
        reg("pack_gzip_gnu", pack_gzip_gnu, dir, "gzip");
        reg("pack_gzip_rtb_libdeflate", pack_gzip_rtb, dir, 0u, gzip_codec::libdeflate);
        reg("pack_gzip_pigz", pack_gzip_gnu, dir, "pigz");
        reg("pack_gzip_rtb_zlib", pack_gzip_rtb, dir, 0u, gzip_codec::zlib);
        if (name != "large") continue;  // other trees: the gzip codecs only
        reg("pack_gzip_rtb_1thread", pack_gzip_rtb, dir, 1u, gzip_codec::automatic);
        reg("pack_tar_rtb", pack_tar_rtb, dir);
        reg("pack_tar_gnu", pack_tar_gnu, dir);
        reg("ls_rtb_process", ls_rtb_process, rtb, dir);
        reg("ls_python_process", ls_python_process, dir);
        reg("ls_rtb_library", ls_rtb_library, dir);
        benchmark::RegisterBenchmark(("ls_python_work/" + name).c_str(), ls_python_work, dir)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
