// What parsing the build log costs a docker_cli build: paired runs of one
// chatty build (thousands of output lines, --no-cache so every run does the
// same work) through the same client and the same argument vector,
//   A  the client's stdout and stderr sent to /dev/null (nothing reads them),
//   B  docker_cli::build: output read from the pipe, parsed into events by
//      the BuildKit plain parser, the log tail kept, events to a logger,
// in alternating order (A first in even pairs, B first in odd pairs). Prints
// each pair and the median and mean of B/A.
//
//   bench_cli_parse PROGRAM [PAIRS] [LINES]     (engines from scripts/engines)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/transport/docker_cli.hpp"

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;

/// Counts what it receives, as a cheap Logger (the parse is what is measured).
struct counting_logger {
    std::size_t events = 0, lines = 0;
    void log(rtb::log_level, std::string_view) {}
    void on_event(const rtb::build_event& e) {
        ++events;
        lines += std::holds_alternative<rtb::events::log_line>(e);
    }
};

/// CPU seconds (user + system) this process has used: what rtb itself
/// spends during a build (streaming the tar, reading the pipe, parsing),
/// robust against other work on a noisy machine, unlike wall time.
double self_cpu() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// A: the same argv and environment, the context tar written to the
/// client's stdin, its output to /dev/null.
double run_to_dev_null(const rtb::cli_invocation& inv, const rtb::build_request& req) {
    auto snapshot = rtb::directory_context(req.context_dir).snapshot();
    rtb::tar_stream tar(std::move(snapshot), rtb::tar_options{});
    const auto env_strings = rtb::detail::subprocess::child_environment(inv.environment);
    std::vector<char*> envp, args;
    for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (const auto& a : inv.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, null, 1);
    posix_spawn_file_actions_adddup2(&fa, null, 2);
    const auto started = clock_type::now();
    pid_t pid = -1;
    if (::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data()) != 0) throw std::runtime_error("spawn");
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(null);
    rtb::copy_to_fd(tar, in[1], "the client's stdin");
    ::close(in[1]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double s = std::chrono::duration<double>(clock_type::now() - started).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("the /dev/null build failed");
    return s;
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_cli_parse PROGRAM [PAIRS] [LINES]\n");
        return 2;
    }
    const std::string program = argv[1];
    const int pairs = argc > 2 ? std::stoi(argv[2]) : 10;
    const int lines = argc > 3 ? std::stoi(argv[3]) : 10000;
    const char* base = std::getenv("RTB_TEST_BASE_IMAGE");

    char dir_template[] = "/tmp/rtb-bench-cli-XXXXXX";
    if (!::mkdtemp(dir_template)) throw std::runtime_error("mkdtemp");
    const std::filesystem::path dir = dir_template;
    {
        std::FILE* f = std::fopen((dir / "Dockerfile").c_str(), "w");
        // busybox sh: LINES short lines (BuildKit clips a step's log beyond
        // 100 KiB/s by default; short lines keep most of them)
        std::fprintf(f, "FROM %s\nRUN i=0; while [ $i -lt %d ]; do echo \"line $i\"; i=$((i+1)); done\n",
                     base ? base : "local/busybox:1", lines);
        std::fclose(f);
    }
    rtb::docker_cli::options o;
    o.program = program;
    rtb::docker_cli cli(o);
    const auto caps = cli.capabilities();
    rtb::build_request req;
    req.context_dir = dir;
    req.tags = {"local/rtb-bench-cli:chatty"};
    req.no_cache = true;
    const std::string iid = (dir / "iid").native();
    auto inv = rtb::build_invocation(req, caps, {}, iid);

    fmt::print("client {} ({} path, {}), {} pairs, {} lines per build\n", program, rtb::to_string(caps.path),
               caps.reason, pairs, lines);
    // one warm-up of each, not counted
    run_to_dev_null(inv, req);
    counting_logger warm;
    cli.build(req, warm);

    std::vector<double> ratios, a_times, b_times, a_cpu, b_cpu;
    std::size_t events = 0, log_lines = 0;
    for (int i = 0; i < pairs; ++i) {
        double a = 0, b = 0;
        counting_logger logger;
        double ca = 0, cb = 0;
        const auto run_a = [&] {
            const double c0 = self_cpu();
            a = run_to_dev_null(inv, req);
            ca = self_cpu() - c0;
        };
        const auto run_b = [&] {
            const double c0 = self_cpu();
            const auto t0 = clock_type::now();
            cli.build(req, logger);
            b = std::chrono::duration<double>(clock_type::now() - t0).count();
            cb = self_cpu() - c0;
        };
        if (i % 2 == 0) {
            run_a();
            run_b();
        } else {
            run_b();
            run_a();
        }
        a_cpu.push_back(ca);
        b_cpu.push_back(cb);
        events = logger.events;
        log_lines = logger.lines;
        a_times.push_back(a);
        b_times.push_back(b);
        ratios.push_back(b / a);
        fmt::print("pair {:2}: dev/null {:.3f} s, parsed {:.3f} s, ratio {:.4f}; rtb cpu {:.1f} / {:.1f} ms ({} events, {} log lines)\n",
                   i + 1, a, b, b / a, ca * 1e3, cb * 1e3, logger.events, logger.lines);
        std::fflush(stdout);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        const auto n = v.size();
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    };
    const double mean_ratio = std::accumulate(ratios.begin(), ratios.end(), 0.0) / static_cast<double>(ratios.size());
    fmt::print("median dev/null {:.3f} s, median parsed {:.3f} s\n", median(a_times), median(b_times));
    fmt::print("ratio parsed/dev-null: median {:.4f}, mean {:.4f}, min {:.4f}, max {:.4f} ({} events, {} log lines per build)\n",
               median(ratios), mean_ratio, *std::min_element(ratios.begin(), ratios.end()),
               *std::max_element(ratios.begin(), ratios.end()), events, log_lines);
    const double extra_cpu = median(b_cpu) - median(a_cpu);
    fmt::print("rtb's own cpu per build: median {:.1f} ms with /dev/null (the tar), {:.1f} ms parsed; the parsing "
               "and piping add {:.1f} ms = {:.3f}% of the median build wall time\n",
               median(a_cpu) * 1e3, median(b_cpu) * 1e3, extra_cpu * 1e3, 100.0 * extra_cpu / median(a_times));
    cli.remove(rtb::image_ref::parse("local/rtb-bench-cli:chatty"), true);
    std::filesystem::remove_all(dir);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cli_parse: %s\n", e.what());
    return 1;
}
